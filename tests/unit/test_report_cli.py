"""`report` requests that fail before any image is read."""

from __future__ import annotations

from tests.helpers import copy_example, run_cli


def test_report_needs_functions_or_all(tmp_path):
    result = run_cli("--project", str(copy_example(tmp_path / "backend")), "report")
    assert result.returncode == 2 and "one of the arguments --function/-f --all is required" in result.stderr


def test_no_engine_is_an_engine_error(tmp_path):
    root = copy_example(tmp_path / "backend")
    result = run_cli("--project", str(root), "report", "--all", env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "error: No Docker engine answers" in result.stderr
