"""``run --watch``: notice when a file a function's image is made from changes.

Pure polling of modification times and sizes (no dependency, works on every file system and
in containers); which files to watch comes from the build plan (:func:`builder.pipeline.watched`).
Never prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_S = 0.1  # an edit is seen within this; the rebuild and a cold start take the rest

Snapshot = dict[str, tuple[int, int] | None]


def snapshot(paths: Iterable[Path]) -> Snapshot:
    """Each path's (mtime in ns, size), None for one that is missing."""
    result: Snapshot = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            result[str(path)] = None
        else:
            result[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return result


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """The paths whose state differs, sorted."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def wait_for_change(before: Snapshot, stop: Callable[[], bool], poll: float = POLL_S) -> tuple[list[str], Snapshot]:
    """Block until a path of ``before`` differs from it, or ``stop()`` is true; returns the changed paths
    ([] when stopped) and the state they were found in.

    The caller rebuilds from that state and waits again from it, so an edit made during the
    rebuild is the next change, not lost.
    """
    paths = [Path(p) for p in before]
    while not stop():
        time.sleep(poll)
        now = snapshot(paths)
        if changed(before, now):
            time.sleep(poll)  # an editor's save may come as several writes: let it settle
            now = snapshot(paths)
            return changed(before, now), now
    return [], before


def carry(after: Snapshot, paths: Iterable[Path]) -> Snapshot:
    """The state to wait from for ``paths`` (the files after a rebuild): ``after``'s for those it has, now's for the rest."""
    fresh = snapshot(paths)
    return {path: after[path] if path in after else state for path, state in fresh.items()}
