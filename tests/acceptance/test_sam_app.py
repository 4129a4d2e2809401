"""Acceptance: examples/sam-app, a SAM project laid out as `sam init` lays it out, with no builder.toml.

Every Python function is built and invoked with zero configuration, on a real engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import SAM_APP_FUNCTIONS as FUNCTIONS
from tests.helpers import TEST_TAG, copy_sam_app, run_cli, run_python

pytestmark = pytest.mark.docker

PLACEHOLDER = "OrdersTable"  # a resource's name: its logical ID stands in, as in `sam local invoke`


def body(answer: dict) -> dict:
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "application/json", answer
    return json.loads(answer["body"])


EXPECTED = {
    "hello-world": lambda a: body(a) == {"message": "Hello, world!", "stage": "dev", "service": "sam-app", "path": "/hello",
                                        "sdk": "boto3"},  # the runtime's boto3
    "get-order": lambda a: body(a) == {
        "order": {"id": "o-2", "customer": "Grace", "total": "99.00", "status": "shipped"}, "table": PLACEHOLDER},
    "search-orders": lambda a: body(a) == {"query": "orders[?status=='paid'].id", "found": ["o-1", "o-4"], "jmespath": "1.0.1"},
    "legacy-export": lambda a: a == {"rows": 2, "csv": "id,customer,total\no-1,Ada,12.50\no-4,Barbara,7.00", "jmespath": "0.10.0"},
    "format-date": lambda a: body(a) == {"input": "2024-02-29T13:45:00", "formatted": "Thursday 29 February 2024, 13:45"},
    "token-authorizer": lambda a: a["principalId"] == "ada" and a["policyDocument"]["Statement"][0]["Effect"] == "Allow",
    "parse-config": lambda a: body(a) == {"parsed": {"retries": 3, "regions": ["eu-west-1", "us-east-1"]}, "libyaml": True},
}  # fmt: skip


def invoke(root: Path, *args: str) -> tuple[dict, str]:
    result = run_cli("--project", str(root), "invoke", "--tag", TEST_TAG, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout), result.stderr


def test_build_all_needs_no_configuration_and_says_what_it_left_alone(sam_app):
    root, result = sam_app
    assert not (root / "builder.toml").exists()
    rows = [line.split()[0] for line in result.stdout.strip().splitlines()[2:]]
    assert rows == list(FUNCTIONS)
    assert result.stderr.count("left alone: NotifyNodeFunction (runtime nodejs24.x") == 1
    assert "base: builder-lambda-python:3.11" in result.stderr  # AWS's base is not here: the local stand-in
    assert "legacy-export: six" in result.stderr  # in its requirements, imported by nothing: said, not shipped


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_answers_its_sample_event(sam_app, function):
    root, _ = sam_app
    answer, stderr = invoke(root, "--function", function)
    assert EXPECTED[function](answer), answer
    assert f"{function}: TABLE_NAME has no local value" in stderr  # a resource's name: a visible placeholder


def test_invoke_takes_logical_ids_parameters_and_environment_as_sam_does(sam_app):
    root, _ = sam_app
    answer, stderr = invoke(root, "--function", "HelloWorldFunction", "--parameter-overrides", "GreetingName=SAM Stage=prod")
    assert (body(answer)["message"], body(answer)["stage"]) == ("Hello, SAM!", "prod")
    answer, stderr = invoke(root, "--function", "get-order", "--env", "TABLE_NAME=orders-table")
    assert body(answer)["table"] == "orders-table" and "no local value" not in stderr


def test_the_image_is_laid_out_as_lambda_lays_out_the_zip_and_its_layers(sam_app, docker_engine):
    code = (
        "import json, os, sys\n"
        "found = sorted(os.path.join(r, f) for top in ('/var/task', '/opt/python') for r, _, fs in os.walk(top) for f in fs)\n"
        "print(json.dumps({'files': [f for f in found if '__pycache__' not in f], 'cwd': os.getcwd(), 'path': sys.path}))\n"
    )
    out = run_python(docker_engine, f"sam-app-get-order:{TEST_TAG}", code)
    assert out["files"] == [
        "/opt/python/common/__init__.py", "/opt/python/common/responses.py",  # policy.py: not imported
        "/var/task/app.py", "/var/task/data/orders.json", "/var/task/event.json", "/var/task/orders.py",
    ]  # fmt: skip
    assert out["cwd"] == "/var/task" and out["path"][1:4] == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python"]
    attrs = docker_engine.client().images.get(f"sam-app-get-order:{TEST_TAG}").attrs["Config"]
    assert attrs["Cmd"] == ["app.lambda_handler"]  # the template's Handler, as it is


def test_files_behind_symbolic_links_are_followed_into_the_image(tmp_path, base_image, docker_engine):
    root = copy_sam_app(tmp_path / "linked-app")  # its own project name: its own images
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "greeting.txt").write_text("Linked hello, {name}!\n")
    greeting = root / "src/hello-world/greeting.txt"
    greeting.unlink()
    greeting.symlink_to(outside / "greeting.txt")  # outside the project: copied into the build context
    (root / "src/hello-world/words").mkdir()
    (root / "src/hello-world/app.py").rename(root / "src/hello-world/words/app.py")
    (root / "src/hello-world/app.py").symlink_to("words/app.py")  # inside: COPY reads the file it points to
    result = run_cli("--project", str(root), "build", "--function", "hello-world", "--tag", TEST_TAG)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        answer, _ = invoke(root, "--function", "hello-world")
        assert body(answer)["message"] == "Linked hello, world!"
    finally:
        docker_engine.remove_image(f"linked-app-hello-world:{TEST_TAG}")


def test_rebuilds_leave_no_untagged_images_of_the_project_behind(tmp_path, base_image, docker_engine):
    root = copy_sam_app(tmp_path / "rebuilt-app")
    handler = root / "src/hello-world/app.py"
    try:
        for n in range(3):
            handler.write_text(handler.read_text() + f"\n# edit {n}\n")
            result = run_cli("--project", str(root), "build", "--function", "hello-world", "--tag", TEST_TAG)
            assert result.returncode == 0, result.stderr
        assert "removed 1 untagged image(s) that earlier builds of rebuilt-app left" in result.stderr
        left = docker_engine.client().images.list(filters={"dangling": True, "label": "builder.project=rebuilt-app"})
        assert left == []
    finally:
        docker_engine.remove_image(f"rebuilt-app-hello-world:{TEST_TAG}")
