"""How a function runs locally, as its template says: environment, memory, timeout, /tmp size.

Pure: the template's values (``FunctionConfig.settings``, Globals merged) are resolved the
way CloudFormation would, with parameters from their defaults, samconfig.toml's and the
command line's overrides (as ``sam local invoke`` takes them), and the pseudo parameters
``sam local`` uses. What only a deployed stack knows gets a stand-in, and a notice says which
variables have one and how to set them: a resource's ``!Ref`` is its logical ID (as ``sam
local`` has it), anything else (an attribute, a parameter read from SSM or without a default)
a visible ``<unresolved: ...>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..project.model import Config, FunctionConfig
from ..sam import template as sam

DEFAULT_MEMORY_MB = 128  # Lambda's defaults, when the template says nothing
DEFAULT_TIMEOUT_S = 3
DEFAULT_TMP_MB = 512
# The pseudo parameters `sam local invoke` resolves (samcli's IntrinsicsSymbolTable), so both answer alike.
PSEUDO = {
    "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
    "AWS::URLSuffix": "localhost", "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
}  # fmt: skip
_SUB = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class LocalSettings:
    """What a local run of one function gets; ``notices`` say what could not be resolved."""

    environment: Mapping[str, str]
    memory_mb: int
    timeout_s: int
    tmp_mb: int
    notices: tuple[str, ...] = ()


def placeholder(value: Any) -> str:
    """The visible stand-in for a value only a deployed stack has."""
    return f"<unresolved: {sam.describe(value)}>"


class _Resolver:
    def __init__(self, parameters: Mapping[str, str | None], resources: set[str]) -> None:
        self.values: dict[str, str | None] = {**PSEUDO, **parameters}
        self.resources = resources
        self.unresolved: list[str] = []

    def text(self, value: Any) -> str:
        """``value`` as the text CloudFormation would give, or a placeholder (noted in ``unresolved``)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref" and isinstance(arg, str) and self.values.get(arg) is not None:
                return str(self.values[arg])
            if name == "Ref" and arg in self.resources and arg not in self.values:
                self.unresolved.append(f"!Ref {arg}")
                return str(arg)  # a resource's name is known once deployed: its logical ID stands in
            if name == "Fn::Sub":
                return self._sub(arg, value)
            if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
                return str(arg[0]).join(self.text(item) for item in arg[1])
            if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                return str(arg[0]).join(self.text(arg[1]).split(","))  # a CommaDelimitedList parameter
        self.unresolved.append(sam.describe(value))
        return placeholder(value)

    def _sub(self, arg: Any, whole: Any) -> str:
        text, local = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(text, str) or not isinstance(local, dict):
            self.unresolved.append(sam.describe(whole))
            return placeholder(whole)

        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is an escaped ${Literal}
            if name in local:
                return self.text(local[name])
            if "." not in name and self.values.get(name) is not None:
                return str(self.values[name])
            if name in self.resources and name not in self.values:
                self.unresolved.append("${" + name + "}")
                return name
            self.unresolved.append("${" + name + "}")
            return f"<unresolved: ${{{name}}}>"

        return _SUB.sub(one, text)


def parameters(config: Config, overrides: Mapping[str, str]) -> tuple[dict[str, str | None], set[str]]:
    """Parameter values for local runs (defaults, then samconfig.toml's, then ``overrides``), and the
    logical IDs of the templates' resources.

    A parameter that CloudFormation reads from SSM Parameter Store has no local value unless
    it is overridden.
    """
    values: dict[str, str | None] = {}
    resources: set[str] = set()
    for path in config.templates:
        data = sam.load_template(config.root / path).data
        resources |= set(data.get("Resources") or {})
        declared = data.get("Parameters") or {}
        for name, spec in declared.items() if isinstance(declared, dict) else ():
            spec = spec if isinstance(spec, dict) else {}
            from_ssm = str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value")
            default = spec.get("Default")
            values.setdefault(name, None if from_ssm or default is None else _plain(default))
    values.update(dict(config.parameters))
    values.update(overrides)
    return values, resources


def _plain(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def env_vars_file(path: Path) -> dict[str, dict[str, str]]:
    """SAM's ``--env-vars`` JSON: ``{"Parameters": {...}, "<LogicalId or name>": {"VAR": "value"}}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the env-vars file {path}: {exc.strerror}. Check the path.") from exc
    except ValueError as exc:
        raise ConfigError(
            f"The env-vars file {path} is not valid JSON ({exc}). It maps function names (or \"Parameters\") "
            "to objects of variables, as for `sam local invoke --env-vars`."
        ) from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            f"The env-vars file {path} must map function names (or \"Parameters\") to objects of variables, "
            'e.g. {"HelloWorldFunction": {"TABLE_NAME": "orders"}}.'
        )
    return {key: {k: _plain(v) for k, v in table.items()} for key, table in data.items()}


def local_settings(
    config: Config,
    fn: FunctionConfig,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    env_vars: Mapping[str, Mapping[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
) -> LocalSettings:
    """The environment, memory, timeout and /tmp size of ``fn`` for a local run.

    ``env_vars`` (SAM's env-vars file) sets variables the template declares: its
    ``Parameters`` table for every function, then the function's own table (by logical ID
    or name), as ``sam local invoke`` does. ``env`` (``--env``) sets any variable, last.
    """
    resolver = _Resolver(*parameters(config, parameter_overrides or {}))
    declared = fn.setting("Environment") or {}
    declared = declared.get("Variables") if isinstance(declared, dict) else None
    environment: dict[str, str] = {}
    unresolved: list[str] = []
    for key, value in sorted((declared or {}).items()) if isinstance(declared, dict) else ():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] == "AWS::NoValue":
            continue
        before = len(resolver.unresolved)
        environment[key] = resolver.text(value)
        if len(resolver.unresolved) > before:
            unresolved.append(key)
    files = env_vars or {}
    for table in (files.get("Parameters", {}), files.get(fn.logical_id, {}), files.get(fn.name, {})):
        for key, value in table.items():
            if key in environment:
                environment[key] = value
                if key in unresolved:
                    unresolved.remove(key)
    environment.update(_logging(fn.setting("LoggingConfig")))
    environment.update(env or {})
    unresolved = [key for key in unresolved if key not in (env or {})]
    notices = []
    if unresolved:
        notices.append(
            f"{fn.name}: {', '.join(unresolved)} {'has' if len(unresolved) == 1 else 'have'} no local value (only a "
            f"deployed stack knows {'it' if len(unresolved) == 1 else 'them'}), so the run sees a stand-in (a "
            "resource's logical ID, as sam local gives, or <unresolved: ...>); set them with --env KEY=VALUE, "
            "--env-vars FILE or --parameter-overrides KEY=VALUE."
        )
    storage = fn.setting("EphemeralStorage")
    return LocalSettings(
        environment=environment,
        memory_mb=_number(resolver, fn.setting("MemorySize"), DEFAULT_MEMORY_MB, fn, "MemorySize", notices),
        timeout_s=_number(resolver, fn.setting("Timeout"), DEFAULT_TIMEOUT_S, fn, "Timeout", notices),
        tmp_mb=_number(resolver, storage.get("Size") if isinstance(storage, dict) else None, DEFAULT_TMP_MB, fn,
                       "EphemeralStorage.Size", notices),  # fmt: skip
        notices=tuple(notices),
    )


def _logging(config: Any) -> dict[str, str]:
    """Lambda's variables for the template's ``LoggingConfig``: a JSON log format, and its levels."""
    if not isinstance(config, dict) or str(config.get("LogFormat", "")).upper() != "JSON":
        return {}
    variables = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    if config.get("ApplicationLogLevel"):
        variables["AWS_LAMBDA_LOG_LEVEL"] = str(config["ApplicationLogLevel"]).upper()
    return variables


def _number(resolver: _Resolver, value: Any, default: int, fn: FunctionConfig, key: str, notices: list[str]) -> int:
    if value is None:
        return default
    text = resolver.text(value)
    try:
        return int(float(text))
    except ValueError:
        notices.append(f"{fn.name}: {key} {text} is not a number here; the local run uses {default}.")
        return default
