"""``python -m builder`` with its engine timed from inside, for bench/rebuild.py.

    python bench/_timed.py TIMINGS.json ARGS...    # as `python -m builder ARGS...`

Writes ``{"docker_build": s, "engine_calls": s, "sdk_import": s}`` to TIMINGS.json: the time
spent in the docker CLI's builds, in every other call of the engine object (SDK requests), and,
of the latter, in importing the Docker SDK (builder's own start-up, not the engine's).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.engine import docker_engine  # noqa: E402

spent = {"docker_build": 0.0, "engine_calls": 0.0, "sdk_import": 0.0}
_depth = [0]  # engine methods call each other: only the outermost is counted


def _timed(name: str, method):  # type: ignore[no-untyped-def]
    @functools.wraps(method)
    def inner(*args, **kwargs):  # type: ignore[no-untyped-def]
        if _depth[0]:
            return method(*args, **kwargs)
        _depth[0] += 1
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            _depth[0] -= 1
            spent["docker_build" if name == "build" else "engine_calls"] += time.perf_counter() - started

    return inner


for _name, _method in list(vars(docker_engine.DockerEngine).items()):
    if callable(_method) and not _name.startswith("_") and _name != "buildkit_client":
        setattr(docker_engine.DockerEngine, _name, _timed(_name, _method))


_import_sdk = docker_engine._sdk


def _sdk():  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        return _import_sdk()
    finally:
        spent["sdk_import"] += time.perf_counter() - started


docker_engine._sdk = _sdk  # type: ignore[assignment]


def main() -> int:
    from builder.cli import main as builder_main

    out = Path(sys.argv[1])
    try:
        return builder_main(sys.argv[2:])
    finally:
        out.write_text(json.dumps(spent))


if __name__ == "__main__":
    sys.exit(main())
