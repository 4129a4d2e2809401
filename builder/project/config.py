"""The backend's configuration: its SAM template, with ``builder.toml`` (or ``[tool.builder]``) over it.

Produces the project model (``model``).

The template is the source of truth (``sam_project`` reads it): every Python function,
its code roots (CodeUri and layers), requirements and local-run settings. ``builder.toml``
holds overrides and extras, merged by function name or logical ID; without a template it
defines the functions itself (handlers as paths from the root, ``source-roots``). Read
and validated once into frozen dataclasses; unknown keys are rejected with a "did you
mean" suggestion. Precedence (CLI flag > config file > template > default) is applied
here, with the CLI's overrides passed to :func:`load`.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..core.errors import ConfigError
from ..core.limits import PYTHON_RUNTIMES, TASK_ROOT
from ..core.paths import CONFIG_FILE, LOCK_DIR, SHARED_LOCK
from .model import (
    ARCHITECTURES,
    AWS_SERVICES_OFF,
    DEFAULT_BASE_IMAGE,
    ONE_IMAGE,
    SERVICE_NAME,
    CheckConfig,
    CodeRoot,
    Config,
    FunctionConfig,
    StripConfig,
    default_platforms,
    did_you_mean,
)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HANDLER_RE = re.compile(r"^[A-Za-z_][\w/-]*\.[A-Za-z_]\w*$")
_VERSION_RE = re.compile(r"^3\.\d{1,2}$")


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
    "templates": list,
    "keep": list,
    "images": str,
    "aws-services": object,
}
_STRIP_KEYS = {"defaults": bool, "patterns": list, "per-dist": dict, "debug-symbols": dict, "sources": bool}
_CHECK_KEYS = {"tolerance": float, "max-function-bytes": int, "max-total-bytes": int}
_FUNCTION_KEYS = {
    "handler": str, "include": list, "exclude-modules": list, "event": str, "keep": list, "name": str,
    "architecture": str,
    "aws-services": object,
}  # fmt: skip
_LISTS_OF_STRINGS = {"source-roots", "platforms", "include", "exclude-modules", "keep", "templates", "patterns"}


_did_you_mean = did_you_mean


def _check_keys(table: dict[str, Any], allowed: Mapping[str, type[Any]], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(
                f"Unknown key {key!r} in {where}.{_did_you_mean(key, list(allowed))} "
                f"Allowed keys: {', '.join(sorted(allowed))}."
            )
        expected = allowed[key]
        if expected is not object and (not isinstance(value, expected) or (expected is not bool and isinstance(value, bool))):
            raise ConfigError(
                f"{where}: {key!r} must be a {expected.__name__}, not {type(value).__name__} ({value!r})."
            )
        if key in ("source-roots", "platforms") and not value:
            example = '["functions", "shared"]' if key == "source-roots" else '["manylinux2014_x86_64"]'
            raise ConfigError(f"{where}: {key!r} is empty; name at least one (e.g. {key} = {example}), or leave the key out.")
        if key == "architecture" and value not in ARCHITECTURES:
            raise ConfigError(f"{where}: architecture {value!r} is not one of Lambda's: {', '.join(ARCHITECTURES)}. "
                              "Set one of them, or leave the key out to take the template's Architectures.")  # fmt: skip
        if key in _LISTS_OF_STRINGS:
            for item in value:
                if not isinstance(item, str) or not item:
                    raise ConfigError(
                        f"{where}: every item of {key!r} must be a non-empty string, not {item!r} "
                        f"({type(item).__name__}). Write e.g. {key} = [\"text\"]."
                    )
                if key in ("include", "keep") and (item.startswith("/") or ".." in item.replace("\\", "/").split("/")):
                    raise ConfigError(
                        f"{where}: {key} {item!r} reaches outside the backend root; only files under it can ship. "
                        "Move the file into the backend and name it relative to the root."
                    )


def _read_table(root: Path) -> tuple[dict[str, Any], str] | None:
    """builder.toml, else pyproject.toml's [tool.builder]; None when neither is there."""
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
        tool = data.get("tool", {})
        if isinstance(tool, dict) and "builder" in tool:
            if not isinstance(tool["builder"], dict):
                raise ConfigError(f"{path}: [tool.builder] must be a table.")
            return tool["builder"], f"{path} [tool.builder]"
    return None


def _function_table(name: str, table: Any, where: str) -> dict[str, Any]:
    where = f"{where} [functions.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table (e.g. handler = \"functions/health/ping.handler\").")
    _check_keys(table, _FUNCTION_KEYS, where)
    return table


def _check_name(name: str, where: str) -> None:
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}: function name {name!r} must be lowercase letters, digits and '-' "
            "(it becomes part of an image name)."
        )


def _standalone(name: str, table: dict[str, Any], where: str, root: Path, source_roots: tuple[str, ...]) -> FunctionConfig:
    """A function that builder.toml defines by itself (no template function of that name)."""
    where = f"{where} [functions.{name}]"
    _check_name(name, where)
    handler = table.get("handler")
    if not handler:
        raise ConfigError(f"{where} has no 'handler'. Add e.g. handler = \"functions/health/ping.handler\".")
    if not _HANDLER_RE.match(handler):
        raise ConfigError(
            f"{where}: handler {handler!r} is not of the form path/to/module.function "
            "(e.g. functions/user/auth/authorizer.handler)."
        )
    fn = FunctionConfig(name=name, handler=handler, event=f"events/{name}.json",
                        roots=(CodeRoot(".", TASK_ROOT, tops=source_roots, data=False),))  # fmt: skip
    top = fn.module_path.split("/", 1)[0]
    if top not in source_roots:
        raise ConfigError(
            f"{where}: handler {handler!r} is not under a source root ({', '.join(source_roots)}). "
            "Add its top folder to source-roots."
        )
    return _extended(fn, table, where)


def _extended(fn: FunctionConfig, table: dict[str, Any], where: str) -> FunctionConfig:
    """``fn`` with what its builder.toml table adds or overrides."""
    return replace(
        fn,
        name=table.get("name", fn.name),
        handler=table.get("handler", fn.handler),
        include=tuple(table.get("include", fn.include)),
        exclude_modules=tuple(table.get("exclude-modules", fn.exclude_modules)),
        event=table.get("event", fn.event),
        keep=(*fn.keep, *table.get("keep", ())),
        architecture=table.get("architecture", fn.architecture),
        aws_services=_aws_services(table["aws-services"], where) if "aws-services" in table else fn.aws_services,
    )


def _aws_services(value: Any, where: str) -> tuple[str, ...] | str:
    """``aws-services``: a list of service names as boto3.client() takes them, or "off"."""
    if value == AWS_SERVICES_OFF:
        return AWS_SERVICES_OFF
    if isinstance(value, list) and all(isinstance(v, str) and SERVICE_NAME.match(v) for v in value):
        return tuple(sorted(set(value)))
    raise ConfigError(
        f"{where}: aws-services must be a list of AWS service names as boto3.client() takes them "
        f"(e.g. aws-services = [\"s3\", \"dynamodb\"]: only their botocore models ship), or \"{AWS_SERVICES_OFF}\" "
        f"to ship every model; not {value!r}. Leave it out to let builder find the services in the code."
    )


def check_handler(fn: FunctionConfig, root: Path, where: str) -> None:
    """The handler's file exists under its code root and defines the handler function."""
    path = root / fn.module_path
    if not path.is_file() and (root / fn.module_path.removesuffix(".py") / "__init__.py").is_file():
        path = root / fn.module_path.removesuffix(".py") / "__init__.py"  # the handler's module is a package
    if not path.is_file():
        raise ConfigError(
            f"{where}: handler {fn.handler!r} of {fn.name}: {fn.module_path} does not exist. Check the handler "
            f"(its module path is relative to {fn.code_root.owner or 'the backend root'})."
        )
    if not _defines(path, fn.attribute):
        raise ConfigError(
            f"{where}: handler {fn.handler!r} of {fn.name}: {fn.module_path} defines no top-level "
            f"{fn.attribute!r}. Check the function name after the last dot."
        )


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
    return StripConfig(
        defaults=table.get("defaults", True),
        patterns=tuple(table.get("patterns", [])),
        per_dist=tuple(sorted((canonicalize_name(d), tuple(p)) for d, p in tables["per-dist"].items())),
        debug_symbols=tuple(sorted((canonicalize_name(d), tuple(p)) for d, p in tables["debug-symbols"].items())),
        sources=table.get("sources", True),
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


def _merge(template_fns: tuple[FunctionConfig, ...], tables: dict[str, Any], where: str, root: Path,
           source_roots: tuple[str, ...] | None, origin: dict[str, str]) -> list[FunctionConfig]:  # fmt: skip
    """The template's functions with builder.toml's tables merged in (by name or logical ID),
    then the functions builder.toml defines alone. ``origin`` gets where each handler was read."""
    by_key = {fn.name: fn for fn in template_fns} | {fn.logical_id: fn for fn in template_fns}
    origin.update({fn.name: fn.template for fn in template_fns})
    tables = {name: _function_table(name, table, where) for name, table in tables.items()}
    merged = {fn.name: fn for fn in template_fns}
    for name, table in sorted(tables.items()):
        fn = by_key.get(name)
        if fn is None:
            if not table.get("handler") and template_fns:
                known = [f.name for f in template_fns]
                raise ConfigError(
                    f"{where} [functions.{name}] matches no function of the template.{_did_you_mean(name, known)} "
                    f"Known functions: {', '.join(known)}; or give it a handler to define a function of its own."
                )
            fn = _standalone(name, table, where, root, source_roots or Config.source_roots)
            merged[fn.name], origin[fn.name] = fn, where
            continue
        del merged[fn.name]
        if source_roots is not None:  # builder's own layout replaces the template's CodeUri and layers
            fn = replace(fn, roots=(CodeRoot(".", TASK_ROOT, tops=source_roots, data=False),))
        fn = _extended(fn, table, f"{where} [functions.{name}]")
        _check_name(fn.name, f"{where} [functions.{name}]")
        merged[fn.name] = fn
        origin[fn.name] = where if "handler" in table else origin.pop(name, fn.template)
    return sorted(merged.values(), key=lambda f: f.name)


def load(root: Path | str, *, templates: tuple[str, ...] = (), **overrides: Any) -> Config:
    """Read and validate the configuration of the backend at ``root``.

    ``templates`` (``--template``) names the SAM templates; else builder.toml's ``templates``,
    samconfig.toml's ``template_file`` or ``template.yaml`` is read when there. ``overrides``
    (from CLI flags, by dataclass field name) win over the file.
    """
    from . import template as sam_project  # the template reader imports this module's dataclasses

    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"Project folder {root} does not exist. Pass --project DIR with the backend's root.")
    found = _read_table(root)
    table, where = found if found is not None else ({}, str(root / CONFIG_FILE))
    _check_keys(table, _TOP_KEYS, where)
    samconfig = sam_project.read_samconfig(root)
    paths = sam_project.find_templates(root, templates or tuple(table.get("templates", ())), samconfig)
    if found is None and not paths:
        raise ConfigError(
            f"No builder configuration in {root}: neither a SAM template (template.yaml, template.yml, or "
            f"--template FILE) nor {CONFIG_FILE}. Run the command from the backend's root or pass --project DIR."
        )
    python_version = overrides.get("python_version") or table.get("python-version")
    if python_version is not None and not _VERSION_RE.match(python_version):
        raise ConfigError(f"{where}: python-version {python_version!r} is not a Python 3 version such as \"3.11\".")
    if python_version is not None and python_version not in PYTHON_RUNTIMES:
        raise ConfigError(
            f"{where}: python-version {python_version!r} is not a Python that Lambda runs "
            f"({', '.join(PYTHON_RUNTIMES)}). Pick one of them."
        )
    source_roots = tuple(table["source-roots"]) if "source-roots" in table else None
    project = sam_project.read(root, paths, python_version=python_version, layout=source_roots is None)
    for src in source_roots or (() if paths else Config.source_roots):
        if not (root / src).is_dir():
            raise ConfigError(f"{where}: source root {src!r} is not a folder in {root}.")
    origin: dict[str, str] = {}
    functions = _merge(project.functions, table.get("functions", {}), where, root, source_roots, origin)
    if not functions:
        skipped = "; ".join(f"{fid}: {why}" for fid, why in project.skipped)
        raise ConfigError(
            f"{where if not paths else ', '.join(project.templates)} defines no Python function"
            + (f" (left alone: {skipped})" if skipped else "")
            + ". Add a python3.x AWS::Serverless::Function to the template, or a [functions.NAME] table with "
            "a handler to builder.toml."
        )
    names = [fn.name for fn in functions]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{where}: two functions are named {', '.join(twice)}; rename one with name = \"...\".")
    python_version = python_version or project.python_version or Config.python_version
    name = table.get("name", root.name.lower())
    name = overrides.get("name") or name
    if not _NAME_RE.match(name):
        fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "backend"
        if "name" in table:
            raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits and '-'.")
        name = fixed
    explicit_lock = overrides.get("lock_file") or table.get("lock-file")
    lock_file = explicit_lock or (_shared_lock(root, paths, samconfig) if paths else Config.lock_file)
    functions = [replace(fn, lock_file=lock_of(root, fn, lock_file)) for fn in functions]
    for fn in functions:
        check_handler(fn, root, origin.get(fn.name) or where)
    base_image = overrides.get("base_image") or table.get("base-image")
    config = Config(
        root=root,
        strip=_strip(table.get("strip", {}), where),
        check=_check(table.get("check", {}), where),
        name=name,
        python_version=python_version,
        base_image=base_image or DEFAULT_BASE_IMAGE.format(python_version=python_version),
        base_image_set=bool(base_image),
        lock_file=lock_file,
        locked_by_builder=not explicit_lock and bool(paths),
        source_roots=source_roots or Config.source_roots,
        platforms=tuple(table.get("platforms", default_platforms(python_version))),
        functions=tuple(functions),
        templates=project.templates,
        keep=tuple(table.get("keep", ())),
        skipped=project.skipped,
        notices=project.notices,
        parameters=samconfig.parameters,
        env_vars=samconfig.env_vars,
        images=_images(table.get("images", Config.images), where),
        aws_services=_aws_services(table["aws-services"], where) if "aws-services" in table else None,
    )
    fields = set(Config.__dataclass_fields__) - {"root"}
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None and k in fields})
    if "functions" in overrides:  # given as data (tests, tools): builder's layout and the shared lock
        config = replace(config, functions=tuple(
            replace(fn, lock_file=fn.lock_file or config.lock_file,
                    roots=fn.roots if fn.roots != FunctionConfig.roots else
                    (CodeRoot(".", TASK_ROOT, tops=config.source_roots, data=False),))
            for fn in config.functions))  # fmt: skip
    if not config.locked_by_builder and not config.lock_path.is_file():
        raise ConfigError(
            f"Lock file {config.lock_file} not found in {root}. Lock your requirements with "
            f"`pip-compile requirements/functions.in` or set lock-file in {CONFIG_FILE}."
        )
    return config


def _images(value: str, where: str) -> str:
    if value not in ("per-function", ONE_IMAGE):
        raise ConfigError(
            f"{where}: images must be \"per-function\" (an image per function, the default) or \"{ONE_IMAGE}\" "
            f"(one image holding every function, the migration guide's shape), not {value!r}."
        )
    return value


def _shared_lock(root: Path, paths: tuple[Path, ...], samconfig: Any) -> str:
    """builder-locks/shared.txt for the project's own template; templates named otherwise (several
    templates in one folder, each deployed alone) get a folder of their own in builder-locks/."""
    from . import template as sam_project  # the template reader imports this module's dataclasses

    if paths == sam_project.find_templates(root, (), samconfig):
        return SHARED_LOCK
    stems = "+".join(path.stem for path in paths)
    return f"{LOCK_DIR}/{stems}/shared.txt"


def lock_of(root: Path, fn: FunctionConfig, shared: str) -> str:
    """The lock of a function: the shared one, or its own (beside it) where builder found that its
    requirements diverge."""
    if not shared.startswith(LOCK_DIR + "/"):
        return shared  # a lock of the user's (lock-file)
    own = f"{shared.rsplit('/', 1)[0]}/{fn.name}.txt"
    return own if (root / own).is_file() else shared
