"""Distributions that publish no wheel for the target: built from their source distributions.

The wheelhouse download fetches such a distribution's sdist (``sdists/``) and the wheels its build
needs (``build-wheels/``: its ``[build-system] requires``, setuptools when it declares none). The
pipeline then builds each sdist into a wheel in a builder stage FROM the functions' base
(``resources/Dockerfile.sdist``: the compilers stay in that stage), keeps the wheel in
``.builder/built-wheels/`` under the sdist's sha256 and the target, so the next build (and the
next wheelhouse download) compiles nothing, and puts it in the wheelhouse: every later step sees
one more wheel.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tomllib
import zipfile
from pathlib import Path

from ..core.errors import LockError

SDISTS = "sdists"  # in the wheelhouse: the source archives
BUILD_WHEELS = "build-wheels"  # in the wheelhouse: what building them needs
BUILT = "built-wheels"  # in builder's work folder: wheels built from sdists, by sdist and target
LEGACY_REQUIRES = ["setuptools>=40.8.0"]  # what pip builds an sdist with when it declares nothing (PEP 517)
SUFFIXES = (".tar.gz", ".zip")


def is_sdist(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def _pyproject(archive: Path) -> bytes | None:
    """The top-level pyproject.toml of an sdist (``name-version/pyproject.toml``), if it has one."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/pyproject.toml")]
                return zf.read(names[0]) if names else None
        with tarfile.open(archive, "r:gz") as tf:
            member = next((m for m in tf.getmembers() if m.isfile() and m.name.count("/") == 1
                           and m.name.endswith("/pyproject.toml")), None)  # fmt: skip
            handle = tf.extractfile(member) if member else None
            return handle.read() if handle else None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise LockError(f"Cannot read the source distribution {archive.name}: {exc}. Delete it and run again.") from exc


def build_requires(archive: Path) -> list[str]:
    """What building ``archive`` needs: its ``[build-system] requires`` (PEP 518), else setuptools."""
    text = _pyproject(archive)
    if text is None:
        return list(LEGACY_REQUIRES)
    try:
        system = tomllib.load(io.BytesIO(text)).get("build-system") or {}
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{archive.name}: its pyproject.toml is not valid TOML ({exc}); it cannot be built.") from exc
    requires = system.get("requires", LEGACY_REQUIRES)
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise LockError(f"{archive.name}: [build-system] requires in its pyproject.toml is not a list of strings.")
    return requires


def key(archive: Path, python_version: str, platform: str) -> str:
    """The name of a built wheel's folder: the sdist's sha256 and the target it was built for."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:32]
    return f"{digest}-py{python_version}-{platform}"


def built_wheel(folder: Path) -> Path | None:
    """The one wheel a finished build left in ``folder``, or None."""
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    return wheels[0] if len(wheels) == 1 else None
