"""Requirements files as pip reads them: named requirements, ``-r`` followed, options skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..core.errors import TemplateError
from .target import Target


def requirement_lines(path: Path, seen: frozenset[Path] = frozenset()) -> Iterator[tuple[str, str]]:
    """(``file:line``, requirement text) of a requirements file, following ``-r``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"Cannot read {path}: {exc}.") from exc
    lines = text.replace("\\\n", " ").splitlines()
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            option, _, value = line.replace("=", " ", 1).partition(" ")
            if option in ("-r", "--requirement"):
                included = (path.parent / value.strip()).resolve()
                if included not in seen:
                    yield from requirement_lines(included, seen | {path.resolve()})
            elif option in ("-e", "--editable"):
                raise TemplateError(f"{path}:{number}: builder cannot size the editable requirement {value.strip()!r}.")
            continue  # index and install options do not change what is installed
        yield f"{path}:{number}", line.split(" --hash", 1)[0].strip()


def requirement_names(path: Path, target: Target) -> tuple[str, ...]:
    """Canonical names of what ``path`` asks for directly (markers evaluated for ``target``), sorted."""
    env = target.marker_environment()
    names = set()
    for _, text in requirement_lines(path):
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # a URL or path requirement: pip-compile reports what it cannot lock
        if req.marker is None or req.marker.evaluate(env):
            names.add(canonicalize_name(req.name))
    return tuple(sorted(names))
