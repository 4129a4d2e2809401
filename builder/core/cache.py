"""Small JSON cache files: read leniently, written atomically.

A missing or damaged cache is rebuilt, never an error; a cache that cannot be
written (read-only folder) is skipped and logged.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import BuilderError
from .files import write_atomic

log = logging.getLogger("builder")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run allocates many small objects.

    Decoded caches, scan results, edges and reasons hold no reference cycles (reference
    counting frees them), yet the collector keeps re-scanning them: it cost a third of a
    warm closure run (docs/benchmarks.md). The previous state is restored, also on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load(path: Path) -> dict[str, Any]:
    """The JSON object at ``path``, or ``{}`` if it is missing or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as fh, gc_paused():
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, data: object) -> None:
    """Write ``data`` as compact JSON, atomically; a cache that cannot be written is skipped."""
    try:
        write_atomic(path, json.dumps(data, separators=(",", ":"), sort_keys=True))
    except BuilderError as exc:
        log.debug("cannot write cache %s: %s", path, exc)
