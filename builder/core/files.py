"""Atomic file writes: generated files are either whole or untouched, never half-written."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.paths import LOCK_DIR, WORK_DIR
from .errors import BuilderError, ConfigError


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and ``os.replace``.

    Line endings are written as given; an existing file keeps its permission bits.
    Missing parent folders are created. A symbolic link stays a link: its target is what is
    written. A character device (``/dev/stdout``, a terminal) is written as a stream; any other
    file that is not a regular file (a folder, a FIFO, a socket) is refused.
    """
    try:
        kind = os.stat(path).st_mode  # through links
    except OSError:
        kind = 0  # not there (yet): written as a new regular file
    if stat.S_ISCHR(kind):
        try:
            with open(path, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
        except OSError as exc:
            raise BuilderError(f"Cannot write {path}: {exc.strerror}.") from exc
        return
    if kind and not stat.S_ISREG(kind):
        raise ConfigError(
            f"Cannot write {path}: it is not a regular file (a folder, a FIFO or a socket). Name a file, "
            "or - for the standard output where the command offers it."
        )
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise BuilderError(f"Cannot write {target}: {exc.strerror}. Check the folder's permissions.") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BuilderError(f"Cannot write {target}: {exc.strerror}. Check the folder's permissions.") from exc
        raise


# aws-lambda-builders' PythonPipWorkflow.EXCLUDED_FILES: what `sam build` leaves out of a Python
# function's CodeUri (and a layer it builds), matched against every file and folder name; plus
# builder's own work folder and locks.
SAM_EXCLUDED = (
    ".aws-sam", ".chalice", ".git", ".gitignore", "*.pyc", "__pycache__", "*.so", ".Python",
    "*.egg-info", "*.egg", "pip-log.txt", "pip-delete-this-directory.txt", "htmlcov", ".tox",
    ".nox", ".coverage", ".cache", ".pytest_cache", ".python-version", ".mypy_cache",
    ".dmypy.json", ".pyre", ".env", ".venv", "venv", "venv.bak", "env.bak", "ENV", "env",
    ".vscode", ".idea", WORK_DIR, LOCK_DIR,
)  # fmt: skip


def sam_excluded(name: str) -> bool:
    """Whether `sam build` leaves a file or folder of this name out of a function's code."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SAM_EXCLUDED)


WORK_IGNORE = """\
# builder's work folder: wheels, caches, strip lists and generated files, all made again
# when missing. Nothing here is committed; the locks (builder-locks/) and sizes.json are.
*
"""


def work_dir(root: Path) -> Path:
    """builder's work folder in the backend, made with its own .gitignore when missing."""
    folder = Path(root) / WORK_DIR
    ignore = folder / ".gitignore"
    if not ignore.is_file():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore.write_text(WORK_IGNORE)
        except OSError as exc:
            raise BuilderError(f"Cannot make {folder}: {exc.strerror}. Check the folder's permissions.") from exc
    return folder


class ChunkStream(io.RawIOBase):
    """A readable stream over byte chunks; hashes what it hands out when asked (a diff ID)."""

    def __init__(self, chunks: Iterable[bytes], *, hashed: bool = False) -> None:
        self._chunks, self._rest = iter(chunks), b""
        self.sha = hashlib.sha256() if hashed else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._rest:
            self._rest = next((chunk for chunk in self._chunks if chunk), b"")
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        if self.sha:
            self.sha.update(buffer[:n])
        return n
