"""The backend's configuration: ``builder.toml`` or ``[tool.builder]`` in ``pyproject.toml``.

Read and validated once into frozen dataclasses. Unknown keys are rejected with
a "did you mean" suggestion. Precedence (CLI flag > config file > default) is
applied by the CLI, which passes overrides to :func:`load`.
"""

from __future__ import annotations

import ast
import difflib
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .errors import ConfigError

DEFAULT_BASE_IMAGE = "public.ecr.aws/lambda/python:3.11"
DEFAULT_PLATFORMS = ("manylinux2014_x86_64",)
CONFIG_FILE = "builder.toml"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HANDLER_RE = re.compile(r"^[A-Za-z_][\w/]*\.[A-Za-z_]\w*$")


@dataclass(frozen=True)
class FunctionConfig:
    """One Lambda function: its name and its handler in Lambda's path form."""

    name: str
    handler: str  # "functions/user/auth/authorizer.handler"
    include: tuple[str, ...] = ()  # extra local files (globs, relative to the root)
    exclude_modules: tuple[str, ...] = ()  # local modules never followed
    event: str = ""  # sample event, relative to the root

    @property
    def module(self) -> str:
        """Dotted module name of the handler (``functions.user.auth.authorizer``)."""
        return self.handler.rsplit(".", 1)[0].replace("/", ".")

    @property
    def module_path(self) -> str:
        """Source file of the handler, relative to the root."""
        return self.handler.rsplit(".", 1)[0] + ".py"

    @property
    def attribute(self) -> str:
        """Name of the handler function inside its module."""
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class StripConfig:
    """Strip rules: the defaults (unless turned off), then the user's, then per distribution."""

    defaults: bool = True
    patterns: tuple[str, ...] = ()
    per_dist: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (canonical name, patterns), sorted
    # Debug symbols stripped from these distributions' shared objects (off by default):
    # (canonical name, patterns of .so files, '!' excludes), sorted.
    debug_symbols: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class CheckConfig:
    """Size budgets of ``check``: growth tolerance, and ceilings on bytes above the base image."""

    tolerance: float = 0.05  # relative growth allowed over the baseline, per function and in all
    max_function_bytes: int | None = None
    max_total_bytes: int | None = None


@dataclass(frozen=True)
class Config:
    """A backend: where it is, what it targets and its functions (sorted by name)."""

    root: Path
    name: str
    python_version: str = "3.11"
    base_image: str = DEFAULT_BASE_IMAGE
    lock_file: str = "requirements/functions.txt"
    source_roots: tuple[str, ...] = ("functions", "shared")
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    functions: tuple[FunctionConfig, ...] = field(default=())
    strip: StripConfig = field(default_factory=lambda: StripConfig())
    check: CheckConfig = field(default_factory=lambda: CheckConfig())

    @property
    def lock_path(self) -> Path:
        return self.root / self.lock_file

    def function(self, name: str) -> FunctionConfig:
        """The function called ``name``; a ConfigError with a suggestion if there is none."""
        for fn in self.functions:
            if fn.name == name:
                return fn
        names = [fn.name for fn in self.functions]
        raise ConfigError(
            f"No function named {name!r} in {self.root / CONFIG_FILE}.{_did_you_mean(name, names)} "
            f"Known functions: {', '.join(names) or 'none'}."
        )

    def image(self, function: str, tag: str = "latest") -> str:
        """The image reference a function is built as: ``<project>-<function>:<tag>``."""
        return f"{self.name}-{function}:{tag}"


_TOP_KEYS = {
    "name": str,
    "python-version": str,
    "base-image": str,
    "lock-file": str,
    "source-roots": list,
    "platforms": list,
    "functions": dict,
    "strip": dict,
    "check": dict,
}
_STRIP_KEYS = {"defaults": bool, "patterns": list, "per-dist": dict, "debug-symbols": dict}
_CHECK_KEYS = {"tolerance": float, "max-function-bytes": int, "max-total-bytes": int}
_FUNCTION_KEYS = {"handler": str, "include": list, "exclude-modules": list, "event": str}


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_keys(table: dict[str, Any], allowed: dict[str, type], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(
                f"Unknown key {key!r} in {where}.{_did_you_mean(key, list(allowed))} "
                f"Allowed keys: {', '.join(sorted(allowed))}."
            )
        expected = allowed[key]
        if not isinstance(value, expected):
            raise ConfigError(
                f"{where}: {key!r} must be a {expected.__name__}, not {type(value).__name__} ({value!r})."
            )


def _read_table(root: Path) -> tuple[dict[str, Any], str]:
    toml_path = root / CONFIG_FILE
    pyproject = root / "pyproject.toml"
    for path in (toml_path, pyproject):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"Cannot read {path}: {exc}. Fix the TOML syntax and try again.") from exc
        if path is toml_path:
            return data, str(path)
        if "builder" in data.get("tool", {}):
            return data["tool"]["builder"], f"{path} [tool.builder]"
    raise ConfigError(
        f"No builder configuration in {root}: expected {CONFIG_FILE} or a [tool.builder] table in "
        "pyproject.toml. Run the command from the backend's root or pass --project DIR."
    )


def _function(name: str, table: Any, where: str, root: Path, source_roots: tuple[str, ...]) -> FunctionConfig:
    where = f"{where} [functions.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table with at least a 'handler' key.")
    _check_keys(table, _FUNCTION_KEYS, where)
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}: function name {name!r} must be lowercase letters, digits and '-' "
            "(it becomes part of an image name)."
        )
    handler = table.get("handler")
    if not handler:
        raise ConfigError(f"{where} has no 'handler'. Add e.g. handler = \"functions/health/ping.handler\".")
    if not _HANDLER_RE.match(handler):
        raise ConfigError(
            f"{where}: handler {handler!r} is not of the form path/to/module.function "
            "(e.g. functions/user/auth/authorizer.handler)."
        )
    fn = FunctionConfig(
        name=name,
        handler=handler,
        include=tuple(table.get("include", ())),
        exclude_modules=tuple(table.get("exclude-modules", ())),
        event=table.get("event", f"events/{name}.json"),
    )
    top = fn.module_path.split("/", 1)[0]
    if top not in source_roots:
        raise ConfigError(
            f"{where}: handler {handler!r} is not under a source root ({', '.join(source_roots)}). "
            "Add its top folder to source-roots."
        )
    if not (root / fn.module_path).is_file():
        raise ConfigError(
            f"{where}: handler file {fn.module_path} does not exist in {root}. Check the handler path."
        )
    if not _defines(root / fn.module_path, fn.attribute):
        raise ConfigError(
            f"{where}: handler {handler!r}: {fn.module_path} defines no top-level {fn.attribute!r}. "
            "Check the function name after the last dot."
        )
    return fn


def _defines(path: Path, name: str) -> bool:
    """Whether a module binds ``name`` at top level (def, class, assignment or import).

    A file that does not parse is let through: the closure step reports syntax
    errors with their line.
    """
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def _strip(table: dict[str, Any], where: str) -> StripConfig:
    where = f"{where} [strip]"
    _check_keys(table, _STRIP_KEYS, where)
    tables = {key: table.get(key, {}) for key in ("per-dist", "debug-symbols")}
    for key, per_dist in tables.items():
        for dist, patterns in per_dist.items():
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"{where} {key}.{dist} must be a list of patterns (strings).")
    patterns = table.get("patterns", [])
    if not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"{where} patterns must be a list of gitignore-style patterns (strings).")
    return StripConfig(
        defaults=table.get("defaults", True),
        patterns=tuple(patterns),
        per_dist=tuple(sorted((canonicalize_name(d), tuple(p)) for d, p in tables["per-dist"].items())),
        debug_symbols=tuple(sorted((canonicalize_name(d), tuple(p)) for d, p in tables["debug-symbols"].items())),
    )


def _check(table: dict[str, Any], where: str) -> CheckConfig:
    where = f"{where} [check]"
    if isinstance(table.get("tolerance"), int) and not isinstance(table["tolerance"], bool):
        table = {**table, "tolerance": float(table["tolerance"])}  # `tolerance = 0` is a TOML integer
    _check_keys(table, _CHECK_KEYS, where)
    tolerance = table.get("tolerance", CheckConfig.tolerance)
    if not 0 <= tolerance < 100:
        raise ConfigError(f"{where} tolerance must be a fraction such as 0.05 (5%), not {tolerance!r}.")
    ceilings = {key: table.get(key) for key in ("max-function-bytes", "max-total-bytes")}
    for key, value in ceilings.items():
        if value is not None and (isinstance(value, bool) or value <= 0):
            raise ConfigError(f"{where} {key} must be a positive number of bytes (e.g. 300_000_000), not {value!r}.")
    return CheckConfig(tolerance, ceilings["max-function-bytes"], ceilings["max-total-bytes"])


def load(root: Path | str, **overrides: Any) -> Config:
    """Read and validate the configuration of the backend at ``root``.

    ``overrides`` (from CLI flags, by dataclass field name) win over the file.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"Project folder {root} does not exist. Pass --project DIR with the backend's root.")
    table, where = _read_table(root)
    _check_keys(table, _TOP_KEYS, where)
    source_roots = tuple(table.get("source-roots", Config.source_roots))
    for src in source_roots:
        if not (root / src).is_dir():
            raise ConfigError(f"{where}: source root {src!r} is not a folder in {root}.")
    functions_table = table.get("functions", {})
    if not functions_table:
        raise ConfigError(f"{where} defines no functions. Add a [functions.NAME] table with a handler.")
    functions = tuple(
        _function(name, functions_table[name], where, root, source_roots) for name in sorted(functions_table)
    )
    name = table.get("name", root.name.lower())
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits and '-'.")
    config = Config(
        root=root,
        strip=_strip(table.get("strip", {}), where),
        check=_check(table.get("check", {}), where),
        name=name,
        python_version=table.get("python-version", Config.python_version),
        base_image=table.get("base-image", DEFAULT_BASE_IMAGE),
        lock_file=table.get("lock-file", Config.lock_file),
        source_roots=source_roots,
        platforms=tuple(table.get("platforms", DEFAULT_PLATFORMS)),
        functions=functions,
    )
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if not config.lock_path.is_file():
        raise ConfigError(
            f"Lock file {config.lock_file} not found in {root}. Lock your requirements with "
            f"`pip-compile requirements/functions.in` or set lock-file in {CONFIG_FILE}."
        )
    return config
