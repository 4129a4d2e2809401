"""The import graph of a backend: its local modules and what each file's imports resolve to.

Built once per run and shared by every function's closure: the source roots are
walked once (``SourceTree``), each file is read and scanned once (through the ``ParseCache``),
and each import is resolved once, to the local files it executes (every package
``__init__.py`` on the way), to the locked distributions that provide it, or to
an error message. Requirements of distributions are evaluated once per set of
extras, with markers for the target.

``fingerprint`` hashes everything a run's closures depend on besides the
content of the files it reads, so that a stored result can be reused.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import cast

import packaging
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..core.errors import AnalysisError, LockError
from ..deps.dists import DistIndex
from ..deps.target import Target
from ..project.model import PYPROJECT, REQUIREMENTS, CodeRoot, Config, FunctionConfig
from .imports import OPTIONAL, SELF_BASE, FileImports, ImportRecord
from .parse_cache import ParseCache
from .records import Edge, Reason
from .source_tree import SourceTree

# What every Lambda Python runtime (and its base image) has beside the standard library: the AWS SDK
# and what it requires. An import of them resolves on Lambda with no requirement, so here too.
RUNTIME_PROVIDED = {
    "boto3": "boto3", "botocore": "botocore", "jmespath": "jmespath", "s3transfer": "s3transfer",
    "dateutil": "python-dateutil", "six": "six", "urllib3": "urllib3",
}  # fmt: skip
_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | {"__main__"}


class ImportGraph:
    """The local modules of a backend and the resolved imports of its files; shared by all functions."""

    def __init__(self, config: Config, index: DistIndex, target: Target, cache: ParseCache,
                 function: FunctionConfig | None = None) -> None:  # fmt: skip
        """The graph of the code roots of ``function`` (functions with the same roots and lock share one)."""
        self.config, self.index, self.target, self.cache = config, index, target, cache
        legacy = CodeRoot(".", "/var/task", tops=config.source_roots, data=False)
        self.tree = SourceTree(Path(config.root), function.roots if function is not None else (legacy,))
        self.sizes: dict[str, int] = {}
        self.plain_of: dict[str, tuple[tuple[str, Reason, str], ...]] = {}  # see ``resolve``
        self.special_of: dict[str, tuple[Edge, ...]] = {}
        self.warned: dict[str, tuple[tuple[int, str], ...]] = {}  # files with warnings: (line, message)
        self._requires: dict[tuple[str, frozenset[str]], tuple] = {}
        self._resolved: dict[tuple, tuple] = {}  # import key -> _resolve(key)
        self._providers: dict[tuple, tuple[str, ...]] = {}  # (module, names) -> distributions
        self.env = target.marker_environment()
        lock = PurePosixPath((function.lock_file if function else "") or config.lock_file)
        self.lock_file, self.lock_in = str(lock), str(lock.with_suffix(".in"))
        self.requirements = function.requirements if function else ()
        self.arn_layers = function.arn_layers if function else ()

    def fingerprint(self, extra: object = ()) -> str | None:
        """A hash of what the closures depend on besides the content of the files read.

        That is: builder's code (``CODE_MODULES``) and ``packaging`` (markers, requirements);
        the scanner (mode, host Python); the whole config; the target; the locked
        distributions (pins and wheel metadata); the module table, from this run's walk of
        the source roots (a module added, removed or shadowing another changes it); and
        ``extra`` (the caller's: what include globs match). None if builder's sources cannot
        be read: then nothing may be reused.
        """
        code = _code_digest()
        if code is None:
            return None
        index = self.index
        dists = [(d.name, d.version, d.size, d.wheel, d.files, d.top_level, d.import_names, d.extras,
                  [str(r) for r in d.requires]) for d in map(index.dist, index.names())]  # fmt: skip
        parts = (code, packaging.__version__, self.cache.key, repr(self.config), repr(self.target),
                 repr(sorted(index.pins.items())), repr(dists), repr(self.tree.modules),  # modules: in walk order
                 repr(sorted(self.tree.namespaces)), repr(extra))  # fmt: skip
        return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()

    def read(self, rel: str) -> FileImports:
        """Read and scan a local file (through the cache); its size is kept in ``sizes``."""
        try:
            scanned, self.sizes[rel] = self.cache.scan_file(os.path.join(self.tree.root, rel), rel)
        except OSError as exc:
            raise AnalysisError(
                f"{rel}: cannot read the file ({exc.strerror}). Check that it exists and is readable."
            ) from exc
        return scanned

    def resolve(self, rel: str) -> None:
        """Resolve the imports of a local file once per run, into ``plain_of`` and ``special_of``.

        ``plain_of[rel]``: (file, reason, module) for its package's ``__init__.py`` and each
        required local import, the hot path of every closure; ``special_of[rel]``: the edges
        that need more care (optional, third-party, or an error). Optional imports that
        resolve to nothing are dropped: they can have no effect.
        """
        if rel in self.plain_of:
            return
        scanned = self.read(rel)
        module, is_package = self.tree.module_of[rel]
        package = module if is_package else module.rpartition(".")[0]
        plain: dict[tuple[str, Reason, str], None] = {}
        special: list[Edge] = []
        if rel in self.tree.package_of:
            parent, reason = self.tree.package_of[rel]
            plain[(parent, reason, self.tree.module_of[parent][0])] = None
        tops, memo = self.tree.tops, self._resolved
        for record in scanned.imports:
            line, level, target, names, flags = record
            if not level and not flags & SELF_BASE:
                top = target.partition(".")[0]
                if top not in tops:  # most imports: the standard library or a distribution
                    if top not in _STDLIB:
                        edge = self._third_party(rel, record)
                        if not (edge.error and edge.optional):
                            special.append(edge)
                    continue
                key: tuple = (target, names)
            else:
                key = (module if flags & SELF_BASE else package, level, target, names)
            resolved = memo.get(key)
            if resolved is None:
                resolved = memo[key] = self._resolve(key)
            absolute, local, problems = resolved
            reason = Reason("import", rel, line)
            if flags & OPTIONAL:
                if local:
                    special.append(Edge(reason, True, absolute, local, (), ""))
                continue
            if problems:
                special += [Edge(reason, False, absolute, (), (), self._message(rel, record, absolute, problem))
                            for problem in problems]  # fmt: skip
                if problems[0][0] != "absent":
                    continue
            for name, file in local:
                plain[(file, reason, name)] = None
        warnings = scanned.warnings
        code_root = self.tree.root_of.get(rel)
        if code_root is not None and code_root.as_is and any(e.error for e in special):
            # A prebuilt layer is a built artifact (often installed distributions, with branches for
            # other Pythons): what it imports and nothing provides is said, not an error.
            # Every edge here has an "import" Reason, whose detail is the line.
            warnings = (*warnings, *((cast(int, e.reason.detail), e.error.split(": ", 2)[-1] + " (in a prebuilt "
                                      "layer: not followed)") for e in special if e.error))  # fmt: skip
            special = [e for e in special if not e.error]
        self.plain_of[rel] = tuple(plain)
        self.special_of[rel] = tuple(special)
        if warnings:
            self.warned[rel] = tuple(sorted(warnings))

    def warnings(self, rel: str) -> tuple[tuple[int, str], ...]:
        """(line, message) of what the scan of ``rel`` could not follow."""
        return self.warned.get(rel, ())

    def _resolve(self, key: tuple) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        """(absolute module, files it names, problems) for an absolute (target, names) or a relative
        (package, level, target, names) import; a problem is ("beyond" | "missing" | "absent", name)."""
        if len(key) == 2:
            target, names = key
        else:
            package, level, target, names = key
            parts = package.split(".")
            if level - 1 >= len(parts):
                return target, (), (("beyond", parts[0]),)
            base = ".".join(parts[: len(parts) - max(level - 1, 0)])
            target = f"{base}.{target}" if target else base
        local, missing, absent = self._resolve_local(target, names)
        if missing:
            return target, (), (("missing", missing),)
        return target, local, tuple(("absent", name) for name in absent)

    def _message(self, rel: str, record: ImportRecord, target: str, problem: tuple[str, str]) -> str:
        kind, name = problem
        where = f"{rel}:{record.line}: `{_statement(record)}`"
        if kind == "beyond":
            return f"{where} goes beyond the top-level package {name!r}. Use fewer dots or an absolute import."
        if kind == "missing":
            return (f"{where}: there is no module {name!r} in {self.tree.describe_roots()}. "
                    "Fix the import or add the file.")  # fmt: skip
        return f"{where}: {target!r} is a namespace package and has no module {name!r}. Fix the import or add the file."

    def _resolve_local(self, target: str, names: tuple[str, ...] | None) -> tuple[tuple, str, tuple[str, ...]]:
        """(files it names, first missing module, names missing from a namespace package) for an import.

        The files are the deepest existing file of ``target`` and the submodules it imports by name;
        the packages above them are added through ``package_of``.
        """
        chain, missing = self.tree.chain(target)
        if missing:
            return (), missing, ()
        extra: list[tuple[str, str]] = []
        absent: list[str] = []
        for name in names or ():
            if name == "*":
                init = self.tree.modules.get(target)
                exported = self.read(init).all_names if init and init.endswith("__init__.py") else None
                extra += [(f"{target}.{sub}", self.tree.modules[f"{target}.{sub}"])
                          for sub in exported or () if self.tree.lookup(f"{target}.{sub}")]  # fmt: skip
                continue
            found = self.tree.lookup(f"{target}.{name}")
            if found:
                extra.append((f"{target}.{name}", found))
            elif found is False and target in self.tree.namespaces:
                absent.append(name)
        return tuple(chain[-1:]) + tuple(extra), "", tuple(absent)  # packages above come through package_of

    def _third_party(self, rel: str, record: ImportRecord) -> Edge:
        target = record.module
        dists = self._providers.get((target, record.names))
        if dists is None:
            candidates = [f"{target}.{n}" for n in record.names or () if n != "*"] or [target]
            dists = tuple(sorted({d for c in candidates for d in self.index.providers(c)}))
            self._providers[(target, record.names)] = dists
        error, runtime = "", ""
        if not dists:
            runtime = RUNTIME_PROVIDED.get(target.partition(".")[0], "")
            error = "" if runtime else f"{rel}:{record.line}: `{_statement(record)}`: " + self._missing_hint(target)
        return Edge(Reason("import", rel, record.line), record.optional, target, (), dists, error, runtime)

    def _missing_hint(self, module: str) -> str:
        """What to do about an import that neither the code roots nor the locked distributions provide."""
        optional = "If the import is optional, wrap it in try/except ImportError."
        if not self.config.locked_by_builder:
            return (f"no distribution locked in {self.lock_file} provides the module {module!r}. Add the distribution "
                    f"that provides it to {self.lock_in}, re-lock (pip-compile) and download the wheels again. "
                    + optional)  # fmt: skip
        code = self.tree.roots[0]
        pyproject = next((rel for rel in self.requirements if posixpath.basename(rel) == PYPROJECT), None)
        own = (f"the [project] dependencies of {pyproject}" if pyproject
               else posixpath.join(code.path, REQUIREMENTS).removeprefix("./"))  # fmt: skip
        listed = (f"no distribution of its requirements ({', '.join(self.requirements)}) provides it"
                  if self.requirements else "it has no requirements file")  # fmt: skip
        arns = ""
        if self.arn_layers:
            arns = (f" On Lambda it may come from the layer {self.arn_layers[0]}, which an image does not have: "
                    "require the distribution instead.")  # fmt: skip
        return (f"no module {module!r} in {self.tree.describe_roots()}, and {listed}. Add the distribution that "
                f"provides it to {own} (builder locks it on the next build).{arns} " + optional)  # fmt: skip

    def requires(self, name: str, extras: frozenset[str]) -> tuple:
        """The requirements of dist ``name`` with ``extras`` that apply to the target, memoised.

        ``(child, child extras, requirement text, (lock line, warning) or None)``.
        """
        key = (name, extras)
        found = self._requires.get(key)
        if found is None:
            found = self._requires[key] = tuple(self._evaluate(name, extras))
        return found

    def _evaluate(self, name: str, extras: frozenset[str]) -> Iterator[tuple]:
        dist = self.index.dist(name)
        for req in dist.requires:
            if req.marker is not None and not any(
                req.marker.evaluate({**self.env, "extra": extra}) for extra in ("", *sorted(extras))
            ):
                continue
            child = canonicalize_name(req.name)
            if child not in self.index:
                raise LockError(
                    f"{name} {dist.version} requires {_requirement_text(req)} on Python {self.target.short_version} "
                    f"{self.target.sys_platform}, but {self.lock_file} does not pin {child}. Add it to "
                    f"{self.lock_in} or re-lock (pip-compile), then download the wheels again."
                )
            pin = self.index.pins.get(child)
            version = self.index.dist(child).version
            warning = None
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                message = f"{child}=={version} does not satisfy {name}'s requirement {_requirement_text(req)}; re-lock"
                warning = (pin.line if pin else 0, message)
            child_extras = frozenset(canonicalize_name(e) for e in req.extras) | frozenset(pin.extras if pin else ())
            yield child, child_extras, _requirement_text(req), warning


# builder's modules that closure.py imports, directly or not (a test keeps this list complete):
# a change to any of them may change closures, so it is part of the fingerprint
CODE_MODULES = ("analysis/closure", "analysis/closure_store", "analysis/fastscan", "analysis/import_graph",
                "analysis/imports", "analysis/parse_cache", "analysis/records", "analysis/source_tree",
                "core/cache", "core/errors", "core/files", "core/limits", "core/paths",
                "deps/dists", "deps/lock", "deps/target", "project/model")  # fmt: skip


@functools.cache
def _code_digest() -> str | None:
    """A hash of the source of ``CODE_MODULES``; None if it cannot be read."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        for name in CODE_MODULES:
            digest.update(name.encode() + b"\0" + (Path(__file__).parent.parent / f"{name}.py").read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def _statement(record: ImportRecord) -> str:
    dots = "." * record.level
    if record.names is None:
        return f"import {dots}{record.module}"
    return f"from {dots}{record.module} import {', '.join(record.names)}"


def _requirement_text(req: Requirement) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"
