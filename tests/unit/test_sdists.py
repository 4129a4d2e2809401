"""Unit: what building a source distribution needs, read from the sdist itself (PEP 517/518)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from builder.core.errors import LockError
from builder.deps import sdists


def tar_sdist(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_build_requires_come_from_the_top_pyproject_else_setuptools(tmp_path):
    hatch = tar_sdist(tmp_path / "a-1.0.tar.gz", {
        "a-1.0/pyproject.toml": '[build-system]\nrequires = ["hatchling>=1.18", "hatch-vcs"]\n',
        "a-1.0/tests/pyproject.toml": '[build-system]\nrequires = ["not-this"]\n'})  # fmt: skip
    assert sdists.build_requires(hatch) == ["hatchling>=1.18", "hatch-vcs"]
    legacy = tar_sdist(tmp_path / "b-1.0.tar.gz", {"b-1.0/setup.py": "from setuptools import setup\nsetup()\n"})
    assert sdists.build_requires(legacy) == ["setuptools>=40.8.0"]
    no_system = tar_sdist(tmp_path / "c-1.0.tar.gz", {"c-1.0/pyproject.toml": "[tool.black]\n"})
    assert sdists.build_requires(no_system) == ["setuptools>=40.8.0"]
    with zipfile.ZipFile(tmp_path / "d-1.0.zip", "w") as zf:
        zf.writestr("d-1.0/pyproject.toml", '[build-system]\nrequires = ["flit_core>=3.2"]\n')
    assert sdists.build_requires(tmp_path / "d-1.0.zip") == ["flit_core>=3.2"]


@pytest.mark.parametrize(("files", "message"), [
    ({"e-1.0/pyproject.toml": "[build-system\n"}, "not valid TOML"),
    ({"e-1.0/pyproject.toml": '[build-system]\nrequires = "setuptools"\n'}, "not a list of strings"),
])  # fmt: skip
def test_a_pyproject_that_cannot_say_is_a_lock_error(tmp_path, files, message):
    with pytest.raises(LockError, match=message):
        sdists.build_requires(tar_sdist(tmp_path / "e-1.0.tar.gz", files))
    (tmp_path / "f-1.0.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(LockError, match="Cannot read the source distribution f-1.0.tar.gz"):
        sdists.build_requires(tmp_path / "f-1.0.tar.gz")


def test_a_built_wheel_is_kept_by_sdist_contents_and_target(tmp_path):
    one = tar_sdist(tmp_path / "g-1.0.tar.gz", {"g-1.0/setup.py": "x"})
    key = sdists.key(one, "3.11", "manylinux2014_x86_64")
    assert key.endswith("-py3.11-manylinux2014_x86_64")
    assert sdists.key(one, "3.13", "manylinux2014_x86_64") != key
    tar_sdist(one, {"g-1.0/setup.py": "y"})
    assert sdists.key(one, "3.11", "manylinux2014_x86_64") != key  # other contents: built again
    assert sdists.built_wheel(tmp_path / "missing") is None


def test_an_sdist_the_locks_hashes_do_not_allow_is_refused(tmp_path, monkeypatch):
    from builder.core import proc
    from builder.deps import wheelhouse
    from builder.deps.lock import Pin

    def fake_pip(argv, check=True, **_):  # `pip download -d DIR spec`: one sdist appears in DIR
        folder = Path(argv[argv.index("-d") + 1])
        tar_sdist(folder / "puresrc-1.0.tar.gz", {"puresrc-1.0/setup.py": "x"})
        return proc.Result(tuple(argv), 0, "")

    monkeypatch.setattr(proc, "run", fake_pip)
    dest = tmp_path / "sdists" / "x86_64"
    good = Pin("puresrc", "1.0", 1)
    assert wheelhouse._download_sdist("puresrc==1.0", dest, [good]) is True  # no --hash: taken
    assert [a.name for a in dest.iterdir()] == ["puresrc-1.0.tar.gz"]
    (dest / "puresrc-1.0.tar.gz").unlink()
    pinned = Pin("puresrc", "1.0", 1, hashes=("sha256:" + "0" * 64,))
    with pytest.raises(LockError, match=r"puresrc-1.0.tar.gz .* is not one the lock's --hash values for puresrc==1.0"):
        wheelhouse._download_sdist("puresrc==1.0", dest, [pinned])
    assert list(dest.iterdir()) == []  # nothing kept of a refused download
    assert wheelhouse._pinned("Typing_Extensions==4.12.2") == "typing-extensions==4.12.2"
