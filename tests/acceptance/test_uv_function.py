"""Functions SAM builds with uv (``BuildMethod: python-uv``, a pyproject.toml, no requirements.txt), as
such projects are laid out: locked at the versions of their uv.lock (beside them, or the workspace's),
built and answering in their image, migrated to an image and rolled back byte for byte; a workspace
member's package the function depends on ships with what it requires."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.sam.template import parse_template
from tests.acceptance.test_locking import UV_LOCK
from tests.helpers import TEST_TAG, free_port, run_cli, run_sam
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


def _event(tmp_path) -> Path:
    event = tmp_path / "event.json"
    event.write_text("{}")
    return event


def _invoke(root: Path, event: Path) -> dict:
    """The uv function's answer to ``event``, as `builder invoke` prints it."""
    answer = run_cli("--project", str(root), "invoke", "--function", "uv", "--tag", TEST_TAG,
                     "--port", str(free_port()), "--event", str(event))  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def test_a_uv_function_builds_with_its_uv_lock_versions_and_migrates(tmp_path, base_image, docker_engine):
    root = project(tmp_path / "uvapp", TEMPLATE, FILES)
    before = (root / "template.yaml").read_bytes()
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    try:
        assert built.returncode == 0, built.stderr
        event = _event(tmp_path)
        assert _invoke(root, event) == {"six": "1.16.0"}  # uv.lock's version, not PyPI's newest

        migrated = run_cli("--project", str(root), "migrate", "--function", "UvFunction")
        assert migrated.returncode == 0, migrated.stderr
        meta = parse_template((root / "template.yaml").read_text()).data["Resources"]["UvFunction"]["Metadata"]
        assert "BuildMethod" not in meta and "python-uv" in str(meta["BuilderRollback"])  # kept for the rollback
        sam_built = run_sam(root, "build", "UvFunction")  # no beta prompt, no uv: an image function now
        assert sam_built.returncode == 0, sam_built.stdout[-2000:] + sam_built.stderr[-2000:]
        sam_answer = run_sam(root, "local", "invoke", "UvFunction", "-e", str(event), timeout=300)
        assert sam_answer.returncode == 0 and '{"six": "1.16.0"}' in sam_answer.stdout, sam_answer.stderr[-2000:]
        listed = run_cli("--project", str(root), "functions", "--json")  # still read from its pyproject.toml
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)["functions"]
        assert [r["requirements"] for r in rows] == [["src/uv/pyproject.toml", "src/uv/uv.lock"]], rows
        rolled = run_cli("--project", str(root), "migrate", "--rollback", "--function", "UvFunction")
        assert rolled.returncode == 0, rolled.stderr
        assert (root / "template.yaml").read_bytes() == before
    finally:
        for image in (f"uvapp-uv:{TEST_TAG}", "uvfunction:latest", "uvfunction:rapid-x86_64"):
            docker_engine.remove_image(image)


WORKSPACE = {
    "pyproject.toml": '[project]\nname = "all"\nversion = "1"\n\n[tool.uv.workspace]\nmembers = ["src/*", "libs/*"]\n',
    "uv.lock": UV_LOCK.format(six="1.16.0"),
    "src/uv/app.py": "import shared\n\n\ndef lambda_handler(event, context):\n    return shared.greeting()\n",
    "src/uv/pyproject.toml": '[project]\nname = "uv-function"\nversion = "0.1.0"\ndependencies = ["shared"]\n\n'
                             '[tool.uv.sources]\nshared = { workspace = true }\n',
    "libs/shared/pyproject.toml": '[project]\nname = "shared"\nversion = "1"\ndependencies = ["six"]\n',
    "libs/shared/src/shared/__init__.py": "import six\n\n\ndef greeting():\n    return {'shared': True, 'six': six.__version__}\n",
}  # fmt: skip


def test_a_uv_workspace_members_package_ships_with_what_it_requires(tmp_path, base_image, docker_engine):
    root = project(tmp_path / "uvws", TEMPLATE, WORKSPACE)
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    try:
        assert built.returncode == 0, built.stderr
        assert _invoke(root, _event(tmp_path)) == {"shared": True, "six": "1.16.0"}  # the workspace's uv.lock
        lock = (root / "builder-locks/shared.txt").read_text()
        assert "# input libs/shared/pyproject.toml sha256=" in lock and "# input uv.lock sha256=" in lock, lock
    finally:
        docker_engine.remove_image(f"uvws-uv:{TEST_TAG}")
