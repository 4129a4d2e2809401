"""The pipeline: config -> wheelhouse -> closures -> plan -> Dockerfile -> engine.

Each step but the engine is pure; this module strings them together for the
CLI and keeps the order of work in one place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from .analysis import aws_services
from .analysis import closure as closure_mod
from .analysis.parse_cache import ParseCache
from .core import cache as cachefile
from .core import proc
from .core.errors import AnalysisError, BuilderError, BuildError, ConfigError, EngineError, LockError
from .core.files import work_dir, write_atomic
from .core.paths import CACHE_DIR, CONTEXT_COPIES, GROUPS_DIR, SAM_DOCKERFILES, STAGE_DIR
from .deps import dists, locking, sdists, wheelhouse
from .deps.lock import parse_lock
from .deps.requirements import requirement_names
from .deps.target import Target
from .engine import Engine
from .image import dockerfile, one_image, reproducible
from .image.plan import BuildPlan, LockedDist, Needs, dist_key, make_plan, owner
from .image.strip import LOCAL_RULES, StripResult, stripped_local
from .measure import pins as pins_mod
from .project.config import lock_of
from .project.model import ARCHITECTURES, DEFAULT_ARCHITECTURE, ONE_IMAGE, CodeRoot, Config, emulated

log = logging.getLogger("builder")

STRIP_CACHE = f"{CACHE_DIR}/strip.json"
BUILT_RECORD = f"{CACHE_DIR}/built.json"  # image -> its ID and the digest of the inputs it was built from
DEFAULT_JOBS = 4  # concurrent docker builds; BuildKit runs a stage shared by several of them once


@dataclass(frozen=True)
class Analysis:
    """The locked distributions and every function's closure (and what locking did)."""

    index: dists.DistIndex  # the shared lock's distributions
    closures: dict[str, closure_mod.Closure]
    indexes: Mapping[str, dists.DistIndex] = field(default_factory=dict)  # by lock file
    config: Config | None = None  # the configuration the closures were computed with (locks current)
    locked: locking.LockResult = field(default_factory=locking.LockResult)
    dropped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # function -> requirements no import reaches
    failed: Mapping[str, str] = field(default_factory=dict)  # functions left out, with the error of their closure
    services: Mapping[str, aws_services.AwsServices] = field(default_factory=dict)  # functions with botocore


@dataclass(frozen=True)
class Built:
    """One built image and what it cost."""

    function: str
    image: str
    size: int
    above_base: int
    seconds: float


def analyse(
    config: Config, *, functions: Sequence[str] | None = None, engine: Callable[[], Engine] | None = None
) -> Analysis:
    """Lock the requirements and download the wheelhouse if needed (building the wheels of sdists
    with ``engine()``); compute all closures.

    A closure that fails raises its error when its function is one of ``functions`` (all when
    None); the other functions' failures leave them out of the analysis (``failed``).
    """
    locked = locking.ensure(config) if config.locked_by_builder else locking.LockResult()
    if locked.written:
        config = with_locks(config)
    target = Target.from_config(config)
    house = wheelhouse.ensure(config)
    build_sdists(config, house, engine)
    indexes = {}
    for arch in config.architectures:
        arch_target = target.for_architecture(arch)
        for lock in config.lock_files:
            pins = _pins(config, lock, arch_target)
            indexes[closure_mod.index_key(lock, arch)] = dists.DistIndex.from_wheelhouse(house, pins, target=arch_target)
    cache = ParseCache.load(config.root)
    errors: dict[str, AnalysisError] = {}
    closures = closure_mod.compute_closures(config, indexes, target=target, cache=cache, errors=errors)
    cache.save(config.root)
    wanted = set(functions) if functions is not None else {fn.name for fn in config.functions}
    mine = [str(errors[name]) for name in sorted(errors) if name in wanted]
    if mine:
        raise AnalysisError("\n".join(dict.fromkeys(line for text in mine for line in text.splitlines())))
    dropped = {}
    for fn in (fn for fn in config.functions if fn.name in closures):
        asked = {name for rel in fn.requirements for name in requirement_names(config.root / rel, target, config.root)}
        used = {d.name for d in closures[fn.name].distributions}
        if asked - used:
            dropped[fn.name] = tuple(sorted(asked - used))
    failed = {name: str(exc) for name, exc in sorted(errors.items())}
    services = aws_services.compute(config, closures, indexes)
    main = indexes[closure_mod.index_key(config.lock_file, config.architectures[0])]
    return Analysis(main, closures, indexes, config, locked, dropped, failed, services)


def build_sdists(config: Config, house: Path, engine: Callable[[], Engine] | None) -> list[str]:
    """Build each source distribution of the wheelhouse that has no wheel there yet, in a builder
    stage FROM the base of its architecture (``resources/Dockerfile.sdist``; for arm64 on this
    machine, under the emulator), and add the wheel; return their names.

    A wheel built before for the same sdist and target is taken from ``.builder/built-wheels``.
    """
    record, done = wheelhouse.built_from(house), []
    for arch in config.architectures:
        folder = house / sdists.SDISTS / arch
        for archive in sorted(a for a in folder.iterdir() if sdists.is_sdist(a)) if folder.is_dir() else []:
            if (archive.name, arch) in record:
                continue
            key = sdists.key(archive, config.python_version, config.platforms_for(arch)[0])
            cache = work_dir(config.root) / sdists.BUILT / key
            wheel = sdists.built_wheel(cache)
            if wheel is None:
                if engine is None:
                    raise LockError(f"{archive.name} has no wheel for the target and must be built, which needs the "
                                    "Docker engine: run `python -m builder build` (or start the engine) first.")  # fmt: skip
                wheel = _compile_sdist(config, engine(), house, archive, arch, cache)
            wheelhouse.add_built(house, wheel, archive, arch)
            done.append(archive.name)
    return done


def _compile_sdist(config: Config, engine: Engine, house: Path, archive: Path, arch: str, cache: Path) -> Path:
    """Build ``archive`` into a wheel for ``arch`` in a container; keep it in ``cache``; return it."""
    base_image = with_base(config, engine).base_for(arch)
    text = resources.files("builder.resources").joinpath("Dockerfile.sdist").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=work_dir(config.root)) as tmp:
        context, out = Path(tmp) / "context", Path(tmp) / "out"
        shutil.copytree(house / sdists.BUILD_WHEELS, context / "build-wheels")
        shutil.copy2(archive, context / archive.name)
        log.warning("note: %s publishes no wheel for %s: building one from source, in a builder stage FROM %s%s "
                    "(once: it is kept in %s)", archive.name, arch, base_image, " under emulation (qemu)" if emulated(arch) else "",
                    cache.parent.relative_to(config.root))  # fmt: skip
        engine.build_files(context, text, target="wheel", dest=out, build_args={"BASE_IMAGE": base_image, "SDIST": archive.name},
                           platform=None if arch == DEFAULT_ARCHITECTURE else ARCHITECTURES[arch][1])  # fmt: skip
        wheel = sdists.built_wheel(out)
        if wheel is None:
            raise BuildError(f"Building {archive.name} from source gave no single wheel; its output is above.")
        done = Path(tmp) / "done"
        done.mkdir()
        shutil.move(wheel, done / wheel.name)
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        done.rename(cache)  # whole or not at all
    return cache / wheel.name


def _pins(config: Config, lock: str, target: Target) -> dict:
    """The pins of a lock; a lock builder has not written yet (no requirements anywhere) pins nothing."""
    path = config.root / lock
    if config.locked_by_builder and not path.is_file():
        return {}
    return parse_lock(path, target=target)


def with_locks(config: Config) -> Config:
    """``config`` with each function's lock file as builder-locks/ holds them now."""
    functions = tuple(replace(fn, lock_file=lock_of(config.root, fn, config.lock_file)) for fn in config.functions)
    return replace(config, functions=functions)


def plan(config: Config, analysis: Analysis) -> BuildPlan:
    """The build plan from the closures: each image gets only what its function needs."""
    config = analysis.config or config
    locked = {}
    for key, index in (analysis.indexes or {config.lock_file: analysis.index}).items():
        arch = closure_mod.index_architecture(key)
        for name in index.names():
            d = index.dist(name)
            locked[dist_key(d.name, d.version, arch)] = LockedDist(d.name, d.version, d.size, tuple(zip(d.files, d.file_sizes)),
                                                                   d.wheel, arch)  # fmt: skip
    needs = {
        name: Needs(
            dists=frozenset(dist_key(d.name, d.version, c.function.architecture) for d in c.distributions),
            local_files=_shipped(config, c),
            imported=frozenset(dist_key(d.name, d.version, c.function.architecture) for d in c.distributions
                               if d.reasons[0].kind in ("import", "keep")),  # fmt: skip
        )
        for name, c in analysis.closures.items()
    }
    sources = {}
    for need in needs.values():
        for rel in need.local_files:
            source = context_source(config.root, rel)
            if source != rel:
                sources[rel] = source
    cache_path = config.root / STRIP_CACHE
    stored = cachefile.load(cache_path)
    cache = {k: StripResult(tuple(v[0]), tuple(map(tuple, v[1])), tuple(v[2])) for k, v in stored.items()}
    botocore = {
        name: (dist_key(aws_services.BOTOCORE, node.version, analysis.closures[name].function.architecture), found.services)
        for name, found in analysis.services.items()
        if (node := analysis.closures[name].distribution(aws_services.BOTOCORE)) is not None
    }
    result = make_plan(config, needs, locked, strip_cache=cache, sources=sources, services=botocore)
    used = {g.strip_key: g.strip for g in result.groups}  # drop stale entries
    if used.keys() != stored.keys():
        cachefile.save(cache_path, {k: [r.paths, r.removed, r.debug_paths] for k, r in used.items()})
    return result


def _shipped(config: Config, closure: closure_mod.Closure) -> tuple[str, ...]:
    """The closure's local files less the data files that strip rules remove (tests/, C sources...)."""
    rules = (LOCAL_RULES if config.strip.defaults else ()) + config.strip.patterns
    data: dict[CodeRoot, dict[str, str]] = {}
    for f in closure.local_files:
        if f.reasons[0].kind == "data":
            root = owner(closure.function.roots, f.path)
            data.setdefault(root, {})[f.path if root.path == "." else f.path[len(root.path) + 1 :]] = f.path
    gone = {files[inner] for root, files in data.items() for inner in stripped_local(files, rules)}
    return tuple(f.path for f in closure.local_files if f.path not in gone)


def context_source(root: Path, rel: str) -> str:
    """Where the build context has ``rel``: itself, the file a symbolic link on its way points to
    (inside the backend), or a copy under .builder/context/ (the link leads outside the backend)."""
    path = root / rel
    real = Path(os.path.realpath(path))
    if real == path:
        return rel
    try:
        return real.relative_to(root).as_posix()
    except ValueError:
        return f"{CONTEXT_COPIES}/{rel}"


def render(config: Config, analysis: Analysis) -> str:
    """The Dockerfile text for the backend."""
    return dockerfile.render(plan(config, analysis))


def with_base(config: Config, engine: Engine) -> Config:
    """``config`` with the base image a build uses: the one configured, else AWS's Lambda base for
    the runtime when the engine has it, else builder's local stand-in (``base --bootstrap``)."""
    from .image import base

    found = next((image for image in config.base_candidates() if engine.image_exists(image)), None)
    if found is not None:
        if base.stale(found, engine.image_info(found).labels):
            log.warning("note: the base image %s was made by another version of builder (its Dockerfile.base, "
                        "entrypoint or Lambda emulator differ from this one's), so local runs may not behave as "
                        "this builder's do. Make it again with %s.", found,
                        base.make_command(config.python_version))  # fmt: skip
        return replace(config, base_image=found)
    where = "" if config.base_image_set else f" (AWS's Lambda base for python{config.python_version})"
    raise ConfigError(
        f"The base image {config.base_image}{where} is not available locally. Pull it (`docker pull "
        f"{config.base_image}`), or make a local stand-in with {base.make_command(config.python_version)}, "
        "which builds then use."
    )


def write_context(config: Config, build_plan: BuildPlan) -> None:
    """Write what the Dockerfiles read from the build context besides the sources and the wheels:
    strip lists, the one image's modules, copies of files behind links that lead outside the
    backend, and the classic-builder Dockerfiles `sam build` reads, one per architecture that has
    functions (whose base is the plan's)."""
    work_dir(config.root)
    wheelhouse.verify(config, [config.root / wheel for wheel in dockerfile.group_wheels(build_plan).values()])
    _write_groups(config.root, build_plan)
    stage = resources.files("builder") / "resources" / "stage.py"
    write_atomic(config.root / STAGE_DIR / "stage.py", stage.read_text(encoding="utf-8"))
    for relative, text in one_image.plan(build_plan).dispatchers:
        write_atomic(config.root / relative, text)
    for fn in build_plan.functions:
        for rel, source in fn.sources:
            if source.startswith(CONTEXT_COPIES + "/"):
                _copy_in(config.root / rel, config.root / source)
    whole = len(config.architectures) == 1  # a file of all the functions, with their one image last
    for architecture, relative in SAM_DOCKERFILES.items():
        part = build_plan.of_architecture(architecture)
        if part.functions:
            write_atomic(config.root / relative, dockerfile.render(part, classic=True, one_image=whole))
        else:
            (config.root / relative).unlink(missing_ok=True)


def _write_groups(root: Path, build_plan: BuildPlan) -> None:
    """Each group's folder: its wheels (hard links into the wheelhouse), pins and strip lists; a
    folder holds nothing else, so a build step's cache key covers exactly its group."""
    files = dockerfile.group_files(build_plan)
    wheels = dockerfile.group_wheels(build_plan)
    wanted = {*files, *wheels}
    groups = root / GROUPS_DIR
    for stale in (p for p in groups.rglob("*") if p.is_file()) if groups.is_dir() else ():
        if stale.relative_to(root).as_posix() not in wanted:
            stale.unlink()
    for relative, text in files.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)
    for relative, wheel in wheels.items():
        link, source = root / relative, root / wheel
        if link.is_file() and os.path.samefile(link, source):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        try:
            os.link(source, link)
        except OSError:  # another file system, or no hard links: a copy
            shutil.copyfile(source, link)


def prepare(config: Config, build_plan: BuildPlan) -> str:
    """Write the build context (``write_context``) and return the Dockerfile to build with.
    ``config`` has its base image resolved (``with_base``)."""
    write_context(config, build_plan)
    return dockerfile.render(build_plan)


def _copy_in(path: Path, dest: Path) -> None:
    try:
        data = path.read_bytes()
        if not dest.is_file() or dest.read_bytes() != data:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    except OSError as exc:
        raise BuildError(f"Cannot copy {path} (reached through a symbolic link) into the build context: {exc}.") from exc


def check_one_image(config: Config) -> None:
    """A ConfigError when ``images = "one"`` asks for one image of functions of two architectures."""
    if config.images == ONE_IMAGE and len(config.architectures) > 1:
        raise ConfigError(f'images = "one" needs every function on one architecture, and {config.name} has '
                          f"{' and '.join(config.architectures)} functions. Remove images, or set one architecture.")  # fmt: skip


def build(
    config: Config,
    engine: Engine,
    dockerfile_text: str,
    function: str,
    *,
    tag: str = "latest",
) -> Built:
    """Build one function's production image (its stage of the prepared Dockerfile) and measure it;
    with ``images = "one"`` the image of every function (``function`` is then any of them)."""
    image = config.image(function, tag)
    target = dockerfile.ONE_IMAGE_TARGET if config.images == ONE_IMAGE else function
    arch = config.function(function).architecture
    check_one_image(config)
    base_image = config.base_for(arch)
    if arch != DEFAULT_ARCHITECTURE and not engine.image_exists(base_image):
        from .image.base import make_command

        raise ConfigError(
            f"{function} runs on {arch}, and its base image {base_image} is not available locally. Make it with "
            f"{make_command(config.python_version, arch)}, or pull AWS's "
            f"public.ecr.aws/lambda/python:{config.python_version}-{arch} and tag it {base_image}."
        )
    started = time.monotonic()
    platform = None if arch == DEFAULT_ARCHITECTURE else ARCHITECTURES[arch][1]
    engine.build(config.root, dockerfile_text, target=target, tag=image, platform=platform)
    fix_times(engine, image, reproducible.epoch(os.environ))
    seconds = time.monotonic() - started
    size, base = engine.image_info(image).size, engine.image_info(base_image).size
    return Built(function, image, size, size - base, seconds)


def fix_times(engine: Engine, image: str, seconds: int) -> str:
    """Give ``image`` the config :mod:`builder.image.reproducible` makes (every time ``seconds``);
    return its image ID, the same for the same inputs on any machine with the same engine."""
    attrs, api_history = engine.image_config(image)
    layers = len((attrs.get("RootFS") or {}).get("Layers") or ())
    history = reproducible.history_from_api(api_history, layers)
    if history is None:  # the history API left it open which steps made layers: read the stored config
        history = reproducible.history_from_config(engine.stored_config(image))
    config = reproducible.fixed_config(attrs, history, seconds)
    image_id = f"sha256:{hashlib.sha256(config).hexdigest()}"
    if image_id != attrs.get("Id"):
        engine.load(reproducible.load_archive(config, image_id, [image], layers))
        try:
            engine.remove_image(str(attrs["Id"]))  # the build's own config, untagged now: not left behind
        except EngineError:
            pass  # in use after all: the next build's clean-up of untagged images takes it
    return image_id


def build_many(
    config: Config,
    engine: Engine,
    dockerfile_text: str,
    functions: Sequence[str],
    *,
    tag: str = "latest",
    jobs: int = DEFAULT_JOBS,
    on_done: Callable[[Built], None] | None = None,
) -> list[Built]:
    """Build several functions' images, ``jobs`` at a time; return them in the order asked.

    A function whose image starts with layers another one asked for shares waits for the first
    of them to be built (:func:`builder.image.reproducible.build_after`): built at once, shared
    layers could come out as other bytes. After a failure no further build starts; the ones
    running finish (their images are kept) and the failure of the first function asked for is
    raised.
    """
    functions = list(dict.fromkeys(functions))  # each one once
    failed = threading.Event()
    after = reproducible.build_after(dockerfile_text, functions)

    def one(name: str) -> Built:
        try:
            built = build(config, engine, dockerfile_text, name, tag=tag)
        except BaseException:
            failed.set()
            raise
        if on_done is not None:
            on_done(built)
        return built

    futures: dict[str, Future[Built]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            while not failed.is_set() and len(futures) < len(functions):
                ended = {name for name, f in futures.items() if f.done()}
                for name in functions:
                    if name not in futures and after[name] <= ended and len(futures) - len(ended) < max(1, jobs):
                        futures[name] = pool.submit(one, name)
                        if failed.is_set():
                            break
                running = [f for f in futures.values() if not f.done()]
                if running:
                    wait(running, return_when=FIRST_COMPLETED)
            wait(futures.values())
        except BaseException:  # Ctrl-C: start nothing more, and stop the builds running
            failed.set()
            proc.stop_all()
            raise
    errors = [error for name in functions if name in futures and (error := futures[name].exception()) is not None]
    if errors:
        raise errors[0]
    return [futures[name].result() for name in functions]


def inputs_digest(config: Config, build_plan: BuildPlan, function: str, base_id: str) -> str:
    """A digest of what goes into ``function``'s image: builder's version, the base image, its plan
    (groups of distributions, files, roots) and the content of every backend file it ships."""
    from . import __version__

    fn = next(f for f in build_plan.functions if f.name == function)
    digest = hashlib.sha256(repr((__version__, base_id, build_plan.python_version, fn,
                                  [build_plan.group(g) for g in fn.groups])).encode())  # fmt: skip
    for rel in (*fn.shared_files, *fn.own_files):
        digest.update(rel.encode() + b"\0")
        try:
            digest.update(hashlib.sha256((config.root / rel).read_bytes()).digest())
        except OSError:
            digest.update(b"(unreadable)")
    return digest.hexdigest()


def watched(config: Config, build_plan: BuildPlan, function: str) -> list[Path]:
    """The files ``function``'s image is made from: what it ships, its requirements and locks, the
    configuration (a change to any of them may change the image)."""
    fn = next(f for f in build_plan.functions if f.name == function)
    rels = [*fn.shared_files, *fn.own_files, *config.function(function).requirements, *config.lock_files,
            *config.templates, "builder.toml"]
    return [config.root / rel for rel in dict.fromkeys(rels)]


def record_built(config: Config, engine: Engine, build_plan: BuildPlan, built: Sequence[Built]) -> None:
    """Remember which inputs each image was built from, so a local run can tell a stale image."""
    path = config.root / BUILT_RECORD
    record = cachefile.load(path)
    names = {f.name for f in build_plan.functions}
    base_ids = {base: engine.image_info(base).id for base in {build_plan.base_of(name) for name in names}}
    for item in built:
        image_id = engine.image_info(item.image).id
        functions = names if config.images == ONE_IMAGE else {item.function}
        record[item.image] = {"id": image_id, "inputs": {
            name: inputs_digest(config, build_plan, name, base_ids[build_plan.base_of(name)]) for name in sorted(functions)}}
    cachefile.save(path, record)


def stale_reason(config: Config, engine: Engine, build_plan: BuildPlan, function: str, tag: str) -> str | None:
    """Why ``function``'s image must be built before it runs (missing, built from other sources,
    or not by builder), or None when it is the image its sources make today."""
    image = config.image(function, tag)
    if not engine.image_exists(image):
        return f"{image} does not exist"
    entry = cachefile.load(config.root / BUILT_RECORD).get(image)
    if not isinstance(entry, dict) or entry.get("id") != engine.image_info(image).id:
        return f"builder has no record of building {image} (it was built elsewhere, or before builder kept one)"
    base_id = engine.image_info(build_plan.base_of(function)).id
    if (entry.get("inputs") or {}).get(function) != inputs_digest(config, build_plan, function, base_id):
        return f"{image} is older than its sources (its code, requirements or base changed since it was built)"
    return None


def event_path(config: Config, function: str) -> Path:
    """The sample event of a function."""
    return config.root / config.function(function).event


def pins(config: Config, engine: Engine, names: Sequence[str], tag: str) -> list[pins_mod.Pin]:
    """Whether each function's local image (``tag``) is the one its template's ``ImageUri`` pins.

    The engine's ``RepoDigests`` answer for an image pushed or pulled here; otherwise the
    registry is asked which config the pinned manifest names.
    """
    from .engine.registry_api import PINNED  # http.client and ssl: only for this question
    from .sam.template import load_template

    templates = {path: load_template(config.root / path) for path in config.templates}
    out = []
    for name in names:
        fn = config.function(name)
        info = templates[fn.template].function(fn.logical_id) if fn.logical_id and fn.template in templates else None
        uri = info.properties.get("ImageUri") if info else None
        pinned = uri if isinstance(uri, str) and PINNED.match(uri) else ""
        attrs, _ = engine.image_config(config.image(name, tag))
        digests = tuple(attrs.get("RepoDigests") or ())
        held, why = _pinned_config(pinned) if pinned and pinned not in digests else (None, "")
        status = pins_mod.verdict(pinned, str(attrs.get("Id", "")), digests, held)
        out.append(pins_mod.Pin(name, pinned, str(attrs.get("Id", "")), status, why if status == pins_mod.UNKNOWN else ""))
    return out


def _pinned_config(pinned: str) -> tuple[str | None, str]:
    """The image config the registry's manifest ``pinned`` names, or None and why not (ECR's
    credentials are used; other registries are asked without any)."""
    from .engine import registry, registry_api  # the SDK and the network only for this question

    name, _, digest = pinned.partition("@")
    try:
        repository = registry.parse_repository(name)
        auth = registry.credentials(repository)
    except BuilderError as exc:
        return None, str(exc)
    remote = registry_api.remote_image(repository.host, repository.path, digest, auth=auth)
    return (remote.config, "") if remote else (None, f"{repository} did not answer for the pinned digest")
