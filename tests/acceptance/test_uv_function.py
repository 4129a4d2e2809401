"""A function SAM builds with uv (``BuildMethod: python-uv``, a pyproject.toml and its uv.lock, no
requirements.txt), as such a project is laid out: locked at uv's versions, built, and answering in its
image; migrated to an image and rolled back byte for byte."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.test_locking import UV_LOCK
from tests.helpers import TEST_TAG, free_port, run_cli
from tests.unit.sam_projects import project

pytestmark = pytest.mark.docker

TEMPLATE = """\
Resources:
  UvFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/uv/
      Handler: app.lambda_handler
      Runtime: python3.11
    Metadata:
      BuildMethod: python-uv
"""
FILES = {
    "src/uv/app.py": "import six\n\n\ndef lambda_handler(event, context):\n    return {'six': six.__version__}\n",
    "src/uv/pyproject.toml": '[project]\nname = "uv-function"\nversion = "0.1.0"\ndependencies = ["six"]\n',
    "src/uv/uv.lock": UV_LOCK.format(six="1.16.0"),
}


def test_a_uv_function_builds_with_its_uv_lock_versions_and_migrates(tmp_path, base_image, docker_engine):
    root = project(tmp_path / "uvapp", TEMPLATE, FILES)
    before = (root / "template.yaml").read_bytes()
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    try:
        assert built.returncode == 0, built.stderr
        event = tmp_path / "event.json"
        event.write_text("{}")
        answer = run_cli("--project", str(root), "invoke", "--function", "uv", "--tag", TEST_TAG,
                         "--port", str(free_port()), "--event", str(event))  # fmt: skip
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout) == {"six": "1.16.0"}  # uv.lock's version, not PyPI's newest

        migrated = run_cli("--project", str(root), "migrate", "--function", "UvFunction")
        assert migrated.returncode == 0, migrated.stderr
        text = (root / "template.yaml").read_text()
        assert "PackageType: Image" in text and "BuildMethod: python-uv" in text  # kept for the rollback
        listed = run_cli("--project", str(root), "functions", "--json")  # still read from its pyproject.toml
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)["functions"]
        assert [r["requirements"] for r in rows] == [["src/uv/pyproject.toml", "src/uv/uv.lock"]], rows
        rolled = run_cli("--project", str(root), "migrate", "--rollback", "--function", "UvFunction")
        assert rolled.returncode == 0, rolled.stderr
        assert (root / "template.yaml").read_bytes() == before
    finally:
        docker_engine.remove_image(f"uvapp-uv:{TEST_TAG}")
