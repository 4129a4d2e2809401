"""The lock file: pip-tools output (``name==version`` pins) read into ``Pin`` records.

Hashes, comments, ``\\`` continuations and index options are accepted; ``-r``
is followed; anything that is not an exact pin is a LockError with file:line
and what to do.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..core.errors import LockError
from .target import Target

_IGNORED_OPTIONS = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host", "--no-index",
    "--pre", "--prefer-binary", "--only-binary", "--no-binary", "-c", "--constraint", "--use-feature",
}  # fmt: skip
_HASH_RE = re.compile(r"\s--hash[=\s]\S+")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of the lock file; ``name`` is canonical (PEP 503)."""

    name: str
    version: str
    line: int
    extras: tuple[str, ...] = ()
    marker: str = ""
    path: str = ""
    hashes: tuple[str, ...] = ()  # the lock's --hash values for it ("sha256:..."), if it has any

    def applies_to(self, target: Target) -> bool:
        """Whether the pin's environment marker (if any) is true for ``target``."""
        if not self.marker:
            return True
        marker = Requirement(f"{self.name}; {self.marker}").marker
        return marker is None or marker.evaluate(target.marker_environment())


def _logical_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(first line number, text) with comments removed and ``\\`` continuations joined."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"Cannot read lock file {path}: {exc}. Re-lock with pip-compile.") from exc
    parts: list[str]
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT_RE.sub("", raw)
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        joined = " ".join(p.strip() for p in parts).strip()
        parts = []
        if joined:
            yield start, joined
    if parts and " ".join(parts).strip():
        yield start, " ".join(p.strip() for p in parts).strip()


def parse_lock(path: Path, *, target: Target | None = None, _seen: frozenset[Path] = frozenset()) -> dict[str, Pin]:
    """Read a pip-tools lock file into ``{canonical name: Pin}``.

    With ``target``, pins whose environment marker is false for it are dropped, so a
    universal lock may pin one name several times under different markers.
    """
    path = Path(path)
    pins: dict[str, Pin] = {}
    for number, text in _logical_lines(path):
        where = f"{path}:{number}"
        if text.startswith("-"):
            option, _, value = text.partition(" ") if " " in text else text.partition("=")
            value = value.strip().lstrip("=").strip()
            if option in ("-r", "--requirement"):
                try:
                    included = (path.parent / value).resolve()
                except (OSError, ValueError) as exc:  # a NUL byte, a name too long
                    raise LockError(f"{where}: -r {value!r} is not a file name ({exc}). Fix the line.") from exc
                if included in _seen or included == path.resolve():
                    raise LockError(f"{where}: -r {value} includes itself. Remove the cycle from the lock file.")
                for pin in parse_lock(included, target=target, _seen=_seen | {path.resolve()}).values():
                    _add(pins, pin, where)
            elif option in ("-e", "--editable"):
                raise LockError(
                    f"{where}: editable requirement {value!r} cannot go into an image. "
                    "Build it as a wheel, pin it by version and re-lock."
                )
            elif option not in _IGNORED_OPTIONS:
                raise LockError(f"{where}: unknown option {option!r}. Re-create the lock file with pip-compile.")
            continue
        pin = _parse_pin(_HASH_RE.sub("", " " + text).strip(), where, number, str(path))
        hashes = tuple(h.split("=", 1)[-1].split()[-1] for h in _HASH_RE.findall(" " + text))
        if hashes:
            pin = replace(pin, hashes=hashes)
        if target is None or pin.applies_to(target):
            _add(pins, pin, where)
    return pins


def _parse_pin(text: str, where: str, number: int, path: str) -> Pin:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise LockError(f"{where}: cannot parse {text!r} ({exc}). Fix the line or re-lock with pip-compile.") from exc
    if req.url:
        raise LockError(
            f"{where}: {req.name} is pinned to a URL ({req.url}); only name==version pins are supported. "
            "Publish it as a wheel to your index and re-lock."
        )
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        raise LockError(
            f"{where}: {text!r} is not pinned to one version with ==. "
            "Compile requirements/functions.in with pip-compile to get a lock file."
        )
    version = specs[0].version
    with contextlib.suppress(InvalidVersion):  # '===' allows arbitrary strings: keep them as written
        version = str(Version(version))
    return Pin(
        name=canonicalize_name(req.name),
        version=version,
        line=number,
        extras=tuple(sorted(canonicalize_name(e) for e in req.extras)),
        marker=str(req.marker) if req.marker else "",
        path=path,
    )


def _add(pins: dict[str, Pin], pin: Pin, where: str) -> None:
    old = pins.get(pin.name)
    if old is None:
        pins[pin.name] = pin
    elif old.version != pin.version:
        raise LockError(
            f"{where}: {pin.name} is pinned twice ({old.version} at line {old.line}, and {pin.version}). "
            "Keep one pin, or pass the target so that environment markers choose one."
        )
    else:
        extras = tuple(sorted(set(old.extras) | set(pin.extras)))
        pins[pin.name] = Pin(pin.name, pin.version, old.line, extras, old.marker, old.path,
                             tuple(dict.fromkeys((*old.hashes, *pin.hashes))))  # fmt: skip
