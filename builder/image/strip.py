"""Strip rules: gitignore-style patterns for files that never run on Lambda.

Pure: matches the installed files of each distribution (its wheel's RECORD,
as :mod:`builder.dists` maps it to install paths) against the rules, and returns what to delete and how
many bytes each rule removes. The Dockerfile deletes those paths in the
dependency stage, before the layer a production image copies is made, so the
bytes are never shipped (a later ``rm`` would only hide them).
"""

from __future__ import annotations

import functools
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

# Each default rule is safe for every example function (the acceptance tests
# run every sample event on stripped images). Why each one:
DEFAULT_RULES = (
    "__pycache__/",  # bytecode shipped in wheels; recompiled for the final paths
    "tests/",  # third-party test suites (pandas alone: ~60 MB)
    "*.c",  # C/C++/Cython sources and headers: only used to compile extensions
    "*.h",
    "*.hpp",
    "*.cpp",
    "*.pyx",
    "*.pxd",
    "*.pxi",
    "*.pyi",  # type stubs: read by type checkers, never imported
    "/bin/",  # console scripts: Lambda runs the handler, not commands
)
# The debug sections of every distribution's own shared objects go too (stage.py's strip_debug:
# what the loader reads is kept, only symbol-level debugging with gdb goes; Pillow's 3.3 MB
# _imaging is 0.7 MB without them). A distribution named in [strip.debug-symbols] takes its own
# patterns instead; `defaults = false` keeps them all.
DEFAULT_DEBUG = ("*.so",)
# What of the default rules applies to a function's own files (CodeUri, layers): a layer's bin/
# holds programs the function runs (Lambda puts /opt/bin on PATH).
LOCAL_RULES = tuple(rule for rule in DEFAULT_RULES if rule != "/bin/")
# auditwheel vendors the libraries a wheel links to in <name>.libs/; stripping
# those breaks imports ("ELF load command address/offset not page-aligned").
VENDORED_SUFFIX = ".libs"
# importlib.metadata reads METADATA and entry_points.txt; the size report reads RECORD.
PROTECTED_SUFFIX = ".dist-info"


@dataclass(frozen=True)
class StripResult:
    """For one folder of installed distributions: paths to delete and bytes removed by rule."""

    paths: tuple[str, ...]  # relative to the folder, sorted; whole folders where possible
    removed: tuple[tuple[str, int], ...]  # (rule, bytes), in rule order
    debug_paths: tuple[str, ...] = ()  # shared objects whose debug symbols are stripped

    @property
    def removed_bytes(self) -> int:
        return sum(b for _, b in self.removed)


@functools.lru_cache(maxsize=64)
def _spec(rules: tuple[str, ...]) -> GitIgnoreSpec:
    """Compiled rules; the same rule list serves every distribution without per-dist rules.
    (pathspec is imported here: a build whose strip results are cached never needs it.)"""
    from pathspec import GitIgnoreSpec

    return GitIgnoreSpec.from_lines(rules)


def _protected(path: str) -> bool:
    return path.split("/", 1)[0].endswith(PROTECTED_SUFFIX)


def _compress(removed: set[str], all_files: Iterable[str]) -> list[str]:
    """Replace sets of files by their folder when every file below that folder goes."""
    total: dict[str, int] = defaultdict(int)
    gone: dict[str, int] = defaultdict(int)
    for path in all_files:
        is_gone = path in removed
        folder = posixpath.dirname(path)
        while folder:
            total[folder] += 1
            gone[folder] += is_gone
            folder = posixpath.dirname(folder)
    whole = {d for d in total if total[d] == gone[d]}
    out = set()
    for path in removed:
        top, folder = path, posixpath.dirname(path)
        while folder:  # the highest fully-removed ancestor
            if folder in whole:
                top = folder
            folder = posixpath.dirname(folder)
        out.add(top)
    return sorted(out)


def plan_strip(
    files: Mapping[str, Sequence[tuple[str, int]]],
    *,
    rules: Sequence[str] = DEFAULT_RULES,
    per_dist: Mapping[str, Sequence[str]] | None = None,
) -> StripResult:
    """Match the installed files of some distributions (name -> (path, size)) against rules.

    ``per_dist`` rules apply after the global ones, to that distribution only; a
    rule starting with ``!`` keeps what earlier rules would remove.
    """
    per_dist = per_dist or {}
    removed: set[str] = set()
    by_rule: dict[str, int] = defaultdict(int)
    everything: list[str] = []
    for dist in sorted(files):
        dist_rules = tuple(rules) + tuple(per_dist.get(dist, ()))
        spec = _spec(dist_rules)
        paths = [path for path, _ in files[dist]]
        everything += paths
        sizes = dict(files[dist])
        for result in spec.check_files(p for p in paths if not _protected(p)):
            if result.include:
                assert result.index is not None  # a rule matched: the index says which
                removed.add(result.file)
                by_rule[dist_rules[result.index]] += sizes[result.file]
    order = {rule: i for i, rule in enumerate(list(rules) + [r for d in sorted(per_dist) for r in per_dist[d]])}
    return StripResult(
        paths=tuple(_compress(removed, everything)),
        removed=tuple(sorted(by_rule.items(), key=lambda item: (order.get(item[0], 0), item[0]))),
    )


def plan_debug_strip(
    files: Mapping[str, Sequence[tuple[str, int]]], patterns: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """Shared objects whose debug symbols to strip: per distribution, the ``.so`` files its
    patterns select (``!`` excludes), never anything under a vendored ``*.libs/`` folder."""
    selected = []
    for dist in sorted(patterns):
        spec = _spec(tuple(patterns[dist]))
        for path, _ in files.get(dist, ()):
            vendored = any(part.endswith(VENDORED_SUFFIX) for part in path.split("/")[:-1])
            if not vendored and ".so" in path.rsplit("/", 1)[-1] and spec.match_file(path):
                selected.append(path)
    return tuple(sorted(selected))


def stripped_local(paths: Iterable[str], rules: Sequence[str]) -> set[str]:
    """Which of a code root's files (paths relative to the root) the rules remove."""
    spec = _spec(tuple(rules))
    return {result.file for result in spec.check_files(paths) if result.include}
