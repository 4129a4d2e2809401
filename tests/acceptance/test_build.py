"""Acceptance: build the bundled example's eight images with a real engine and run them."""

from __future__ import annotations

import json
import re

import pytest

from builder.project import config
from tests.acceptance.example_cases import FUNCTIONS, THIRD_PARTY, check_result, sample_event
from tests.helpers import TEST_TAG, run_cli, run_python

pytestmark = pytest.mark.docker

# Runs a handler the way the runtime client does: import the module, call the function.
RUN_HANDLER = (
    "import importlib, json, sys\n"
    "module, name = sys.argv[1].rsplit('.', 1)\n"
    "handler = getattr(importlib.import_module(module.replace('/', '.')), name)\n"
    "print(json.dumps(handler(json.loads(sys.argv[2]), None)))\n"
)
# Lists the distributions installed in the image's dependency folders.
LIST_DISTS = (
    "import glob, json, re, importlib.metadata as md\n"
    "names = {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() for d in md.distributions(path=glob.glob('/opt/deps/*'))}\n"
    "print(json.dumps(sorted(names)))\n"
)


def test_build_all_prints_a_table_of_the_eight_images(built_example):
    root, result = built_example
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["function", "image", "above", "base", "build", "time"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == set(FUNCTIONS)
    for name, row in rows.items():
        assert row[1] == f"example-{name}:{TEST_TAG}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_image_runs_its_handler_on_its_sample_event(built_example, docker_engine, function):
    """Read-only root filesystem, /tmp writable, non-root, no network: as on Lambda."""
    root, _ = built_example
    cfg = config.load(root)
    image = cfg.image(function, TEST_TAG)
    result = run_python(docker_engine, image, RUN_HANDLER, cfg.function(function).handler, json.dumps(sample_event(function)))
    check_result(function, result)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_image_holds_exactly_its_closure(built_example, docker_engine, function):
    """Minimal: no distribution outside the function's closure is installed."""
    root, _ = built_example
    image = config.load(root).image(function, TEST_TAG)
    assert set(run_python(docker_engine, image, LIST_DISTS)) == THIRD_PARTY[function]


def test_image_metadata_runs_the_handler_through_the_lambda_entrypoint(built_example, docker_engine):
    root, _ = built_example
    cfg = config.load(root)
    info = docker_engine.image_info(cfg.image("health", TEST_TAG))
    assert info.labels["builder.function"] == "health"
    attrs = docker_engine.client().images.get(cfg.image("health", TEST_TAG)).attrs["Config"]
    assert attrs["Entrypoint"] == ["/lambda-entrypoint.sh"]
    assert attrs["Cmd"] == ["functions/health/ping.handler"]
    assert attrs["WorkingDir"] == "/var/task"


def test_building_one_target_after_another_does_not_send_the_wheels_again(built_example, tmp_path):
    """BuildKit keeps one copy of the build context and sends only what a target reads; every
    target reads the wheelhouse, so switching targets sends no wheels (30 MB for analytics-report)."""
    root, _ = built_example
    sent = {}
    for function in ("analytics-report", "health", "analytics-report"):
        result = run_cli("-v", "--project", str(root), "build", "--function", function, "--tag", TEST_TAG)
        assert result.returncode == 0, result.stdout + result.stderr
        transfers = re.findall(r"transferring context: ([\d.]+)(B|kB|MB|GB)", result.stderr)
        size, unit = transfers[-1]  # the last one is the context (the first is .dockerignore)
        sent[function] = float(size) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
    assert sent["analytics-report"] < 100_000, f"analytics-report after health sent {sent['analytics-report']:.0f} bytes"


STALE_TEMPLATE = """\
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.lambda_handler
      Runtime: python3.11
"""


def test_a_base_another_builder_made_is_named_with_the_command_that_makes_it_again(tmp_path, base_image, docker_engine):
    # Its entrypoint and Lambda emulator are that builder's: local runs would not be this one's.
    from tests.unit.sam_projects import HANDLER, project

    (tmp_path / "ctx").mkdir()
    docker_engine.build(tmp_path / "ctx", f"FROM {base_image}\nLABEL builder.base=0123456789abcdef\n", target=None,
                        tag="stale-base:test")  # fmt: skip
    root = project(tmp_path / "stale", STALE_TEMPLATE, {"src/app.py": HANDLER})
    (root / "builder.toml").write_text('base-image = "stale-base:test"\n')
    try:
        built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
        assert built.returncode == 0, built.stderr
        assert "note: the base image stale-base:test was made by another version of builder" in built.stderr
        assert "Make it again with `python -m builder base --bootstrap`" in built.stderr
        (root / "builder.toml").unlink()  # the base this builder made: nothing to say
        again = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
        assert again.returncode == 0 and "another version of builder" not in again.stderr, again.stderr
    finally:
        for image in (f"stale-hello:{TEST_TAG}", "stale-base:test"):
            docker_engine.remove_image(image)
