"""Locking a SAM project's requirements files with pip-tools (real pip-compile runs; PyPI, no Docker)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from builder.core.errors import LockError
from builder.deps import locking
from builder.deps.lock import parse_lock
from builder.project import config
from tests.helpers import run_cli

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
Resources:
"""


def make(root: Path, requirements: dict[str, str]) -> Path:
    """One function per entry: src/<name>/ with app.py and the given requirements.txt ("" for none)."""
    text = TEMPLATE
    for name, reqs in requirements.items():
        text += f"  {name.capitalize()}Function:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        text += f"      CodeUri: src/{name}/\n"
        (root / "src" / name).mkdir(parents=True, exist_ok=True)
        (root / "src" / name / "app.py").write_text("def lambda_handler(event, context):\n    return 1\n")
        if reqs:
            (root / "src" / name / "requirements.txt").write_text(textwrap.dedent(reqs))
    (root / "template.yaml").write_text(text)
    return root


def pins(root: Path, lock: str) -> dict[str, str]:
    return {name: pin.version for name, pin in parse_lock(root / lock).items()}


def test_conflicting_pins_give_the_odd_function_its_own_lock_and_edits_relock(tmp_path):
    root = make(tmp_path, {"alpha": "six==1.16.0\n", "beta": "six==1.17.0\n", "gamma": "six\n", "delta": ""})
    cfg = config.load(root)
    assert cfg.locked_by_builder and locking.staleness(cfg) == "no lock yet"
    result = locking.ensure(cfg)
    assert result.divergent == ("alpha",) and result.reason == "no lock yet"
    assert result.written == ("builder-locks/alpha.txt", "builder-locks/shared.txt")
    assert pins(root, "builder-locks/shared.txt") == {"six": "1.17.0"}  # the version most functions resolved to
    assert pins(root, "builder-locks/alpha.txt") == {"six": "1.16.0"}
    cfg = config.load(root)
    assert {f.name: f.lock_file for f in cfg.functions} == {
        "alpha": "builder-locks/alpha.txt", "beta": "builder-locks/shared.txt",
        "delta": "builder-locks/shared.txt", "gamma": "builder-locks/shared.txt",
    }  # fmt: skip
    header = (root / "builder-locks/shared.txt").read_text()
    assert "# functions: beta gamma" in header and "# input src/beta/requirements.txt sha256=" in header
    assert str(root) not in header  # no absolute paths: the same lock on every machine
    assert locking.staleness(cfg) == "" and locking.ensure(cfg).written == ()

    (root / "src/alpha/requirements.txt").write_text("six>=1.16\n")  # alpha no longer conflicts
    cfg = config.load(root)
    assert locking.staleness(cfg) == "src/alpha/requirements.txt changed"
    check = run_cli("--project", str(root), "lock", "--check")
    assert check.returncode == 5 and "src/alpha/requirements.txt changed" in check.stderr, check.stderr
    relock = run_cli("--project", str(root), "lock")
    assert relock.returncode == 0, relock.stderr
    assert not (root / "builder-locks/alpha.txt").exists()
    assert pins(root, "builder-locks/shared.txt") == {"six": "1.17.0"}
    assert "# functions: alpha beta gamma" in (root / "builder-locks/shared.txt").read_text()


def test_a_function_whose_own_requirements_conflict_is_told_to_fix_them(tmp_path):
    root = make(tmp_path, {"alpha": "six==1.16.0\nsix==1.17.0\n", "beta": "six\n"})
    with pytest.raises(LockError, match=r"The requirements of alpha \(src/alpha/requirements.txt\) conflict among themselves"):
        locking.ensure(config.load(root))
    assert not (root / "builder-locks").exists()  # nothing half-written


def test_a_requirement_that_does_not_exist_says_so(tmp_path):
    root = make(tmp_path, {"alpha": "no-such-distribution-builder-test==1.0\n"})
    with pytest.raises(LockError, match="src/alpha/requirements.txt cannot be locked for CPython 3.11: no distribution matches no-such"):
        locking.ensure(config.load(root))


def test_resolution_that_runs_too_long_is_cut_off_with_what_to_pin(tmp_path):
    root = make(tmp_path, {"alpha": "six\n"})
    with pytest.raises(LockError, match=r"took longer than 0 s.*Pin .* to one version"):
        locking.ensure(config.load(root), timeout=0.01)


def test_the_lock_is_for_the_functions_python_not_the_hosts(tmp_path):
    """pip-compile resolves for the interpreter it runs on; a python3.13 function is locked for 3.13."""
    for version, expected in (("3.13", {"six"}), ("3.11", {"six", "tomli"})):
        root = make(tmp_path / version, {"alpha": 'six\ntomli; python_version < "3.12"\n'})
        (root / "template.yaml").write_text((root / "template.yaml").read_text().replace("python3.11", f"python{version}"))
        cfg = config.load(root)
        assert cfg.python_version == version
        locking.ensure(cfg)
        assert set(pins(root, "builder-locks/shared.txt")) == expected, version
        assert f"for CPython {version} on manylinux2014_x86_64" in (root / "builder-locks/shared.txt").read_text()


def test_templates_deployed_alone_from_one_folder_keep_locks_of_their_own(tmp_path):
    root = make(tmp_path, {"alpha": "six==1.16.0\n", "beta": "six==1.17.0\n"})
    text = (root / "template.yaml").read_text()
    head, beta = text.split("  BetaFunction:")
    (root / "alpha.yaml").write_text(head)
    (root / "beta.yaml").write_text(head.split("  AlphaFunction:")[0] + "  BetaFunction:" + beta)
    (root / "template.yaml").unlink()
    for name in ("alpha", "beta", "alpha"):
        result = run_cli("--project", str(root), "--template", f"{name}.yaml", "lock")
        assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout  # alpha's lock survived beta's
    assert pins(root, "builder-locks/alpha/shared.txt") == {"six": "1.16.0"}
    assert pins(root, "builder-locks/beta/shared.txt") == {"six": "1.17.0"}


def test_a_python313_function_gets_the_manylinux_2_28_wheel_amazon_linux_2023_runs(tmp_path):
    # Pillow 12.3.0 has no manylinux2014 wheel for CPython 3.13, only manylinux_2_28 ones, which Lambda's
    # python3.13 (Amazon Linux 2023, glibc 2.34) runs: taken as a wheel, not as a source distribution to compile.
    root = make(tmp_path, {"alpha": "pillow==12.3.0\n"})
    (root / "template.yaml").write_text((root / "template.yaml").read_text().replace("python3.11", "python3.13"))
    (root / "src/alpha/app.py").write_text("import PIL.Image\n\ndef lambda_handler(event, context):\n    return 1\n")
    result = run_cli("--project", str(root), "closure", "--function", "alpha", "--json")
    assert result.returncode == 0, result.stderr
    assert [(d["name"], d["version"]) for d in json.loads(result.stdout)["distributions"]] == [("pillow", "12.3.0")]
    wheels = sorted(p.name for p in (root / ".builder/wheelhouse").glob("pillow-*"))
    assert len(wheels) == 1 and wheels[0].startswith("pillow-12.3.0-cp313-cp313-") and "manylinux_2_28_x86_64" in wheels[0], wheels
    assert "for CPython 3.13 on manylinux2014_x86_64 to manylinux_2_34_x86_64" in (root / "builder-locks/shared.txt").read_text()


UV_TEMPLATE = TEMPLATE + """\
  UvFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/uv/
    Metadata:
      BuildMethod: python-uv
"""
UV_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "six"
version = "{six}"
source = {{ registry = "https://pypi.org/simple" }}

[[package]]
name = "uv-function"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [{{ name = "six" }}]
"""


def test_a_uv_function_is_locked_from_its_pyproject_at_the_versions_of_its_uv_lock(tmp_path):
    # As SAM's python-uv build installs it (`uv export --no-dev`): [project] dependencies, uv.lock's versions.
    root = make(tmp_path, {})
    (root / "template.yaml").write_text(UV_TEMPLATE)
    (root / "src/uv").mkdir(parents=True)
    (root / "src/uv/app.py").write_text("import six\n\ndef lambda_handler(event, context):\n    return six.__version__\n")
    pyproject = '[project]\nname = "uv-function"\nversion = "0.1.0"\ndependencies = ["six"]\n\n' \
        '[dependency-groups]\ndev = ["pytest"]\n'
    (root / "src/uv/pyproject.toml").write_text(pyproject)
    (root / "src/uv/uv.lock").write_text(UV_LOCK.format(six="1.16.0"))  # not the newest six (1.17.0)
    assert locking.ensure(config.load(root)).written == ("builder-locks/shared.txt",)
    assert pins(root, "builder-locks/shared.txt") == {"six": "1.16.0"}  # not pytest: a dev group
    lock = (root / "builder-locks/shared.txt").read_text()
    assert "# input src/uv/pyproject.toml sha256=" in lock and "# input src/uv/uv.lock sha256=" in lock
    assert "#   -c src/uv/uv.lock\n    #   -r src/uv/pyproject.toml\n" in lock and str(tmp_path) not in lock, lock

    (root / "src/uv/uv.lock").write_text(UV_LOCK.format(six="1.17.0"))  # `uv lock --upgrade`
    cfg = config.load(root)
    assert locking.staleness(cfg) == "src/uv/uv.lock changed"
    locking.ensure(cfg)
    assert pins(root, "builder-locks/shared.txt") == {"six": "1.17.0"}

    (root / "src/uv/pyproject.toml").write_text(pyproject.replace('"six"', '"six<1.17"'))  # uv.lock now stale
    with pytest.raises(LockError, match=r"requirements of uv .*conflict among themselves.*run `uv lock` beside it"):
        locking.ensure(config.load(root))
    assert pins(root, "builder-locks/shared.txt") == {"six": "1.17.0"}  # the lock it had is kept
