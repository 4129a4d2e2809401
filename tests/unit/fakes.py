"""Fakes the analysis tests build in tmp_path: small wheels and a one-function backend."""

from __future__ import annotations

import zipfile
from pathlib import Path

from builder.analysis.records import Closure
from builder.project import config

HANDLER = "def handler(event, context):\n    return 1\n"


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, int],
    *,
    requires: tuple[str, ...] = (),
    extras: tuple[str, ...] = (),
    top_level: str | None = None,
    record_sizes: bool = True,
    tag: str = "py3-none-any",
) -> Path:
    """A small wheel: ``files`` maps installed paths to sizes; METADATA, RECORD and top_level.txt."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    record = [f"{path},sha256=x,{size if record_sizes else ''}" for path, size in files.items()]
    record += [f"{info}/METADATA,,", f"{info}/RECORD,,"]
    wheel = folder / f"{dist}-{version}-{tag}.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, size in files.items():
            zf.writestr(path, b"x" * size)
        zf.writestr(f"{info}/METADATA", "\n".join(meta) + "\n\nA description that is not parsed.\n")
        if top_level is not None:
            zf.writestr(f"{info}/top_level.txt", top_level)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def backend(root: Path, sources: dict[str, str], lock: str = "six==1.16.0\n") -> config.Config:
    """A one-function backend in tmp_path: ``functions/app.py`` is the handler."""
    for rel, text in {"functions/__init__.py": "", **sources}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "shared").mkdir(exist_ok=True)
    (root / "requirements").mkdir(exist_ok=True)
    (root / "requirements/functions.txt").write_text(lock)
    (root / "builder.toml").write_text('name = "t"\n[functions.app]\nhandler = "functions/app.handler"\n')
    return config.load(root)


def files(closure: Closure) -> set[str]:
    return {f.path for f in closure.local_files}
