"""A python3.14 SAM function (Lambda's newest runtime) as serverless-patterns writes them: no
requirements (boto3 from the runtime), so no Python 3.14 is needed on the machine to lock it; its
base made by `base --bootstrap` from forky, Debian's testing release; built, then invoked as
Lambda's user, whose name getpass.getuser() reads (Python 3.13 and later raise OSError without one)."""

from __future__ import annotations

import json

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


def test_a_python314_function_builds_on_a_forky_base_and_runs_as_lambdas_named_user(docker_engine, base_image, tmp_path):
    made = run_cli("base", "--bootstrap", "--python-version", "3.14")
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.startswith(f"{BASE}  ") and "builder-debian:forky" in made.stdout, made.stdout
    root = project(tmp_path / "app", TEMPLATE, {"src/who/app.py": APP})
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    assert built.returncode == 0, built.stderr
    event = tmp_path / "event.json"
    event.write_text("{}")
    answer = run_cli("--project", str(root), "invoke", "--function", "who", "--tag", TEST_TAG,
                     "--port", str(free_port()), "--event", str(event))  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"python": "3.14", "user": "sbx_user1051", "uid": 993, "boto3": True}
    docker_engine.remove_image(f"app-who:{TEST_TAG}")
