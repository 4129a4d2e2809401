"""python3.14 SAM functions (Lambda's newest runtime) as serverless-patterns writes them, built as on a
machine with no Python 3.14 (none on PATH, an empty pyenv, a fresh cache): the base made by `base --bootstrap` from forky, Debian's testing
release; a function without requirements (boto3 from the runtime) needs nothing locked; one with
requirements is locked by pip-compile in that base (as `sam build --use-container` builds), then
built and invoked as Lambda's user, whose name getpass.getuser() reads (Python 3.13 and later raise
OSError without one)."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import TEST_TAG, free_port, run_cli
from tests.unit.sam_projects import project

pytestmark = pytest.mark.docker

BASE = "builder-lambda-python:3.14"
TEMPLATE = """\
Resources:
  WhoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/who/
      Handler: app.lambda_handler
      Runtime: python3.14
"""
APP = """\
import getpass
import os
import sys

import boto3


def lambda_handler(event, context):
    return {"python": "%d.%d" % sys.version_info[:2], "user": getpass.getuser(), "uid": os.getuid(),
            "boto3": boto3.__version__ != ""}
"""


@pytest.fixture(scope="module")
def base314(docker_engine, base_image):
    made = run_cli("base", "--bootstrap", "--python-version", "3.14")
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.startswith(f"{BASE}  ") and "builder-debian:forky" in made.stdout, made.stdout
    return BASE


def _without_python314(tmp_path) -> dict[str, str]:
    """The environment of a machine with no Python 3.14 for builder to lock with."""
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not os.path.exists(os.path.join(d, "python3.14"))]
    return {"PATH": os.pathsep.join(path), "PYENV_ROOT": str(tmp_path / "no-pyenv"), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _invoke(root, tmp_path) -> dict:
    event = tmp_path / "event.json"
    event.write_text("{}")
    answer = run_cli("--project", str(root), "invoke", "--function", "who", "--tag", TEST_TAG,
                     "--port", str(free_port()), "--event", str(event))  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def test_a_python314_function_builds_on_a_forky_base_and_runs_as_lambdas_named_user(base314, docker_engine, tmp_path):
    root = project(tmp_path / "app", TEMPLATE, {"src/who/app.py": APP})
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG, env=_without_python314(tmp_path))
    assert built.returncode == 0, built.stderr
    assert _invoke(root, tmp_path) == {"python": "3.14", "user": "sbx_user1051", "uid": 993, "boto3": True}
    docker_engine.remove_image(f"app-who:{TEST_TAG}")


def test_requirements_of_a_python314_function_are_locked_in_its_base_and_ship(base314, docker_engine, tmp_path):
    # One marker true only on 3.14 and one false there: resolved for the base's python3, not this machine's.
    requirements = 'six==1.17.0\ntomli; python_version < "3.11"\nidna; python_version >= "3.14"\n'
    app = APP.replace("import boto3\n", "import boto3\nimport idna\nimport six\n").replace(
        '"boto3": boto3.__version__ != ""', '"boto3": boto3.__version__ != "", "six": six.__version__, "idna": bool(idna)')
    root = project(tmp_path / "app", TEMPLATE, {"src/who/app.py": app, "src/who/requirements.txt": requirements})
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG, env=_without_python314(tmp_path))
    assert built.returncode == 0, built.stderr
    lock = (root / "builder-locks/shared.txt").read_text()
    assert "for CPython 3.14 on" in lock and "six==1.17.0" in lock and "idna==" in lock and "tomli" not in lock, lock
    assert _invoke(root, tmp_path) == {"python": "3.14", "user": "sbx_user1051", "uid": 993, "boto3": True,
                                       "six": "1.17.0", "idna": True}  # fmt: skip
    docker_engine.remove_image(f"app-who:{TEST_TAG}")
