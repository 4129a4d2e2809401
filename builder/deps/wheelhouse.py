"""Resolve and download wheels on the host, so builds need no network inside containers.

The wheelhouse lives in the build context (``.builder/wheelhouse``) and is
reused while the lock file and the target are unchanged; pip's own download
cache makes a refresh cheap. A download goes to a temporary folder that is
renamed into place only when complete, so a failure never leaves half a
wheelhouse.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..core import proc
from ..core.errors import CommandFailed, LockError
from ..core.files import work_dir
from ..core.paths import WHEELHOUSE
from ..project.model import Config
from .lock import parse_lock

_STAMP = ".builder-key"


def target_args(python_version: str, platforms: Sequence[str]) -> list[str]:
    """pip flags that select wheels for the image's interpreter and platform, not the host's."""
    nodot = python_version.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    args += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def _key(locks: Sequence[Path], python_version: str, platforms: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for lock in locks:
        digest.update(lock.name.encode() + b"\0" + lock.read_bytes() + b"\0")
    digest.update(f"\0{python_version}\0{','.join(platforms)}".encode())
    return digest.hexdigest()


def _download_error(exc: CommandFailed, source: str, python_version: str, platforms: Sequence[str]) -> LockError:
    missing = re.findall(r"No matching distribution found for (\S+)", exc.output)
    target = f"CPython {python_version} on {', '.join(platforms)}"
    if missing:
        return LockError(
            f"{source} does not resolve to wheels for {target}: no wheel for {', '.join(missing)}. "
            "Pin a version that publishes such a wheel (for compiled packages check the manylinux "
            "tags on PyPI), or change `platforms` in builder.toml, then lock again."
        )
    tail = "\n".join(exc.output.splitlines()[-8:])
    return LockError(
        f"Downloading the wheels of {source} for {target} failed (pip exit code {exc.returncode}):\n{tail}\n"
        "Check the lock file and your network or index settings, then run the build again."
    )


def download(
    requirements: Sequence[str],
    dest: Path,
    *,
    python_version: str,
    platforms: Sequence[str],
    source: str,
) -> None:
    """``pip download`` exact requirements (or ``-r FILE``) as wheels for the target into ``dest``."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    argv += target_args(python_version, platforms) + ["-d", str(dest), *requirements]
    try:
        proc.run(argv)
    except CommandFailed as exc:
        raise _download_error(exc, source, python_version, platforms) from exc


def ensure(config: Config, *, refresh: bool = False) -> Path:
    """The backend's wheelhouse for its lock files, downloaded when missing or stale."""
    dest = config.root / WHEELHOUSE
    locks = [config.root / rel for rel in config.lock_files if (config.root / rel).is_file()]
    key = _key(locks, config.python_version, config.platforms)
    stamp = dest / _STAMP
    if not refresh and stamp.is_file() and stamp.read_text().strip() == key:
        return dest
    tmp = Path(tempfile.mkdtemp(prefix="wheelhouse.tmp-", dir=work_dir(config.root)))
    try:
        for lock in locks:
            if not parse_lock(lock):
                continue  # nothing pinned: pip download wants at least one requirement
            download(
                ["-r", str(lock)],
                tmp,
                python_version=config.python_version,
                platforms=config.platforms,
                source=lock.relative_to(config.root).as_posix(),
            )
        (tmp / _STAMP).write_text(key + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
