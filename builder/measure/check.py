"""The ``check`` command's model: a committed size baseline and its comparison with the
images as built now (rendered by :mod:`builder.check_render`).

Pure: measurements come from :mod:`builder.sizes` (what the images hold, after
stripping), "pulled in by" notes from the closures; nothing here talks to Docker
or prints. The baseline is deterministic (sorted keys, no timestamps, no absolute
paths): the same images give the same bytes. Both documents are in ``docs/ci.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.utils import canonicalize_name

from ..core.errors import ConfigError
from ..core.limits import LIMIT_BYTES  # Lambda's 250 MiB limit on unzipped code plus layers
from ..core.units import human
from ..project.model import CheckConfig
from .sizes import ImageSizes

SCHEMA_VERSION = 1
BASELINE_KIND = "builder-size-baseline"
BASELINE_FILE = "sizes.json"
ROLES = ("dependencies", "shared", "function")  # bytes above the base, by what made them
OTHER_ROLE = "other"  # layers of an image without a builder.layers label
LAMBDA_IMAGE_LIMIT = 10 * 1024**3  # an image, all layers, uncompressed
TOTAL = "all functions"
_ROLE_NAMES = {
    "dependencies": "dependency files outside any distribution",
    "shared": "shared code",
    "function": "function code",
    OTHER_ROLE: "unlabelled layers",
}
_REPAIR = "Restore it from version control, or record one from the current images with `python -m builder check --update`"


@dataclass(frozen=True)
class DistBytes:
    """A distribution in an image: its version and the bytes it ships."""

    version: str
    bytes: int


@dataclass(frozen=True)
class FunctionSizes:
    """One function's image, as the baseline records it."""

    above_base_bytes: int
    roles: Mapping[str, int]  # ROLES (and OTHER_ROLE when present) -> bytes
    dists: Mapping[str, DistBytes]  # canonical name -> version and bytes
    total_bytes: int = 0  # the whole image, base included; measured, not in the baseline


@dataclass(frozen=True)
class Baseline:
    """Per function, what its image held when the baseline was recorded."""

    functions: Mapping[str, FunctionSizes] = field(default_factory=lambda: MappingProxyType({}))


# ---- measuring and storing --------------------------------------------------------------------


def measure(image: ImageSizes) -> FunctionSizes:
    """What the baseline records of one analysed image."""
    roles = dict.fromkeys(ROLES, 0)
    dists: dict[str, DistBytes] = {}
    for layer in image.layers[image.base_layer_count :]:
        role = "dependencies" if layer.role.startswith(("deps/", "models/")) else layer.role if layer.role in ROLES else OTHER_ROLE
        roles[role] = roles.get(role, 0) + layer.size
        for d in layer.distributions:
            name = canonicalize_name(d.name)
            dists[name] = DistBytes(d.version, d.bytes + (dists[name].bytes if name in dists else 0))
    return FunctionSizes(image.above_base_bytes, MappingProxyType(roles), MappingProxyType(dict(sorted(dists.items()))), image.total_bytes)


def baseline_text(baseline: Baseline) -> str:
    """The baseline file's content: JSON, sorted keys, two-space indent, final newline."""
    functions = {
        name: {
            "above_base_bytes": f.above_base_bytes,
            "layers": dict(f.roles),
            "distributions": {d: {"version": v.version, "bytes": v.bytes} for d, v in f.dists.items()},
        }
        for name, f in baseline.functions.items()
    }
    document = {"schema_version": SCHEMA_VERSION, "kind": BASELINE_KIND, "functions": functions}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{where} must be a non-negative integer, not {value!r}")
    return value


def _dict(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be an object")
    return value


def _function(name: str, entry: Any) -> FunctionSizes:
    where = f"functions.{name}"
    entry = _dict(entry, where)
    dists = {}
    for dist, value in _dict(entry.get("distributions"), f"{where}.distributions").items():
        version = _dict(value, f"{where}.distributions.{dist}").get("version")
        if not isinstance(version, str):
            raise TypeError(f"{where}.distributions.{dist}.version must be a string")
        dists[dist] = DistBytes(version, _int(value.get("bytes"), f"{where}.distributions.{dist}.bytes"))
    layers = _dict(entry.get("layers"), f"{where}.layers")
    return FunctionSizes(
        _int(entry.get("above_base_bytes"), f"{where}.above_base_bytes"),
        MappingProxyType({role: _int(size, f"{where}.layers.{role}") for role, size in layers.items()}),
        MappingProxyType(dists),
    )


def parse_baseline(text: str, source: str = BASELINE_FILE) -> Baseline:
    """Read a baseline document; a ``ConfigError`` that says how to repair it when it is not one."""
    try:
        document = _dict(json.loads(text), "the document")
        if document.get("kind") != BASELINE_KIND or document.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"it is not a size baseline of schema version {SCHEMA_VERSION} (kind {BASELINE_KIND!r})")
        functions = _dict(document.get("functions"), "functions")
        parsed = {name: _function(name, entry) for name, entry in sorted(functions.items())}
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ConfigError(f"The size baseline {source} is corrupt: {exc}. {_REPAIR}.") from exc
    return Baseline(MappingProxyType(parsed))


def read_baseline(path: Path, shown: str = "") -> Baseline:
    """The baseline at ``path`` (``shown``: how messages name it)."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"No size baseline at {shown}. Record one from the current images with "
            "`python -m builder check --update` (same --project and --baseline), then commit it."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the size baseline {shown}: {exc}. {_REPAIR}.") from exc
    return parse_baseline(text, shown)


def updated(old: Baseline, current: Mapping[str, FunctionSizes], *, replace_all: bool) -> Baseline:
    """The baseline after ``--update``: ``current`` wins; other functions stay unless ``replace_all``."""
    kept = {} if replace_all else dict(old.functions)
    return Baseline(MappingProxyType(dict(sorted({**kept, **current}.items()))))


def pulled_in_by(distributions: Iterable[Any]) -> dict[str, str]:
    """For each closure distribution (``DistNode``), the import that pulls it in and the chain.

    ``{"urllib3": "functions/ml/score.py:11 via requests"}``. A node's first reason lies
    on a shortest chain from the handler, so following first reasons reaches an import.
    """
    by_name = {d.name: d for d in distributions}
    found = {}
    for start in by_name.values():
        chain: list[str] = []
        node, text = start, ""
        while node.reasons and len(chain) <= len(by_name):  # the bound stops a cycle
            reason = node.reasons[0]
            if reason.kind == "requires" and canonicalize_name(reason.origin) in by_name:
                chain.insert(0, canonicalize_name(reason.origin))
                node = by_name[chain[0]]
                continue
            text = f"{reason.origin}:{reason.detail}" if reason.kind == "import" else f"{reason.kind} {reason.origin}"
            break
        if text:
            found[start.name] = text + (f" via {' -> '.join(chain)}" if chain else "")
    return found


# ---- comparing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One reason a function's size changed: a distribution or a kind of code."""

    kind: str  # "new", "removed", "version", "size" (same version) or "code"
    name: str  # a distribution, or a role for "code"
    delta: int
    old_version: str = ""
    new_version: str = ""
    pulled_in_by: str = ""

    def __str__(self) -> str:
        size = signed(self.delta)
        if self.kind == "new":
            return f"new: {self.name} {self.new_version} ({size})" + (f" pulled in by {self.pulled_in_by}" if self.pulled_in_by else "")
        if self.kind == "removed":
            return f"removed: {self.name} {self.old_version} ({size})"
        if self.kind == "version":
            return f"{size} {self.name} {self.old_version} -> {self.new_version}"
        if self.kind == "code":
            return f"{size} {_ROLE_NAMES.get(self.name, self.name)}"
        return f"{size} {self.name} {self.new_version}"


@dataclass(frozen=True)
class Row:
    """One line of the table: a function (or all together), then and now."""

    name: str
    baseline: int | None  # None: not in the baseline
    now: int | None  # None: no longer a function
    changes: tuple[Change, ...] = ()

    @property
    def delta(self) -> int:
        return (self.now or 0) - (self.baseline or 0)

    @property
    def percent(self) -> float | None:
        """Growth in percent of the baseline; None when there is no baseline figure to divide by."""
        if not self.baseline:
            return 0.0 if self.baseline == 0 and not self.delta else None
        return 100.0 * self.delta / self.baseline


@dataclass(frozen=True)
class Problem:
    """A failed budget (``error``), a note (``warning``), or growth accepted by ``--update``."""

    level: str  # "error", "warning" or "accepted"
    kind: str  # "tolerance", "ceiling", "lambda-image-limit", "zip-limit" or "not-in-baseline"
    scope: str  # a function, or TOTAL
    message: str


@dataclass(frozen=True)
class CheckResult:
    """The comparison: one row per function (sorted), the total, and what fails or warns."""

    rows: tuple[Row, ...]
    total: Row
    problems: tuple[Problem, ...]
    budget: CheckConfig

    @property
    def errors(self) -> list[Problem]:
        """The failed budgets: the check fails when there is any."""
        return [p for p in self.problems if p.level == "error"]


def _changes(old: FunctionSizes, new: FunctionSizes, origins: Mapping[str, str]) -> tuple[Change, ...]:
    changes = []
    for name in sorted(set(old.dists) | set(new.dists)):
        was, now = old.dists.get(name), new.dists.get(name)
        if was is None and now is not None:
            changes.append(Change("new", name, now.bytes, new_version=now.version, pulled_in_by=origins.get(name, "")))
        elif now is None and was is not None:
            changes.append(Change("removed", name, -was.bytes, old_version=was.version))
        elif was and now and (was.version != now.version or was.bytes != now.bytes):
            kind = "version" if was.version != now.version else "size"
            changes.append(Change(kind, name, now.bytes - was.bytes, was.version, now.version))
    dist_delta = sum(c.delta for c in changes)
    for role in sorted(set(old.roles) | set(new.roles)):
        delta = new.roles.get(role, 0) - old.roles.get(role, 0)
        if role == "dependencies":
            delta -= dist_delta  # what the RECORD files do not explain
        if delta:
            changes.append(Change("code", role, delta))
    return tuple(sorted(changes, key=lambda c: (-abs(c.delta), c.name)))


def _grew(row: Row, tolerance: float) -> bool:
    return row.baseline is not None and row.now is not None and row.now > row.baseline * (1 + tolerance)


def _limits(name: str, new: FunctionSizes, budget: CheckConfig) -> list[Problem]:
    """The budgets that hold whatever the baseline says: the ceiling and Lambda's limits."""
    problems = []
    above, ceiling = human(new.above_base_bytes), budget.max_function_bytes
    if ceiling is not None and new.above_base_bytes > ceiling:
        message = f"{name} has {above} above the base, over the {human(ceiling)} ceiling (max-function-bytes)"
        problems.append(Problem("error", "ceiling", name, message))
    if new.total_bytes > LAMBDA_IMAGE_LIMIT:
        message = f"{name}'s image is {human(new.total_bytes)}, over Lambda's 10 GiB image limit: it cannot be deployed"
        problems.append(Problem("error", "lambda-image-limit", name, message))
    if new.above_base_bytes > LIMIT_BYTES:
        message = f"{name}'s code and dependencies are {above} unzipped, over the 250 MiB limit of a ZIP package"
        problems.append(Problem("warning", "zip-limit", name, message))
    return problems


def compare(
    baseline: Baseline,
    current: Mapping[str, FunctionSizes],
    budget: CheckConfig | None = None,
    origins: Mapping[str, Mapping[str, str]] | None = None,
    *,
    update: bool = False,
) -> CheckResult:
    """Compare the images measured now with the baseline, against the budgets.

    ``current`` maps each function checked to its measurement; a baseline function
    not in it is reported as removed. ``origins`` maps a function to its ``pulled_in_by``.
    With ``update`` (the baseline is being rewritten) growth is accepted, not an error.
    """
    budget, origins = budget or CheckConfig(), origins or {}
    grew = "accepted" if update else "error"
    rows, problems = [], []
    for name in sorted(set(baseline.functions) | set(current)):
        old, new = baseline.functions.get(name), current.get(name)
        changes = _changes(old, new, origins.get(name, {})) if old and new else ()
        row = Row(name, old.above_base_bytes if old else None, new.above_base_bytes if new else None, changes)
        rows.append(row)
        if _grew(row, budget.tolerance):
            message = f"{name} grew {growth(row)}, more than the {budget.tolerance:.1%} tolerance"
            problems.append(Problem(grew, "tolerance", name, message))
        if new and not old and not update:
            message = f"{name} is not in the baseline; record it with `check --update`"
            problems.append(Problem("warning", "not-in-baseline", name, message))
        problems += _limits(name, new, budget) if new else []
    now = sum(f.above_base_bytes for f in current.values())
    total = Row(TOTAL, sum(f.above_base_bytes for f in baseline.functions.values()) if baseline.functions else None, now)
    if _grew(total, budget.tolerance):
        message = f"all functions together grew {growth(total)}, more than the {budget.tolerance:.1%} tolerance"
        problems.append(Problem(grew, "tolerance", TOTAL, message))
    if budget.max_total_bytes is not None and now > budget.max_total_bytes:
        message = f"all functions together have {human(now)} above the base, over the {human(budget.max_total_bytes)} ceiling (max-total-bytes)"  # fmt: skip
        problems.append(Problem("error", "ceiling", TOTAL, message))
    return CheckResult(tuple(rows), total, tuple(problems), budget)


# ---- how a change is written (messages here, tables in check_render) ----------------------------


def signed(n: int) -> str:
    """Bytes with their sign: +1.2 MB, -300 B."""
    return ("+" if n >= 0 else "") + human(n)


def percent(row: Row) -> str:
    """The row's change in percent, or n/a when it has no baseline."""
    return "n/a" if row.percent is None else f"{row.percent:+.1f}%"


def growth(row: Row) -> str:
    """The row's change in bytes and percent: +1.2 MB (+3.4%)."""
    return f"{signed(row.delta)} ({percent(row)})"
