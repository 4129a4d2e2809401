"""Per-function dependency closures: what a handler can import, and nothing else.

Starting at a function's handler module, imports are followed through the
backend's source roots (see ``imports.py`` for what counts as an import), then
third-party imports are mapped to locked distributions (``dists.py``) and those
are closed over their ``Requires-Dist``, with markers evaluated for the target
image's Python, not the host's. Every file and distribution carries the reasons
it is in: ``Reason("import", "functions/analytics/report.py", 3)`` or
``Reason("requires", "pandas", "numpy>=1.23.2")``, and the packages above an
imported module ``Reason("package", "shared/db/models.py", 0)``. Reasons are in
discovery order, so the first lies on a shortest chain from the handler.

The backend root is the import root; local modules only come from the source
roots, and a local module wins over a distribution of the same name.

``compute_closures`` keeps its whole result with the ``ParseCache`` and reuses
it while nothing it was computed from has changed (``closure_store``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from packaging.utils import canonicalize_name

from ..core.cache import gc_paused
from ..core.errors import AnalysisError
from ..core.paths import CONFIG_FILE
from ..deps.dists import DistIndex
from ..deps.target import Target
from ..project.model import ARCHITECTURES, DEFAULT_ARCHITECTURE, Config, FunctionConfig
from . import closure_store
from .import_graph import ImportGraph
from .parse_cache import ParseCache
from .records import Closure, ClosureWarning, DistNode, Edge, LocalFile, Reason


def _excluded(module: str, excludes: tuple[str, ...]) -> bool:
    return any(module == x or module.startswith(x + ".") for x in excludes)


class _Walk:
    """Two-phase breadth-first walk: required edges first, then what only optional edges reach.

    ``queue`` is a list that grows while it is iterated (cheaper than a deque here).
    """

    def __init__(self) -> None:
        self.reasons: dict[str, list[Reason]] = {}  # node -> its reasons, in discovery order
        self.optional: set[str] = set()
        self.queue: list[str] = []

    def visit(self, node: str, reason: Reason, optional: bool) -> None:
        reasons = self.reasons.get(node)
        if reasons is None:
            self.reasons[node] = [reason]
            if optional:
                self.optional.add(node)
            self.queue.append(node)
        elif not optional and node in self.optional:
            # first reached through an optional import, now through a required one: it is required,
            # and so is what it pulls in; the required reason goes first
            self.optional.discard(node)
            self.reasons[node] = [reason] + [r for r in reasons if r != reason]
            self.queue.append(node)
        elif reason not in reasons:
            reasons.append(reason)


def compute_closure(
    config: Config,
    function: FunctionConfig,
    index: DistIndex,
    *,
    target: Target | None = None,
    cache: ParseCache | None = None,
) -> Closure:
    """The closure of one function: local files, distributions and warnings.

    Raises AnalysisError for syntax errors, unreadable files and required imports that
    nothing provides (all of them at once), LockError for requirements the lock lacks.
    """
    cache = cache or ParseCache()
    with gc_paused():
        graph = ImportGraph(config, index, target or Target.from_config(config), cache, function)
        closure = _compute(function, graph, _includes(graph, (function,)), config.keep)
        _check_syntax(closure, graph, cache)
        return closure


def _compute(function: FunctionConfig, graph: ImportGraph, includes: dict[str, _Matches],
             keep: tuple[str, ...] = ()) -> Closure:  # fmt: skip
    index = graph.index
    excludes = tuple(function.exclude_modules)
    files, dists = _Walk(), _Walk()
    warnings: list[ClosureWarning] = []
    start = Reason("handler", function.handler, 0)
    chain, missing = graph.tree.chain(function.module)
    if missing:
        raise AnalysisError(
            f"{function.name}: the handler module {function.module} ({function.handler}) is not in "
            f"{graph.tree.describe_roots()}. Check the Handler: its module path is relative to the code folder."
        )
    files.visit(chain[-1][1], start, False)  # its packages come through package_of
    data_sizes: dict[str, int] = {}
    for rel, size in graph.tree.data_files():
        owner = next(r for r in graph.tree.roots if r.holds(rel))
        files.visit(rel, Reason("data", owner.path, 0), False)
        data_sizes[rel] = size
    _keep(function, graph, files, dists, (*keep, *function.keep))
    for pattern in function.include:
        matched, found = includes[pattern]
        for rel, size in matched:
            files.visit(rel, Reason("include", pattern, 0), False)
            data_sizes[rel] = size
        warnings.extend(found)

    runtime: dict[str, list[Reason]] = {}
    _walk_files(graph, files, dists, excludes, runtime)

    required_dists = [d for d in dists.reasons if d not in dists.optional]
    optional_dists = [d for d in dists.reasons if d in dists.optional]
    extras: dict[str, frozenset[str]] = {}
    for phase_optional, roots in ((False, required_dists), (True, optional_dists)):
        dists.queue = list(roots)
        for name in dists.queue:
            pin = index.pins.get(name)
            wanted = extras.get(name, frozenset()) | frozenset(pin.extras if pin else ())
            extras[name] = wanted
            for child, child_extras, requirement, warning in graph.requires(name, wanted):
                if warning:
                    warnings.append(ClosureWarning(graph.lock_file, *warning))
                reason = Reason("requires", name, requirement)
                grows = not child_extras <= extras.get(child, frozenset())
                extras[child] = extras.get(child, frozenset()) | child_extras
                dists.visit(child, reason, phase_optional or name in dists.optional)
                if grows:
                    dists.queue.append(child)  # reached with new extras: its requirements change

    for rel, noted in graph.warned.items():
        if rel in files.reasons:
            warnings.extend(ClosureWarning(rel, line, message) for line, message in noted)
    sizes, module_of, optional = graph.sizes, graph.tree.module_of, files.optional
    local = tuple([
        LocalFile(rel, tuple(reasons), rel in optional, sizes[rel] if rel in sizes else data_sizes[rel],
                  module_of[rel][0] if rel in module_of else "")
        for rel, reasons in sorted(files.reasons.items())
    ])  # fmt: skip
    nodes = tuple(
        DistNode(name, index.dist(name).version, index.dist(name).size, tuple(reasons), name in dists.optional)
        for name, reasons in sorted(dists.reasons.items())
    )
    return Closure(
        function=function,
        target=graph.target,
        local_files=local,
        distributions=nodes,
        warnings=tuple(sorted(set(warnings), key=lambda w: (w.path, w.line, w.message))),
        lock_file=graph.lock_file,
        runtime=tuple((name, tuple(why)) for name, why in sorted(runtime.items())),
    )


def _keep(function: FunctionConfig, graph: ImportGraph, files: _Walk, dists: _Walk, keep: tuple[str, ...]) -> None:
    """Add what ``keep`` names (local modules or distributions that dynamic imports load)."""
    for name in keep:
        reason = Reason("keep", name, 0)
        chain, missing = graph.tree.chain(name)
        if chain and not missing:
            files.visit(chain[-1][1], reason, False)
        elif name in graph.index:
            dists.visit(canonicalize_name(name), reason, False)
        elif graph.index.providers(name):
            for dist in graph.index.providers(name):
                dists.visit(dist, reason, False)
        else:
            raise AnalysisError(
                f"keep {name!r} ({function.name}): no module of that name in {graph.tree.describe_roots()} and no "
                f"distribution of that name (or providing that module) in {graph.lock_file}. Fix the name, or add "
                "the distribution to the requirements."
            )


def _walk_files(graph: ImportGraph, files: _Walk, dists: _Walk, excludes: tuple[str, ...],
                runtime: dict[str, list[Reason]]) -> None:  # fmt: skip
    """Follow imports from the queued files: required ones first, then optional ones (the hot loop);
    ``runtime`` gets the imports only the Lambda runtime provides."""
    errors: list[str] = []
    deferred: list[Edge] = []
    reasons, plain_of, special_of = files.reasons, graph.plain_of, graph.special_of
    for phase_optional in (False, True):
        if phase_optional:
            files.queue = []
            for edge in deferred:
                _apply(edge, files, dists, excludes, True, errors, runtime)
        queue = files.queue
        for rel in queue:  # grows while it is walked
            plain = plain_of.get(rel)
            if plain is None:
                if rel not in graph.tree.module_of:
                    continue  # an included data file
                graph.resolve(rel)
                plain = plain_of[rel]
            if phase_optional or excludes or rel in files.optional:
                optional = phase_optional or rel in files.optional
                for target, reason, module in plain:
                    if not excludes or not _excluded(module, excludes):
                        files.visit(target, reason, optional)
            else:
                for target, reason, _ in plain:  # nothing is optional yet in this phase, nothing repeats
                    found = reasons.get(target)
                    if found is None:
                        reasons[target] = [reason]
                        queue.append(target)
                    else:
                        found.append(reason)
                optional = False
            for edge in special_of[rel]:
                if edge.optional and not optional:
                    deferred.append(edge)
                else:
                    _apply(edge, files, dists, excludes, optional, errors, runtime)
        if errors:
            raise AnalysisError("\n".join(sorted(set(errors))))


def _apply(edge: Edge, files: _Walk, dists: _Walk, excludes: tuple[str, ...], optional: bool,
           errors: list[str], runtime: dict[str, list[Reason]]) -> None:  # fmt: skip
    optional = optional or edge.optional
    if edge.runtime and not (excludes and _excluded(edge.module, excludes)):
        why = runtime.setdefault(edge.runtime, [])
        if edge.reason not in why:
            why.append(edge.reason)
        return
    if edge.error:
        if not optional and not _excluded(edge.module, excludes):
            errors.append(edge.error)
        return
    for module, target in edge.local:
        if not excludes or not _excluded(module, excludes):
            files.visit(target, edge.reason, optional)
    if edge.dists and not (excludes and _excluded(edge.module, excludes)):
        for name in edge.dists:
            dists.visit(name, edge.reason, optional)


_Matches = tuple[tuple[tuple[str, int], ...], tuple[ClosureWarning, ...]]  # ((file, size), ...), warnings


def _includes(graph: ImportGraph, functions: tuple[FunctionConfig, ...]) -> dict[str, _Matches]:
    """What each include glob of ``functions`` matches: files under the backend root, and warnings."""
    found = {pattern: graph.tree.glob(pattern) for fn in functions for pattern in fn.include}
    return {pattern: (matched, tuple(ClosureWarning(CONFIG_FILE, 0, message) for message in messages))
            for pattern, (matched, messages) in found.items()}  # fmt: skip


def index_key(lock: str, architecture: str) -> str:
    """The key of a lock's distribution index for ``architecture``'s functions (the lock itself for x86_64)."""
    return lock if architecture == DEFAULT_ARCHITECTURE else f"{lock} ({architecture})"


def index_architecture(key: str) -> str:
    """The architecture an ``index_key`` is for."""
    return next((arch for arch in ARCHITECTURES if key.endswith(f" ({arch})")), DEFAULT_ARCHITECTURE)


def _graphs(config: Config, indexes: Mapping[str, DistIndex], target: Target,
            cache: ParseCache) -> list[tuple[ImportGraph, list[FunctionConfig]]]:  # fmt: skip
    """One import graph per set of code roots, lock and architecture, with the functions that share it."""
    groups: dict[tuple, list[FunctionConfig]] = {}
    for fn in config.functions:
        groups.setdefault((fn.roots, fn.lock_file or config.lock_file, fn.architecture), []).append(fn)
    graphs = []
    for (_, lock, arch), fns in groups.items():
        index = indexes.get(index_key(lock, arch)) or indexes[lock]
        graphs.append((ImportGraph(config, index, target.for_architecture(arch), cache, fns[0]), fns))
    return graphs


def compute_closures(
    config: Config,
    index: DistIndex | Mapping[str, DistIndex],
    *,
    target: Target | None = None,
    cache: ParseCache | None = None,
    errors: dict[str, AnalysisError] | None = None,
) -> dict[str, Closure]:
    """The closures of all functions by name; functions with the same code roots share one scan.

    ``index`` is the locked distributions, or one index per lock file. The result is stored
    in ``cache`` (``save`` writes it) and reused by a later run while nothing it depends on
    has changed; ``cache.closures_reused`` tells whether it was. With ``errors``, a function
    whose closure fails is left out and its error kept there (else the error is raised).
    """
    target = target or Target.from_config(config)
    cache = cache or ParseCache()
    indexes = index if isinstance(index, Mapping) else {lock: index for lock in config.lock_files}
    with gc_paused():
        graphs = _graphs(config, indexes, target, cache)
        includes = [_includes(graph, tuple(fns)) for graph, fns in graphs]
        prints = [graph.fingerprint((sorted(inc.items()), graph.tree.data_files())) for (graph, _), inc in zip(graphs, includes)]
        key = None if None in prints else hashlib.blake2b("\0".join(map(str, prints)).encode(), digest_size=16).hexdigest()
        closures = closure_store.reuse(config, target, cache, key)
        if closures is None:
            closures = {}
            for (graph, fns), inc in zip(graphs, includes):
                for fn in fns:
                    try:
                        closures[fn.name] = _compute(fn, graph, inc, config.keep)
                    except AnalysisError as exc:
                        if errors is None:
                            raise
                        errors[fn.name] = exc
            shipped = [(graph, fn.name) for graph, fns in graphs for fn in fns if fn.name in closures]
            cache.check_many((graph.tree.root, f.path) for graph, name in shipped
                             for f in closures[name].local_files if f.path.endswith(".py"))  # fmt: skip
            for graph, name in shipped:
                try:
                    _check_syntax(closures[name], graph, cache)
                except AnalysisError as exc:
                    closures.pop(name)
                    if errors is None:
                        raise
                    errors[name] = exc
            if key is not None and not errors:
                cache.store_closures(closure_store.encode(key, [g for g, _ in graphs], closures))
        return {fn.name: closures[fn.name] for fn in config.functions if fn.name in closures}


def _check_syntax(closure: Closure, graph: ImportGraph, cache: ParseCache) -> None:
    """Every Python file the function ships parses: an error is found here, with its line, not
    by the bytecode compile deep in the build's log (or by Lambda, at import)."""
    for file in closure.local_files:
        if file.path.endswith(".py"):
            try:
                cache.check_syntax(graph.tree.root, file.path)
            except OSError as exc:
                raise AnalysisError(f"{file.path}: cannot read it ({exc.strerror}). Check its permissions.") from exc


def unused_distributions(closures: Mapping[str, Closure], index: DistIndex) -> tuple[str, ...]:
    """Locked distributions that no function's closure needs, sorted."""
    used = {d.name for closure in closures.values() for d in closure.distributions}
    return tuple(name for name in index.names() if name not in used)
