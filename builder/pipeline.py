"""The pipeline: config -> wheelhouse -> closures -> plan -> Dockerfile -> engine.

Each step but the engine is pure; this module strings them together for the
CLI and keeps the order of work in one place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from . import cachefile, dists, dockerfile, engine, wheelhouse
from . import closure as closure_mod
from .config import Config
from .errors import ConfigError
from .fileutil import write_atomic
from .lock import parse_lock
from .parse_cache import ParseCache
from .plan import BuildPlan, Dist, Needs, make_plan, strip_key
from .strip import StripResult
from .target import Target

STRIP_CACHE = ".builder/cache/strip.json"
DEFAULT_JOBS = 4  # concurrent docker builds; BuildKit runs a stage shared by several of them once


@dataclass(frozen=True)
class Analysis:
    """The locked distributions and every function's closure."""

    index: dists.DistIndex
    closures: dict[str, closure_mod.Closure]


@dataclass(frozen=True)
class Built:
    """One built image and what it cost."""

    function: str
    image: str
    size: int
    above_base: int
    seconds: float


def analyse(config: Config, *, on_line: Callable[[str], None] | None = None) -> Analysis:
    """Download the wheelhouse if needed, read the wheels' metadata and compute all closures."""
    target = Target.from_config(config)
    house = wheelhouse.ensure(config, on_line=on_line)
    index = dists.DistIndex.from_wheelhouse(house, parse_lock(config.lock_path, target=target), target=target)
    cache = ParseCache.load(config.root)
    closures = closure_mod.compute_closures(config, index, target=target, cache=cache)
    cache.save(config.root)
    return Analysis(index, closures)


def plan(config: Config, analysis: Analysis) -> BuildPlan:
    """The build plan from the closures: each image gets only what its function needs."""
    needs = {
        name: Needs(
            dists=frozenset(d.name for d in c.distributions),
            local_files=tuple(f.path for f in c.local_files),
        )
        for name, c in analysis.closures.items()
    }
    locked = {}
    for name in analysis.index.names():
        d = analysis.index.dist(name)
        locked[name] = Dist(d.name, d.version, d.size, tuple(zip(d.files, d.file_sizes)), d.wheel)
    cache_path = config.root / STRIP_CACHE
    stored = cachefile.load(cache_path)
    cache = {k: StripResult(tuple(v[0]), tuple(map(tuple, v[1])), tuple(v[2])) for k, v in stored.items()}
    result = make_plan(config, needs, locked, strip_cache=cache)
    used = {strip_key(list(g.dists), config.strip): g.strip for g in result.groups}  # drop stale entries
    if used.keys() != stored.keys():
        cachefile.save(cache_path, {k: [r.paths, r.removed, r.debug_paths] for k, r in used.items()})
    return result


def render(config: Config, analysis: Analysis) -> str:
    """The Dockerfile text for the backend."""
    return dockerfile.render(plan(config, analysis))


def prepare(config: Config, build_plan: BuildPlan) -> str:
    """Check the base image, write the strip lists the Dockerfile mounts; return the Dockerfile."""
    if not engine.image_exists(config.base_image):
        raise ConfigError(
            f"The base image {config.base_image} is not available locally. Pull it, or make one "
            "here with `python -m builder base --bootstrap` (no registry needed)."
        )
    for relative, text in dockerfile.strip_lists(build_plan).items():
        write_atomic(config.root / relative, text)
    return dockerfile.render(build_plan)


def build(
    config: Config,
    dockerfile_text: str,
    function: str,
    *,
    tag: str = "latest",
    on_line: Callable[[str], None] | None = None,
) -> Built:
    """Build one function's production image (its stage of the prepared Dockerfile) and measure it."""
    image = config.image(function, tag)
    started = time.monotonic()
    engine.build(config.root, dockerfile_text, target=function, tag=image, on_line=on_line)
    seconds = time.monotonic() - started
    size, base = engine.image_info(image).size, engine.image_info(config.base_image).size
    return Built(function, image, size, size - base, seconds)


def build_many(
    config: Config,
    dockerfile_text: str,
    functions: Sequence[str],
    *,
    tag: str = "latest",
    jobs: int = DEFAULT_JOBS,
    on_done: Callable[[Built], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> list[Built]:
    """Build several functions' images, ``jobs`` at a time; return them in the order asked.

    After a failure no further build starts; the ones running finish (their
    images are kept) and the failure of the first function asked for is raised.
    """
    failed = threading.Event()

    def one(name: str) -> Built | None:
        if failed.is_set():
            return None  # not started: an earlier build failed
        try:
            built = build(config, dockerfile_text, name, tag=tag, on_line=on_line)
        except BaseException:
            failed.set()
            raise
        if on_done is not None:
            on_done(built)
        return built

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, name) for name in functions]
        try:
            wait(futures)
        except BaseException:  # Ctrl-C: start nothing more
            failed.set()
            raise
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]  # type: ignore[misc]


def event_path(config: Config, function: str) -> Path:
    """The sample event of a function."""
    return config.root / config.function(function).event
