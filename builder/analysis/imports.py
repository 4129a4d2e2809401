"""What one Python source file imports, from its syntax tree, without running it.

``scan_full`` parses a file with ``ast`` and returns a ``FileImports``: every
import statement with its line, relative level and names; whether it is
optional (inside ``try`` with an ``except ImportError``, in that handler, or
under ``contextlib.suppress(ImportError)``); literal
``importlib.import_module`` / ``__import__`` / ``runpy.run_module`` calls;
warnings, with their line, for loaders that cannot be resolved statically; and
the literal ``__all__`` (for ``from package import *``). Imports under
``if TYPE_CHECKING:`` are left out. A ``FileImports`` depends only on the file's
content, so it can be cached by content hash (``parse_cache.py``).

``fastscan.py`` gives the same result faster by parsing only the statements
that can import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import NamedTuple

from ..core.errors import AnalysisError

OPTIONAL = 1  # inside try/except ImportError (or its handler), contextlib.suppress(ImportError)
DYNAMIC = 2  # from a literal importlib.import_module / __import__ / runpy.run_module call
SELF_BASE = 4  # relative to the module itself (import_module(".x", __name__))

_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_DYNAMIC_CALLS = {"import_module", "__import__", "run_module"}
_PATH_LOADERS = {"spec_from_file_location", "load_source", "run_path", "SourceFileLoader"}
_ENTRY_POINTS = {"entry_points", "iter_entry_points", "load_entry_point"}  # importlib.metadata, pkg_resources


class ImportRecord(NamedTuple):
    """One import: ``from <level dots><module> import <names>``, or ``import <module>`` when names is None."""

    line: int
    level: int
    module: str
    names: tuple[str, ...] | None
    flags: int = 0

    @property
    def optional(self) -> bool:
        return bool(self.flags & OPTIONAL)


@dataclass(frozen=True)
class FileImports:
    """Everything the closure needs from one file; depends only on the file's content."""

    imports: tuple[ImportRecord, ...]
    warnings: tuple[tuple[int, str], ...] = ()
    all_names: tuple[str, ...] | None = None

    def to_json(self) -> list:
        return [[[r.line, r.level, r.module, r.names, r.flags] for r in self.imports],
                [list(w) for w in self.warnings], self.all_names]  # fmt: skip

    @classmethod
    def from_json(cls, data: list) -> FileImports:
        imports, warnings, all_names = data
        new = tuple.__new__  # ImportRecord(...) goes through a Python-level __new__: 40% slower here
        return cls(
            tuple([new(ImportRecord, r if r[3] is None else (r[0], r[1], r[2], tuple(r[3]), r[4])) for r in imports]),
            tuple((line, message) for line, message in warnings),
            tuple(all_names) if all_names is not None else None,
        )


# --- the AST walker (both scanners) ------------------------------------------------------------


_BODIES = {
    ast.FunctionDef: ("body",), ast.AsyncFunctionDef: ("body",), ast.ClassDef: ("body",),
    ast.For: ("body", "orelse"), ast.AsyncFor: ("body", "orelse"), ast.While: ("body", "orelse"),
}  # fmt: skip


class _Walker:
    def __init__(self, dynamic: bool) -> None:
        self.dynamic = dynamic  # only look at calls when the text mentions a dynamic loader
        self.imports: list[ImportRecord] = []
        self.warnings: list[tuple[int, str]] = []
        self.all_names: list[str] | None = None
        self.importlib_names = {"importlib", "runpy", "imp"}
        self.loaders = {name: name for name in _DYNAMIC_CALLS}  # local name -> the loader it is

    def body(self, stmts: list[ast.stmt], flags: int, top: bool = False) -> None:
        for node in stmts:
            kind = type(node)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports.append(ImportRecord(node.lineno, 0, alias.name, None, flags))
                    if alias.name in ("importlib", "runpy", "imp"):
                        self.importlib_names.add(alias.asname or alias.name)
            elif isinstance(node, ast.ImportFrom):
                names = tuple(a.name for a in node.names)
                self.imports.append(ImportRecord(node.lineno, node.level, node.module or "", names, flags))
                if node.module in ("importlib", "runpy"):
                    self.loaders.update((a.asname or a.name, a.name) for a in node.names if a.name in _DYNAMIC_CALLS)
            elif isinstance(node, ast.If):
                self.expr(node.test, flags)
                guard = _type_checking(node.test)
                if guard != 1:
                    self.body(node.body, flags, top)
                if guard != -1:
                    self.body(node.orelse, flags, top)
            elif isinstance(node, (ast.Try, ast.TryStar)):
                catching = [_catches_import_error(h.type) for h in node.handlers]
                self.body(node.body, flags | OPTIONAL if any(catching) else flags, top)
                for handler, catches in zip(node.handlers, catching, strict=True):
                    self.body(handler.body, flags | OPTIONAL if catches else flags, top)
                self.body(node.orelse, flags, top)
                self.body(node.finalbody, flags, top)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                suppress = any(_suppresses_import_error(item.context_expr) for item in node.items)
                for item in node.items:
                    self.expr(item.context_expr, flags)
                self.body(node.body, flags | OPTIONAL if suppress else flags, top)
            else:
                if top and isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)):
                    self.dunder_all(node)
                if self.dynamic:
                    for child in ast.iter_child_nodes(node):
                        if isinstance(child, ast.expr):
                            self.expr(child, flags)
                for field in _BODIES.get(kind, ()):
                    self.body(getattr(node, field), flags)
                if isinstance(node, ast.Match):
                    for case in node.cases:
                        self.body(case.body, flags)

    def expr(self, node: ast.expr, flags: int) -> None:
        if not self.dynamic:
            return
        for sub in ast.walk(node):
            if type(sub) is ast.Call:
                self.call(sub, flags)

    def call(self, node: ast.Call, flags: int) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if called in _ENTRY_POINTS:
            self.warnings.append((node.lineno, f"entry-point lookup {ast.unparse(func)}() loads what installed "
                                  "distributions register, which cannot be followed; add what it loads to "
                                  "keep = [...] in builder.toml"))  # fmt: skip
            return
        if isinstance(func, ast.Name):
            attr = callee = func.id
        elif isinstance(func, ast.Attribute) and _base_name(func.value) in self.importlib_names:
            attr, callee = func.attr, f"{ast.unparse(func.value)}.{func.attr}"
        else:
            return
        if attr in _PATH_LOADERS:
            self.warnings.append((node.lineno, f"{callee}() loads code by file path, which cannot be followed; "
                                  "add the files it loads to the function's `include` in builder.toml"))  # fmt: skip
            return
        name = self.loaders.get(attr) if isinstance(func, ast.Name) else (attr if attr in _DYNAMIC_CALLS else None)
        if name is None:
            return
        args = {i: a for i, a in enumerate(node.args)}
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        target = args.get(0, kwargs.get("name"))
        literal = _literal_str(target)
        if literal is None:
            shown = ast.unparse(target)[:60] if target is not None else ""
            self.warnings.append((node.lineno, f"dynamic import {callee}({shown}) cannot be resolved statically; "
                                  "add the modules it loads to keep = [...] in builder.toml (or their files "
                                  "to the function's `include`)"))  # fmt: skip
            return
        flags |= DYNAMIC
        if name == "__import__":
            fromlist = _literal_strs(args.get(3, kwargs.get("fromlist")))
            level_arg = args.get(4, kwargs.get("level"))
            level = level_arg.value if isinstance(level_arg, ast.Constant) and isinstance(level_arg.value, int) else 0
            self.imports.append(ImportRecord(node.lineno, level, literal, tuple(fromlist) or None, flags))
            return
        level = len(literal) - len(literal.lstrip("."))
        module = literal[level:]
        if level:
            package = args.get(1, kwargs.get("package"))
            base = _literal_str(package)
            if base is not None:  # resolve against a literal package now
                parts = base.split(".")
                if level - 1 >= len(parts):
                    self.warnings.append((node.lineno, f"relative import {literal!r} goes beyond package {base!r}"))
                    return
                absolute = ".".join(parts[: len(parts) - level + 1] + ([module] if module else []))
                self.imports.append(ImportRecord(node.lineno, 0, absolute, None, flags))
                return
            if isinstance(package, ast.Name) and package.id in ("__package__", "__name__"):
                if package.id == "__name__":
                    flags |= SELF_BASE
                self.imports.append(ImportRecord(node.lineno, level, module, None, flags))
                return
            shown = ast.unparse(package)[:40] if package is not None else "None"
            self.warnings.append((node.lineno, f"relative import {literal!r} with package={shown} cannot be resolved"))
            return
        self.imports.append(ImportRecord(node.lineno, 0, module, None, flags))

    def dunder_all(self, node: ast.Assign | ast.AugAssign | ast.Expr) -> None:
        if isinstance(node, ast.Expr):  # __all__.extend([...]) / __all__.append("x")
            call = node.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and _base_name(call.func.value) == "__all__" and call.args):  # fmt: skip
                one = _literal_str(call.args[0])  # __all__.append("x")
                values = _literal_strs(call.args[0]) or ([one] if one else [])
                self.all_names = (self.all_names or []) + values
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            values = _literal_strs(node.value)
            self.all_names = (self.all_names or []) + values if isinstance(node, ast.AugAssign) else values

    def result(self) -> FileImports:
        all_names = tuple(dict.fromkeys(self.all_names)) if self.all_names is not None else None
        self.warnings.sort(key=lambda w: w[0])
        return FileImports(tuple(self.imports), tuple(self.warnings), all_names)


def _base_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _literal_str(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _literal_strs(node: ast.expr | None) -> list[str]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _type_checking(test: ast.expr) -> int:
    """1 for ``if TYPE_CHECKING:``, -1 for ``if not TYPE_CHECKING:``, 0 otherwise."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return -_type_checking(test.operand)
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return 1
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return 1
    return 0


def _exception_names(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.Tuple):
        return [n for e in node.elts for n in _exception_names(e)]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return []


def _catches_import_error(node: ast.expr | None) -> bool:
    return node is None or any(n in _IMPORT_ERRORS for n in _exception_names(node))


def _suppresses_import_error(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        return name == "suppress" and any(_catches_import_error(a) for a in node.args)
    return False


def syntax_error(path: str, exc: SyntaxError) -> AnalysisError:
    return AnalysisError(
        f"{path}:{exc.lineno or 0}: syntax error: {exc.msg}. Fix it (the closure is computed from "
        "the syntax tree and the function would not import either), then run the command again."
    )


def scan_full(source: str, path: str) -> FileImports:
    """Parse the whole file with ``ast`` and walk it."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise syntax_error(path, exc) from exc
    return walk_module(tree, DYNAMIC_TEXT.search(source) is not None)


DYNAMIC_TEXT = re.compile(
    r"import_module|__import__|run_module|spec_from_file_location|load_source|run_path|SourceFileLoader|entry_point"
)


def walk_module(tree: ast.Module, dynamic: bool) -> FileImports:
    """The imports of a parsed module (or of a skeleton that keeps the statements' line numbers).

    ``dynamic``: whether the text mentions a dynamic loader, so that calls are worth looking at.
    """
    walker = _Walker(dynamic)
    walker.body(tree.body, 0, top=True)
    walker.imports.sort(key=lambda r: r.line)
    return walker.result()
