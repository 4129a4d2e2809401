"""Read a SAM template and plan which of its Python functions become container images.

Everything here is pure over the template's text: ``load_template`` is the only
reader, sizes and git history are computed by callers and passed in, and the
rewrites (``sam_edit``) return new text for the caller to write. PyYAML reads
the template with CloudFormation's short-form tags (``!Ref``, ``!Sub``, ...)
turned into their long form; its node marks give each mapping entry a span of
whole lines, which is what the rewrites edit, so comments, key order, quoting
and tags outside the edited lines stay byte for byte.

The YAML reading lives in ``sam_yaml`` and the planning in ``sam_plan``; their
public names are importable from here too.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import TemplateError
from .spans import Source, compose

FUNCTION_TYPE = "AWS::Serverless::Function"
ZIP_ONLY = ("CodeUri", "Handler", "Runtime", "Layers")  # what SAM rejects on image functions
ZIP_BUILD_METADATA = ("BuildMethod", "BuildProperties")  # how `sam build` builds a ZIP function's folder


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class FunctionInfo:
    """One ``AWS::Serverless::Function`` with ``Globals.Function`` applied as SAM does.

    ``layers`` holds a logical id for ``!Ref Layer`` and the text otherwise (an
    ARN); ``lines`` is the 1-based first and last line of the resource.
    """

    logical_id: str
    package_type: str
    runtime: str | None
    handler: str | None
    code_uri: str | None
    layers: tuple[str, ...]
    properties: Mapping[str, Any] = field(repr=False)
    metadata: Mapping[str, Any] = field(repr=False)
    lines: tuple[int, int]
    migrated: bool


@dataclass(frozen=True)
class Template:
    """A parsed template: its text, its data, its functions and its layers' content dirs."""

    path: str
    text: str
    data: Mapping[str, Any] = field(repr=False)
    functions: tuple[FunctionInfo, ...]
    layers: Mapping[str, str]
    root: yaml.MappingNode = field(repr=False, compare=False)
    source: Source = field(repr=False, compare=False)

    def function(self, logical_id: str) -> FunctionInfo:
        """The function ``logical_id``, or a TemplateError that says what exists."""
        for info in self.functions:
            if info.logical_id == logical_id:
                return info
        resources = self.data["Resources"]
        if logical_id in resources:
            kind = (
                resources[logical_id].get("Type")
                if isinstance(resources[logical_id], dict)
                else None
            )
            raise TemplateError(
                f"{logical_id} is of type {kind}, not {FUNCTION_TYPE}; only SAM functions can be "
                "migrated. Pick one of: " + ", ".join(f.logical_id for f in self.functions) + "."
            )
        close = difflib.get_close_matches(logical_id, [f.logical_id for f in self.functions], n=1)
        hint = f"Did you mean {close[0]}? " if close else ""
        raise TemplateError(
            f"{self.path} has no function {logical_id}. {hint}The functions are: "
            + ", ".join(f.logical_id for f in self.functions)
            + "."
        )


def build_method(metadata: Any) -> str:
    """The ``BuildMethod`` of a resource's ``Metadata`` (``python3.12``, ``python-uv``, ``makefile``), or ""."""
    return str(metadata.get("BuildMethod", "")).strip() if isinstance(metadata, Mapping) else ""


def describe(value: Any) -> str:
    """A short, stable text for a property value (intrinsics in short form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return f"!Ref {arg}"
        if name == "Fn::GetAtt" and isinstance(arg, list):
            return "!GetAtt " + ".".join(map(str, arg))
        if name.startswith("Fn::"):
            return f"!{name[4:]} {json.dumps(arg, default=str)}"
    if isinstance(value, dict) and {"Bucket", "Key"} <= value.keys():
        return f"s3://{describe(value['Bucket'])}/{describe(value['Key'])}"
    return json.dumps(value, default=str)


def _is_intrinsic(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and any(k in ("Ref", "Condition") or k.startswith("Fn::") for k in value)
    )


def sam_merge(global_value: Any, local_value: Any) -> Any:
    """A Globals.Function value merged with a function's own, as SAM does.

    Lists concatenate (globals first), mappings merge key by key, anything else
    (intrinsics included) is replaced by the function's own value.
    """
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    if (
        isinstance(global_value, dict)
        and isinstance(local_value, dict)
        and not _is_intrinsic(global_value)
        and not _is_intrinsic(local_value)
    ):
        merged = {
            k: sam_merge(global_value[k], v) if k in global_value else v
            for k, v in local_value.items()
        }
        return {**global_value, **merged}
    return local_value


def global_function(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The template's Globals.Function mapping ({} when there is none)."""
    glob = data.get("Globals")
    glob = glob.get("Function") if isinstance(glob, dict) else None
    return glob if isinstance(glob, dict) else {}


def effective_properties(data: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with Globals.Function merged in, as SAM deploys them."""
    return sam_merge(
        dict(global_function(data)), data["Resources"][logical_id].get("Properties") or {}
    )


def _layer_name(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return describe(value)


def parse_template(text: str, path: str = "template.yaml") -> Template:
    """Parse a template's text; see :func:`load_template`."""
    root, data = compose(text, path)
    if not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: no Resources mapping; is this a SAM template?")
    resources_node = next(v for k, v in root.value if k.value == "Resources")
    nodes = {str(k.value): (k, v) for k, v in resources_node.value}
    src = Source(text)
    functions = []
    layers = {}
    for logical_id, resource in data["Resources"].items():
        if not isinstance(resource, dict):
            raise TemplateError(f"{path}: resource {logical_id} is not a mapping.")
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            raise TemplateError(f"{path}: Properties of {logical_id} is not a mapping.")
        content = props.get("ContentUri")
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(content, str):
            layers[logical_id] = content
        if resource.get("Type") != FUNCTION_TYPE:
            continue
        package_type = describe(props.get("PackageType", "Zip"))
        # An image function ignores what Globals says about code, runtime and layers.
        merged = {} if package_type == "Image" else effective_properties(data, logical_id)
        metadata = resource.get("Metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        key_node, value_node = nodes[logical_id]
        layer_value = merged.get("Layers")
        layer_list = layer_value if isinstance(layer_value, list) else []
        functions.append(
            FunctionInfo(
                logical_id=logical_id,
                package_type=package_type,
                runtime=describe(merged["Runtime"]) if "Runtime" in merged else None,
                handler=describe(merged["Handler"]) if "Handler" in merged else None,
                code_uri=describe(merged["CodeUri"]) if "CodeUri" in merged else None,
                layers=tuple(_layer_name(v) for v in layer_list),
                properties=props,
                metadata=metadata,
                lines=(key_node.start_mark.line + 1, src.last_line(value_node) + 1),
                migrated="BuilderRollback" in metadata,
            )
        )
    return Template(path, text, data, tuple(functions), layers, root, src)


def load_template(path: str | os.PathLike[str]) -> Template:
    """Read and parse the SAM template at ``path``; errors are TemplateErrors with file:line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TemplateError(f"Cannot read the template {path}: {exc.strerror}.") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path} is not UTF-8 text; save it as UTF-8 and run again.") from exc
    return parse_template(text, str(path))


def function_handler(info: FunctionInfo) -> str | None:
    """The handler a function runs: its Handler, or an image's ``ImageConfig.Command[0]``."""
    if info.handler is not None:
        return info.handler
    config = info.properties.get("ImageConfig")
    command = config.get("Command") if isinstance(config, dict) else None
    if isinstance(command, list) and command and isinstance(command[0], str):
        return command[0]
    return None


def functions_by_handler(template: Template) -> dict[str, tuple[str, ...]]:
    """Handler -> the logical ids of the functions that run it (how builder's functions map)."""
    found: dict[str, tuple[str, ...]] = {}
    for info in template.functions:
        handler = function_handler(info)
        if handler is not None:
            found[handler] = (*found.get(handler, ()), info.logical_id)
    return found


# --------------------------------------------------------------------------- output


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff from ``old`` to ``new`` labelled a/``path`` and b/``path``; '' if equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
