"""Acceptance: the migration guide's one-image shape, with plain `docker build` / `docker run` / curl.

ONE image holds every function; each function picks its handler with the image command, as
`ImageConfig.Command` does on Lambda.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from builder.local import sandbox as local
from builder.project import config
from builder.sam import template as sam
from tests.acceptance.example_cases import check_result, sample_event
from tests.helpers import TEST_TAG, copy_example, copy_sam_app, free_port, run_cli

pytestmark = pytest.mark.docker


def curl(port: int, event: dict) -> dict:
    """The guide's `curl -XPOST localhost:PORT/2015-03-31/functions/function/invocations -d '{...}'`."""
    url = f"http://127.0.0.1:{port}{local.INVOKE_PATH}"
    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def guide_image(docker_engine, base_image):
    """Build a backend's Dockerfile as the guide does (`docker build -t NAME .` in its root) and
    serve it as the guide does (`docker run -p PORT:8080 NAME HANDLER`); everything removed after."""
    made: list[str] = []

    def build(root, name: str, *build_args: str) -> str:
        assert run_cli("--project", str(root), "dockerfile").returncode == 0  # the Dockerfile and what it reads
        argv = [docker_engine.buildkit_client(), "build", "-q", "-t", name, *build_args, "."]
        result = subprocess.run(argv, cwd=root, env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
                                capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        made.append(name)
        return name

    def run(image: str, command: str, *env: str) -> int:
        port = free_port()
        flags = [arg for pair in env for arg in ("-e", pair)]
        container = subprocess.run(["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", *flags, image, command],
                                   capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        made.append(container)
        return port

    yield build, run
    for item in reversed(made):
        subprocess.run(["docker", "rm", "-f", item], capture_output=True)
        subprocess.run(["docker", "rmi", item], capture_output=True)


def test_the_guides_docker_build_and_run_answer_on_the_bundled_example(tmp_path, guide_image):
    build, run = guide_image
    root = copy_example(tmp_path / "backend")
    image = build(root, f"shop:{TEST_TAG}")
    for function in ("health", "orders-api", "analytics-report"):
        port = run(image, config.load(root).function(function).handler)  # functions/x.handler, as in the guide
        check_result(function, curl(port, sample_event(function)))


def test_one_image_of_sams_usual_layout_starts_each_function_from_its_own_folder(tmp_path, guide_image):
    build, run = guide_image
    root = copy_sam_app(tmp_path / "sam-app")
    image = build(root, f"sam-app-one:{TEST_TAG}", "--build-arg", "BASE_IMAGE=builder-lambda-python:3.11")
    cfg = config.load(root, images="one")
    found = {}
    for name in ("get-order", "legacy-export", "search-orders"):
        fn = cfg.function(name)
        event = json.loads((root / fn.event).read_text())
        found[name] = curl(run(image, cfg.command(name), "TABLE_NAME=orders"), event)  # Lambda sets the template's
    assert json.loads(found["get-order"]["body"]) == {  # data/orders.json, read from its own folder
        "order": {"id": "o-2", "customer": "Grace", "total": "99.00", "status": "shipped"}, "table": "orders"}
    assert found["legacy-export"]["jmespath"] == "0.10.0"  # its own lock's version...
    assert json.loads(found["search-orders"]["body"])["jmespath"] == "1.0.1"  # ...and the shared one, in one image


def test_images_one_builds_invokes_migrates_and_pushes_one_image_for_every_function(tmp_path, docker_engine, base_image):
    root = copy_sam_app(tmp_path / "one-app")
    (root / "builder.toml").write_text('images = "one"\n')
    try:
        built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
        assert built.returncode == 0, built.stderr
        assert f"one-app:{TEST_TAG}" in built.stdout and built.stdout.count("one-app") == 1
        answer = run_cli("--project", str(root), "invoke", "--function", "hello-world", "--tag", TEST_TAG)
        assert answer.returncode == 0, answer.stderr
        assert json.loads(json.loads(answer.stdout)["body"])["message"] == "Hello, world!"
        migrated = run_cli("--project", str(root), "migrate", "--all")
        assert migrated.returncode == 0, migrated.stderr
        template = sam.load_template(root / "template.yaml")
        cfg = config.load(root)
        for fn in cfg.functions:
            props = template.function(fn.logical_id).properties
            assert props["ImageUri"] == {"Fn::Sub": "${ImageRepository.RepositoryUri}:latest"}  # one image, shared
            assert props["ImageConfig"]["Command"] == [cfg.command(fn.name)]
            assert template.function(fn.logical_id).metadata["DockerBuildTarget"] == "builder-all"
        report = run_cli("--project", str(root), "report", "--all", "--tag", TEST_TAG, "--json")
        assert report.returncode == 0, report.stderr
        assert [i["ref"] for i in json.loads(report.stdout)["images"]] == [f"one-app:{TEST_TAG}"]
    finally:
        docker_engine.remove_image(f"one-app:{TEST_TAG}")
