"""The locked distributions, read from the metadata of their wheels.

``DistIndex`` opens the wheel of every pin in the wheelhouse and answers three
questions from the wheels' own metadata, never from a hand-kept table: which
distribution provides an import (``top_level.txt`` and ``RECORD``), what a
distribution requires (``Requires-Dist``, ``Provides-Extra``) and how big it
is once installed (``RECORD`` sizes).

Parsed metadata is cached per wheel in ``<wheelhouse>/.metadata-cache.json``,
keyed by wheel file name and size: with the example's 21 wheels the index loads
in about 13 ms instead of 93 ms (docs/benchmarks.md).
"""

from __future__ import annotations

import configparser
import csv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)

from ..core import cache as cachefile
from ..core.errors import LockError
from .lock import Pin, parse_lock
from .target import Target

__all__ = ["Dist", "DistIndex", "Pin", "Target", "parse_lock"]

METADATA_CACHE = ".metadata-cache.json"
_CACHE_VERSION = 3
_MODULE_SUFFIXES = (".py", ".so", ".pyd")


@dataclass(frozen=True)
class Dist:
    """A locked distribution as its wheel describes it. ``files`` are installed paths."""

    name: str
    version: str
    size: int
    files: tuple[str, ...]
    top_level: tuple[str, ...]
    requires: tuple[Requirement, ...]
    extras: tuple[str, ...] = ()
    wheel: str = ""
    file_sizes: tuple[int, ...] = ()
    import_names: tuple[str, ...] = ()  # top-level import names: top_level.txt and RECORD


def installed_path(path: str) -> str:
    """Where ``pip install --target`` puts a RECORD entry: ``x.data/purelib/a/b.py`` (and
    platlib) at ``a/b.py``, ``x.data/scripts/run`` at ``bin/run``."""
    first, _, rest = path.partition("/")
    if first.endswith(".data"):
        kind, _, inner = rest.partition("/")
        if kind in ("purelib", "platlib"):
            return inner
        if kind == "scripts":
            return f"bin/{inner}"
    return path


def _module_of(path: str) -> str | None:
    """The dotted module a file in site-packages defines, or None (data, dist-info, scripts)."""
    if not path.endswith(_MODULE_SUFFIXES):
        return None
    *dirs, base = path.split("/")
    stem = base.split(".", 1)[0]
    parts = [*dirs, stem] if stem != "__init__" else dirs
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def _scripts(entry_points: str) -> list[str]:
    """Names of the console and GUI scripts an entry_points.txt declares."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    # script names are case-sensitive; typeshed declares optionxform a method, the docs assign str to it
    parser.optionxform = str  # type: ignore[method-assign,assignment]
    try:
        parser.read_string(entry_points)
    except configparser.Error:
        return []
    return sorted(name for section in ("console_scripts", "gui_scripts") if parser.has_section(section)
                  for name in parser.options(section))


def _read_wheel(path: Path) -> dict:
    """Parse one wheel's METADATA, top_level.txt and RECORD into a JSON-able dict."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            dist_info = sorted({n.split("/", 1)[0] for n in infos if n.split("/", 1)[0].endswith(".dist-info")})
            if len(dist_info) != 1:
                raise LockError(f"Wheel {path} has {len(dist_info)} .dist-info folders; re-download the wheelhouse.")
            meta_dir = dist_info[0]
            metadata = zf.read(f"{meta_dir}/METADATA").decode("utf-8", "replace")
            top_text = zf.read(f"{meta_dir}/top_level.txt").decode() if f"{meta_dir}/top_level.txt" in infos else None
            record = zf.read(f"{meta_dir}/RECORD").decode("utf-8", "replace") if f"{meta_dir}/RECORD" in infos else ""
            entry_points = f"{meta_dir}/entry_points.txt"
            scripts = _scripts(zf.read(entry_points).decode("utf-8", "replace")) if entry_points in infos else []
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise LockError(f"Cannot read wheel {path}: {exc}. Delete it and re-download the wheelhouse.") from exc

    from email.parser import HeaderParser  # only when a wheel's metadata is not cached yet

    headers = HeaderParser().parsestr(metadata)
    files: list[list] = []
    rows = csv.reader(record.splitlines()) if record else ([name, "", ""] for name in infos if not name.endswith("/"))
    for row in rows:
        if not row or not row[0]:
            continue
        name = row[0]
        listed = row[2] if len(row) > 2 and row[2].isdigit() else None
        size = int(listed) if listed is not None else (infos[name].file_size if name in infos else 0)
        files.append([installed_path(name), size])
    # pip writes a small launcher per console or GUI script; the wheel's RECORD does not list them.
    files += [[f"bin/{script}", 0] for script in scripts]
    files.sort()
    if top_text is not None:
        top_level = sorted({t.strip().replace("/", ".") for t in top_text.splitlines() if t.strip()})
    else:
        top_level = sorted({m.split(".", 1)[0] for m in (_module_of(f) for f, _ in files) if m})
    modules = {m.split(".", 1)[0] for m in (_module_of(f) for f, _ in files) if m}
    return {
        "import_names": sorted(modules | set(top_level)),
        "name": headers.get("Name", ""),
        "version": headers.get("Version", ""),
        "requires": headers.get_all("Requires-Dist") or [],
        "extras": headers.get_all("Provides-Extra") or [],
        "top_level": top_level,
        "files": files,
    }


class DistIndex:
    """The locked distributions of a backend, read from the wheels of its wheelhouse."""

    def __init__(self, dists: Mapping[str, Dist], pins: Mapping[str, Pin] | None = None) -> None:
        self._dists = dict(sorted(dists.items()))
        self.pins = dict(pins or {})
        self._top: dict[str, set[str]] = {}
        for dist in self._dists.values():
            for top in dist.import_names:
                self._top.setdefault(top, set()).add(dist.name)
        self._deep: dict[str, set[str]] | None = None

    @classmethod
    def from_wheelhouse(
        cls, wheelhouse: Path, pins: Mapping[str, Pin], *, target: Target | None = None, use_cache: bool = True
    ) -> DistIndex:
        """Open the wheel of every pin (that applies to ``target``) in ``wheelhouse``.

        A pin without a matching wheel is a LockError. Parsed metadata is cached in
        ``<wheelhouse>/.metadata-cache.json`` unless ``use_cache`` is false.
        """
        wheelhouse = Path(wheelhouse)
        target = target or Target()
        by_pin: dict[tuple[str, str], list[Path]] = {}
        try:
            entries = sorted(wheelhouse.iterdir())
        except OSError as exc:
            raise LockError(f"Cannot list wheelhouse {wheelhouse}: {exc}. Download the wheels first.") from exc
        for path in entries:
            if path.suffix != ".whl":
                continue
            try:
                name, version, _, _ = parse_wheel_filename(path.name)
            except InvalidWheelFilename:
                continue
            by_pin.setdefault((name, str(version)), []).append(path)

        cache_path = wheelhouse / METADATA_CACHE
        cache = cachefile.load(cache_path) if use_cache else {}
        wheels = cache.get("wheels", {}) if cache.get("version") == _CACHE_VERSION else {}
        fresh: dict[str, dict] = {}
        dists: dict[str, Dist] = {}
        for pin in sorted(pins.values(), key=lambda p: p.name):
            if not pin.applies_to(target):
                continue
            candidates = by_pin.get((pin.name, pin.version), [])
            usable = [w for w in candidates if target.accepts_wheel(w.name)]
            if not usable:
                found = ", ".join(w.name for w in candidates) or "none"
                raise LockError(
                    f"{pin.path or 'lock file'}:{pin.line}: no wheel for {pin.name}=={pin.version} that installs on "
                    f"Python {target.short_version} {target.sys_platform}/{target.platform_machine} in {wheelhouse} "
                    f"(found: {found}). Run the command again, which downloads what is missing (or fetch it "
                    f"yourself: `pip download --no-deps --only-binary=:all: -d {wheelhouse} {pin.name}=={pin.version}` "
                    "with the target's --platform and --python-version)."
                )
            wheel = usable[0]
            size = wheel.stat().st_size
            entry = wheels.get(wheel.name)
            if entry is None or entry.get("size") != size:
                entry = {"size": size, **_read_wheel(wheel)}
            fresh[wheel.name] = entry
            dists[pin.name] = _dist_from_entry(pin, wheel.name, entry)
        if use_cache and fresh != wheels:
            cachefile.save(cache_path, {"version": _CACHE_VERSION, "wheels": fresh})
        return cls(dists, pins)

    def names(self) -> tuple[str, ...]:
        """Canonical names of the locked distributions, sorted."""
        return tuple(self._dists)

    def __contains__(self, name: str) -> bool:
        return canonicalize_name(name) in self._dists

    def dist(self, name: str) -> Dist:
        """The distribution called ``name`` (any spelling); KeyError if it is not locked."""
        return self._dists[canonicalize_name(name)]

    def providers(self, module: str) -> tuple[str, ...]:
        """Distributions that provide the dotted ``module``, sorted; () if none.

        A top-level name owned by several distributions (a namespace such as
        ``google``) is resolved by the deepest module path found in their RECORDs.
        """
        parts = module.split(".")
        owners = self._top.get(parts[0])
        if not owners:
            return ()
        if len(owners) > 1 and len(parts) > 1:
            deep = self._deep_modules()
            for i in range(len(parts), 1, -1):
                hit = deep.get(".".join(parts[:i]))
                if hit:
                    return tuple(sorted(hit))
        return tuple(sorted(owners))

    def _deep_modules(self) -> dict[str, set[str]]:
        """Every module and package path of the distributions that share a top-level name."""
        if self._deep is None:
            shared = {d for owners in self._top.values() if len(owners) > 1 for d in owners}
            deep: dict[str, set[str]] = {}
            for name in sorted(shared):
                for module in filter(None, map(_module_of, self._dists[name].files)):
                    parts = module.split(".")
                    for i in range(2, len(parts) + 1):
                        deep.setdefault(".".join(parts[:i]), set()).add(name)
            self._deep = deep
        return self._deep


def _dist_from_entry(pin: Pin, wheel: str, entry: dict) -> Dist:
    requires = []
    for text in entry["requires"]:
        try:
            requires.append(Requirement(text))
        except InvalidRequirement as exc:
            raise LockError(f"Wheel {wheel} has an invalid Requires-Dist {text!r}: {exc}.") from exc
    files = entry["files"]
    return Dist(
        name=pin.name,
        version=pin.version,
        size=sum(size for _, size in files),
        files=tuple(path for path, _ in files),
        top_level=tuple(entry["top_level"]),
        requires=tuple(requires),
        extras=tuple(canonicalize_name(e) for e in entry["extras"]),
        wheel=wheel,
        file_sizes=tuple(size for _, size in files),
        import_names=tuple(entry["import_names"]),
    )
