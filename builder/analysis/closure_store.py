"""A run's closures kept with the ``ParseCache`` and reused while nothing they came from has changed.

Stored as JSON-able tables (each string, reason, file and distribution once); reused when the
fingerprint of everything but file contents (``ImportGraph.fingerprint``) and the content of
every file the run read are the same.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from ..deps.target import Target
from ..project.model import Config
from .import_graph import ImportGraph
from .parse_cache import ParseCache
from .records import Closure, ClosureWarning, DistNode, LocalFile, Reason


def reuse(config: Config, target: Target, cache: ParseCache, key: str | None) -> dict[str, Closure] | None:
    """The stored closures, if they were computed from what is here now, else None.

    They were if the fingerprint is the same (builder's code, config, target, distributions,
    module tables, include matches, data files: see ``ImportGraph.fingerprint``) and so is
    the content of every file their run read (by content hash; the parse cache's stat
    signatures spare reading the unchanged ones). Those are all the inputs of the computation.
    """
    cache.closures_reused = False
    data = cache.stored_closures()
    if key is None or data.get("key") != key:
        return None
    try:
        if not cache.unchanged(str(config.root), data["read"]):
            return None
        closures = decode(data, config, target)
    except (OSError, LookupError, TypeError, ValueError, AttributeError):
        return None  # a file gone or unreadable (computing again reports it), or a damaged cache
    cache.closures_reused = True
    return closures


def encode(key: str, graphs: list[ImportGraph], closures: dict[str, Closure]) -> dict:
    """Closures as JSON-able tables: each distinct string, reason, file and distribution once, a closure
    as indexes. Parallel lists rather than a list per item: they load several times faster."""
    files: dict[LocalFile, int] = {}
    dists: dict[DistNode, int] = {}
    stored: dict[str, list[Any]]  # a row of mixed columns per closure
    stored = {name: [[files.setdefault(f, len(files)) for f in c.local_files],
                     [dists.setdefault(d, len(dists)) for d in c.distributions],
                     [[w.path, w.line, w.message] for w in c.warnings], c.lock_file,
                     [[n, why] for n, why in c.runtime]] for name, c in closures.items()}  # fmt: skip
    runtime = [why for c in closures.values() for _, why in c.runtime]
    reasons = {r: i for i, r in enumerate(dict.fromkeys(chain.from_iterable(
        (*(f.reasons for f in files), *(d.reasons for d in dists), *runtime))))}  # fmt: skip
    local = {f.path: f for f in files}
    strings = {text: i for i, text in enumerate(dict.fromkeys((*local, *chain.from_iterable(r[:2] for r in reasons))))}
    digests = graphs[0].cache.digests
    read = sorted({rel for graph in graphs for rel in graph.sizes})
    return {
        "key": key,
        "read": {rel: digests[rel] for rel in read},
        "strings": list(strings),  # the paths of local files first: "sizes" and "modules" follow them
        "sizes": [f.size for f in local.values()],
        "modules": [f.module for f in local.values()],
        "reasons": [[strings[r.kind] for r in reasons], [strings[r.origin] for r in reasons],
                    [r.detail for r in reasons]],
        "files": [[strings[f.path] for f in files], [f.optional for f in files],
                  [[reasons[r] for r in f.reasons] for f in files]],
        "dists": [[d.name, d.version, d.size, [reasons[r] for r in d.reasons], d.optional] for d in dists],
        "closures": {name: [*parts[:4], [[n, [reasons[r] for r in why]] for n, why in parts[4]]]
                     for name, parts in stored.items()},
    }  # fmt: skip


def decode(data: dict, config: Config, target: Target) -> dict[str, Closure]:
    new = tuple.__new__  # as in FileImports.from_json: no Python-level __new__ per tuple
    strings, sizes, modules = data["strings"], data["sizes"], data["modules"]
    kinds, origins, details = data["reasons"]
    reasons = [new(Reason, (strings[k], strings[o], d)) for k, o, d in zip(kinds, origins, details, strict=True)]
    reason = reasons.__getitem__
    files = [new(LocalFile, (strings[p], tuple(map(reason, why)), optional, sizes[p], modules[p]))
             for p, optional, why in zip(*data["files"], strict=True)]  # fmt: skip
    dists = [new(DistNode, (name, version, size, tuple(map(reason, why)), optional))
             for name, version, size, why, optional in data["dists"]]  # fmt: skip
    stored, out = data["closures"], {}
    for fn in config.functions:
        local, nodes, warnings, lock_file, runtime = stored[fn.name]
        out[fn.name] = Closure(fn, target.for_architecture(fn.architecture), tuple(map(files.__getitem__, local)),
                               tuple(map(dists.__getitem__, nodes)), tuple(ClosureWarning(*w) for w in warnings),
                               lock_file, tuple((n, tuple(map(reason, why))) for n, why in runtime))  # fmt: skip
    return out
