"""The build plan: which dependency groups and which local files go into each image.

Pure: takes what each function needs (from its closure) and the locked
distributions, returns frozen data that :mod:`builder.dockerfile` renders.

Distributions are grouped by the exact set of functions that need them; each
group is installed into its own folder ``/opt/deps/<group>``, so the same group
gives the same layer (same digest) in every image that uses it.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import defaultdict
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from ..core.paths import WHEELHOUSE
from ..project.model import DEFAULT_ARCHITECTURE, CodeRoot, Config, FunctionConfig, StripConfig, base_for
from .strip import DEFAULT_DEBUG, DEFAULT_RULES, StripResult, plan_debug_strip, plan_strip

DEPS_ROOT = "/opt/deps"
MODELS_ROOT = "/opt/aws-models"  # botocore's service models, a folder per set of services (AWS_DATA_PATH)
BOTOCORE = "botocore"
# When a plan ships botocore's service models as layers of their own, botocore's group loses them
# (the files at the top of botocore/data, endpoints and partitions, stay with botocore).
MODELS_RULE = "/botocore/data/*/"
# boto3's resource models (boto3/data/<service>/) go with them: boto3 adds its folder to the
# same loader, which searches AWS_DATA_PATH first.
BOTO3 = "boto3"
RESOURCES_RULE = "/boto3/data/*/"
# botocore's loader reads a model as <name>.json or <name>.json.gz; a botocore whose wheel ships
# .json.gz files has that loader, and its other JSON data is compressed too (endpoints.json:
# 1.25 MB, 50 kB compressed). Patterns relative to the folder the files are installed in.
BOTOCORE_GZIP = "botocore/data/*.json"
MODELS_GZIP = "*/*/*.json"
MAX_DEP_LAYERS = 8  # per image; past it, a function's smallest groups are merged
_PRIVATE = "!private"  # marks the merged group of one function in a users set


@dataclass(frozen=True)
class LockedDist:
    """A locked distribution: canonical name, pinned version, installed size in bytes."""

    name: str
    version: str
    size: int = 0
    files: tuple[tuple[str, int], ...] = ()  # installed paths and sizes (for strip rules)
    wheel: str = ""  # file name in the wheelhouse
    architecture: str = DEFAULT_ARCHITECTURE  # Lambda's: the wheel is for its machine

    @property
    def key(self) -> str:
        """Its ``dist_key``: how ``Needs`` name it."""
        return dist_key(self.name, self.version, self.architecture)


@dataclass(frozen=True)
class Needs:
    """What one function needs at run time."""

    dists: frozenset[str]
    local_files: tuple[str, ...]  # posix paths relative to the backend root
    imported: frozenset[str] | None = None  # of ``dists``, those its code imports (None: all of them)

    @property
    def imported_dists(self) -> frozenset[str]:
        """Of ``dists``, those its code imports: all of them when that is not known."""
        return self.imported if self.imported is not None else self.dists


@dataclass(frozen=True)
class DepGroup:
    """Distributions installed together into one folder, shared by the same functions."""

    name: str
    dists: tuple[LockedDist, ...]
    functions: tuple[str, ...]
    strip: StripResult = StripResult((), ())
    strip_key: str = ""  # what ``strip`` was computed from (the strip cache's key)
    sources: bool = True  # False: bytecode only, without the .py sources (``[strip] sources``)
    platforms: tuple[str, ...] = ()  # wheel platform tags when its architecture is not x86_64
    gzip: tuple[str, ...] = ()  # patterns of installed JSON files compressed in place (BOTOCORE_GZIP)

    @property
    def architecture(self) -> str:
        return self.dists[0].architecture if self.dists else DEFAULT_ARCHITECTURE

    @property
    def path(self) -> str:
        return f"{DEPS_ROOT}/{self.name}"

    @property
    def size(self) -> int:
        return sum(d.size for d in self.dists)


@dataclass(frozen=True)
class ModelsGroup:
    """botocore's service models for the functions that use the same services: one layer, shared
    by them, which botocore finds through ``AWS_DATA_PATH``."""

    name: str
    dist: LockedDist  # the botocore whose wheel holds them
    services: tuple[str, ...] | None  # None: every model
    functions: tuple[str, ...]
    size: int = 0  # bytes of the models, installed (before compression)
    resources: LockedDist | None = None  # the functions' boto3, whose resource models go here too

    @property
    def gzip(self) -> bool:
        """Whether its JSON files are compressed (its botocore reads .json.gz)."""
        return reads_gzip(self.dist)

    @property
    def path(self) -> str:
        return f"{MODELS_ROOT}/{self.name}"


def reads_gzip(botocore: LockedDist) -> bool:
    """Whether this botocore's loader reads compressed models: its wheel ships some."""
    return any(path.startswith("botocore/data/") and path.endswith(".json.gz") for path, _ in botocore.files)


def _models_size(dists: Sequence[LockedDist], services: tuple[str, ...] | None) -> int:
    return sum(size for d in dists for path, size in d.files
               if (model := _model_of(path, d.name)) and (services is None or model in services))  # fmt: skip


def _model_of(path: str, dist: str = BOTOCORE) -> str:
    """The service whose model folder holds ``path`` in botocore's or boto3's ``data`` folder
    ("" for any other file)."""
    if not path.startswith(f"{dist}/data/"):
        return ""
    parts = path.split("/", 3)
    return parts[2] if len(parts) > 3 else ""


@dataclass(frozen=True)
class FunctionPlan:
    """One production image: its groups (lowest layer first), shared code (layers), own code.

    Files are paths relative to the backend root; ``roots`` says where each is in the image
    and ``sources`` where the build context has a file that is reached through a symbolic link.
    """

    name: str
    handler: str
    groups: tuple[str, ...]
    shared_files: tuple[str, ...]
    own_files: tuple[str, ...]
    roots: tuple[CodeRoot, ...] = FunctionConfig.roots
    sources: tuple[tuple[str, str], ...] = ()  # (file, its path in the build context)
    models: str = ""  # its ModelsGroup ("": botocore, if it has it, keeps its models)
    architecture: str = DEFAULT_ARCHITECTURE

    @property
    def pythonpath(self) -> str:
        return ":".join([*python_path(self.roots), *(f"{DEPS_ROOT}/{g}" for g in self.groups)])

    def image_path(self, rel: str) -> str:
        """Where the backend file ``rel`` is in the image."""
        return owner(self.roots, rel).image_path(rel)

    def source(self, rel: str) -> str:
        """Where the build context holds ``rel`` (itself, unless it is reached through a link)."""
        return dict(self.sources).get(rel, rel)


def owner(roots: tuple[CodeRoot, ...], rel: str) -> CodeRoot:
    """The code root a file belongs to: the innermost that holds it (a layer inside a CodeUri of ".")."""
    return max((r for r in roots if r.holds(rel)), key=lambda r: len(r.path) if r.path != "." else 0)


def python_path(roots: tuple[CodeRoot, ...]) -> tuple[str, ...]:
    """The image folders on ``sys.path`` that code roots give, in Lambda's order: the code first,
    then the layers' ``python/lib/python3.X/site-packages`` and ``python``."""
    first = [posixpath.normpath(posixpath.join(roots[0].dest, s)) for s in roots[0].search]
    layers = {posixpath.normpath(posixpath.join(r.dest, s)) for r in roots[1:] for s in r.search}
    return tuple(dict.fromkeys([*first, *sorted(layers, key=lambda d: (not d.endswith("site-packages"), d))]))


def dist_key(name: str, version: str, architecture: str = DEFAULT_ARCHITECTURE) -> str:
    """How the plan knows a locked distribution: by pin, since functions may lock different versions,
    and by architecture (its wheel is another for arm64)."""
    return f"{name}=={version}" if architecture == DEFAULT_ARCHITECTURE else f"{name}=={version}@{architecture}"


@dataclass(frozen=True)
class BuildPlan:
    """Everything the shared multi-stage Dockerfile needs, in a deterministic order."""

    project: str
    base_image: str
    python_version: str
    wheelhouse: str
    groups: tuple[DepGroup, ...]
    functions: tuple[FunctionPlan, ...]
    one_image_shared: bool = True  # Config.one_image_shared: the one image needs no start modules
    models: tuple[ModelsGroup, ...] = ()
    arm64_base: str = ""  # the base of the arm64 functions, when there are any

    def on_base(self, base_image: str) -> BuildPlan:
        """This plan on the base ``base_image`` (the one a build found), and its arm64 counterpart."""
        return replace(self, base_image=base_image, arm64_base=base_for(base_image, "arm64") if self.arm64_base else "")

    def base_of(self, function: str) -> str:
        """The base image of ``function``'s image."""
        arm = next(f for f in self.functions if f.name == function).architecture != DEFAULT_ARCHITECTURE
        return self.arm64_base if arm else self.base_image

    @property
    def cross(self) -> bool:
        """Whether some images are for arm64: builder stages then run on the build machine's platform."""
        return any(fn.architecture != DEFAULT_ARCHITECTURE for fn in self.functions)

    def of_architecture(self, architecture: str) -> BuildPlan:
        """The part of this plan that builds ``architecture``'s functions: their groups, models and
        images (what one build for one platform can hold, as the classic builder's must)."""
        functions = tuple(f for f in self.functions if f.architecture == architecture)
        groups = {g for f in functions for g in f.groups}
        models = {f.models for f in functions}
        return replace(self, functions=functions, groups=tuple(g for g in self.groups if g.name in groups),
                       models=tuple(m for m in self.models if m.name in models),
                       arm64_base=self.arm64_base if architecture != DEFAULT_ARCHITECTURE else "")  # fmt: skip

    def group(self, name: str) -> DepGroup:
        return next(g for g in self.groups if g.name == name)

    def models_group(self, name: str) -> ModelsGroup:
        return next(m for m in self.models if m.name == name)


def _group_name(dists: list[LockedDist], imported: list[LockedDist]) -> str:
    """Named after the distributions in it that code imports (the rest is what they require),
    largest first; after its largest member when code imports none of them (a dependency that
    several groups' distributions share)."""
    named = sorted(imported or dists, key=lambda d: (-d.size, d.name))
    if not imported:
        named = named[:1]
    more = f"-and-{len(named) - 2}-more" if len(named) > 2 else ""
    return "-".join(d.name for d in named[:2]) + more


def _versioned(name: str, dists: list[LockedDist]) -> str:
    """A group name made unique by its largest member's version (two locks, two versions of it)."""
    biggest = sorted(dists, key=lambda d: (-d.size, d.name))[0]
    return f"{name}-{biggest.version}".replace("+", "-")


def _make_groups(needs: Mapping[str, Needs], dists: Mapping[str, LockedDist]) -> dict[frozenset[str], list[LockedDist]]:
    users: dict[str, set[str]] = defaultdict(set)
    for function, need in needs.items():
        for dist in need.dists:
            users[dist].add(function)
    by_users: dict[frozenset[str], list[LockedDist]] = defaultdict(list)
    for dist, functions in sorted(users.items()):
        by_users[frozenset(functions)].append(dists[dist])
    return by_users


def _bound_layers(by_users: dict[frozenset[str], list[LockedDist]]) -> dict[frozenset[str], list[LockedDist]]:
    """Merge a function's smallest groups into one private group when it has too many.

    Merging gives up sharing for those (small) distributions; it keeps the
    number of layers per image bounded.
    """
    functions = sorted({f for users in by_users for f in users})
    for function in functions:
        mine = [u for u in by_users if function in u]
        if len(mine) <= MAX_DEP_LAYERS:
            continue
        mine.sort(key=lambda u: (-sum(d.size for d in by_users[u]), sorted(u)))
        merged: list[LockedDist] = []
        for users in mine[MAX_DEP_LAYERS - 1 :]:
            dists = by_users.pop(users)
            merged += dists
            rest = users - {function}
            if rest:  # the other users keep their own copy
                by_users.setdefault(rest, []).extend(dists)
        by_users.setdefault(frozenset({function, function + _PRIVATE}), []).extend(merged)
    return by_users


def strip_key(members: list[LockedDist], rules: StripConfig) -> str:
    """What a group's strip result depends on: its wheels and the rules (a cache key)."""
    text = repr((sorted(d.wheel or f"{d.name}=={d.version}" for d in members), rules, DEFAULT_RULES, DEFAULT_DEBUG))
    return hashlib.sha256(text.encode()).hexdigest()


def _strip(members: list[LockedDist], rules: StripConfig, cache: MutableMapping[str, StripResult] | None,
           key: str) -> StripResult:  # fmt: skip
    if cache is not None and key in cache:
        return cache[key]
    files = {d.name: d.files for d in members}
    result = plan_strip(
        files,
        rules=(DEFAULT_RULES if rules.defaults else ()) + rules.patterns,
        per_dist=dict(rules.per_dist),
    )
    removed = set(result.paths)
    patterns = {**({d: DEFAULT_DEBUG for d in files} if rules.defaults else {}), **dict(rules.debug_symbols)}
    debug = [
        p for p in plan_debug_strip(files, patterns)
        if not any(p == r or p.startswith(r + "/") for r in removed)
    ]
    result = replace(result, debug_paths=tuple(debug))
    if cache is not None:
        cache[key] = result
    return result


def _without_models(rules: StripConfig, names: set[str]) -> StripConfig:
    """``rules`` with the model folders of botocore and boto3 (those of ``names``) removed from
    their group: the models layers have them."""
    per_dist = dict(rules.per_dist)
    for name, rule in ((BOTOCORE, MODELS_RULE), (BOTO3, RESOURCES_RULE)):
        if name in names:
            per_dist[name] = (*per_dist.get(name, ()), rule)
    return replace(rules, per_dist=tuple(sorted(per_dist.items())))


def _models_name(services: tuple[str, ...] | None) -> str:
    if services is None:
        return "aws-all"
    if len(services) <= 3:
        return "aws-" + "-".join(services)
    digest = hashlib.sha256(",".join(services).encode()).hexdigest()[:8]
    return f"aws-{services[0]}-{services[1]}-and-{len(services) - 2}-more-{digest}"


def _arch_suffix(architecture: str) -> str:
    """What a group's name gets for another architecture than x86_64 (its wheels are others)."""
    return "" if architecture == DEFAULT_ARCHITECTURE else f"-{architecture}"


def _models_groups(needs: Mapping[str, Needs], dists: Mapping[str, LockedDist],
                   services: Mapping[str, tuple[str, tuple[str, ...] | None]]) -> list[ModelsGroup]:  # fmt: skip
    """One group per botocore and set of services; a botocore is left whole (no groups) unless
    every function that has it says which models it needs."""
    managed = {key for key, _ in services.values()}
    managed = {key for key in managed if all(fn in services for fn, need in needs.items() if key in need.dists)}
    by_set: dict[tuple[str, tuple[str, ...] | None], list[str]] = defaultdict(list)
    for fn in sorted(services):
        key, wanted = services[fn]
        if key in managed and fn in needs:
            by_set[(key, wanted)].append(fn)
    groups = []
    for (key, wanted), fns in by_set.items():
        by_boto3: dict[str, list[str]] = defaultdict(list)  # a layer per boto3 that brings its resources
        for fn in fns:
            by_boto3[next((k for k in sorted(needs[fn].dists) if k in dists and dists[k].name == BOTO3), "")].append(fn)
        if "" in by_boto3 and len(by_boto3) == 2:  # functions with botocore alone share the one boto3's layer
            by_boto3[next(k for k in by_boto3 if k)] += by_boto3.pop("")
        for boto3, members in sorted(by_boto3.items()):
            resources = dists[boto3] if boto3 else None
            name = _models_name(wanted) + _arch_suffix(dists[key].architecture)
            name += f"-boto3-{resources.version}" if resources and len(by_boto3) > 1 else ""
            groups.append(ModelsGroup(name, dists[key], wanted, tuple(sorted(members)),
                                      _models_size([dists[key], *([resources] if resources else [])], wanted),
                                      resources))  # fmt: skip
    names = [m.name for m in groups]
    groups = [m if names.count(m.name) == 1 else replace(m, name=f"{m.name}-{m.dist.version}") for m in groups]
    return sorted(groups, key=lambda m: (-len(m.functions), m.name))


def make_plan(
    config: Config,
    needs: Mapping[str, Needs],
    dists: Mapping[str, LockedDist],
    *,
    strip_cache: MutableMapping[str, StripResult] | None = None,
    sources: Mapping[str, str] | None = None,
    services: Mapping[str, tuple[str, tuple[str, ...] | None]] | None = None,
) -> BuildPlan:
    """Plan the images of every function in ``needs`` (a function name -> what it needs).

    ``dists`` maps the keys ``needs`` uses to the locked distributions. ``strip_cache``
    (key -> result) spares matching every installed file against the strip rules again
    when a group's wheels and the rules are unchanged. ``sources`` maps files reached
    through symbolic links to where the build context has them. ``services`` maps a function
    to its botocore (the key in ``dists``) and the service models it needs (None: all): each
    set of models is a layer of its own, and botocore's group ships none.
    """
    models = _models_groups(needs, dists, services or {})
    trimmed = {m.dist.key for m in models}
    # a boto3 loses its resource models when each function that has it gets them from a models layer
    in_layers = {(m.resources.key, fn) for m in models if m.resources for fn in m.functions}
    trimmed |= {key for key, _ in in_layers
                if all((key, fn) in in_layers for fn, need in needs.items() if key in need.dists)}
    by_users = _bound_layers(_make_groups(needs, dists))
    groups = []
    key_of = {id(d): k for k, d in dists.items()}
    for users, members in by_users.items():
        members = sorted(set(members), key=lambda d: (d.name, d.version))
        private = [f.removesuffix(_PRIVATE) for f in users if f.endswith(_PRIVATE)]
        functions = tuple(sorted(f for f in users if not f.endswith(_PRIVATE)))
        imported = [d for d in members if any(key_of[id(d)] in needs[f].imported_dists for f in functions)]
        name = f"{private[0]}-private" if private else _group_name(members, imported)
        arch = members[0].architecture if members else DEFAULT_ARCHITECTURE
        platforms = () if arch == DEFAULT_ARCHITECTURE else config.platforms_for(arch)
        name += _arch_suffix(arch)
        without = {d.name for d in members if d.key in trimmed}
        rules = _without_models(config.strip, without) if without else config.strip
        key = strip_key(members, rules)
        stripped = _strip(members, rules, strip_cache, key)
        gzip = tuple(BOTOCORE_GZIP for d in members if d.name == BOTOCORE and reads_gzip(d))
        groups.append(DepGroup(name, tuple(members), functions, stripped, key, config.strip.sources, platforms, gzip))
    names = [g.name for g in groups]
    groups = [g if names.count(g.name) == 1 else replace(g, name=_versioned(g.name, list(g.dists))) for g in groups]
    # Shared by many first (changes least, lowest layer), then by name.
    groups.sort(key=lambda g: (-len(g.functions), g.name))
    plans = []
    sources = dict(sources or {})
    for fn in config.functions:
        if fn.name not in needs:
            continue
        need = needs[fn.name]
        if fn.roots[0].tops is not None:  # builder's own layout: code beside the handler is its own
            own_dir = posixpath.dirname(fn.module_path) + "/"
            mine_files = {f for f in need.local_files if f.startswith(own_dir)}
        else:  # a CodeUri is the function's own; its layers are shared
            mine_files = {f for f in need.local_files if owner(fn.roots, f) is fn.roots[0]}
        own = tuple(sorted(mine_files))
        shared = tuple(sorted(set(need.local_files) - mine_files))
        mine = tuple(g.name for g in groups if fn.name in g.functions and {key_of[id(d)] for d in g.dists} & need.dists)
        linked = tuple(sorted((f, sources[f]) for f in need.local_files if f in sources))
        models_of = next((m.name for m in models if fn.name in m.functions), "")
        plans.append(FunctionPlan(fn.name, fn.handler, mine, shared, own, fn.roots, linked, models_of, fn.architecture))
    return BuildPlan(
        project=config.name,
        base_image=config.base_image,
        python_version=config.python_version,
        wheelhouse=WHEELHOUSE,
        groups=tuple(groups),
        functions=tuple(plans),
        one_image_shared=config.one_image_shared,
        models=tuple(models),
        arm64_base=config.base_for("arm64") if any(p.architecture != DEFAULT_ARCHITECTURE for p in plans) else "",
    )
