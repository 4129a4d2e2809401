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

POLL_S = 0.25  # an edit is seen within this, so it is live in about a second with the rebuild

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


def wait_for_change(paths: Iterable[Path], stop: Callable[[], bool], poll: float = POLL_S) -> list[str]:
    """Block until one of ``paths`` changes (returns the changed ones) or ``stop()`` is true (returns [])."""
    watched = list(paths)
    before = snapshot(watched)
    while not stop():
        time.sleep(poll)
        if changed(before, snapshot(watched)):
            time.sleep(poll)  # an editor's save may come as several writes: let it settle
            return changed(before, snapshot(watched))
    return []
