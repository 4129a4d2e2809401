"""Read a SAM template and plan which of its Python functions become container images.

Everything here is pure over the template's text: ``load_template`` is the only
reader, sizes and git history are computed by callers and passed in, and the
rewrites (``sam_edit``) return new text for the caller to write. PyYAML reads
the template with CloudFormation's short-form tags (``!Ref``, ``!Sub``, ...)
turned into their long form; its node marks give each mapping entry a span of
whole lines, which is what the rewrites edit, so comments, key order, quoting
and tags outside the edited lines stay byte for byte.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import proc
from .errors import BuildError, TemplateError

FUNCTION_TYPE = "AWS::Serverless::Function"
LIMIT_BYTES = 262_144_000  # Lambda's 250 MiB limit on unzipped code plus layers
HEAVY_SHARE = 0.5  # above this share of the limit a function should become an image
TINY_SHARE = 0.1
FREQUENT_CHANGES = 10  # commits in the git window that make a function "frequently changed"
ZIP_ONLY = ("CodeUri", "Handler", "Runtime", "Layers")  # what SAM rejects on image functions
SYNC_EVENTS = frozenset({"Api", "HttpApi"})


# --------------------------------------------------------------------------- reading


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when there: 10x faster
    """SafeLoader that reads CloudFormation short-form tags and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _intrinsic(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def compose(text: str, path: str) -> tuple[yaml.MappingNode, dict[str, Any]]:
    """Parse ``text`` into its node tree and its data; YAML errors name ``path:line``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise TemplateError(
            f"{where}: {exc.problem or exc.context}. Fix the YAML there and run again."
        ) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML ({exc}).") from exc
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a YAML mapping at the top.")
    return node, data


# --------------------------------------------------------------------------- spans


@dataclass(frozen=True)
class Entry:
    """One ``key: value`` of a block mapping as whole lines (0-based, ``stop`` exclusive).

    ``start`` includes the comment and blank lines above the key (they describe
    it); ``line`` is the key's own line; ``stop`` follows its last line of content.
    """

    key: str
    value: yaml.Node = field(repr=False, compare=False)
    line: int
    start: int
    stop: int


@dataclass(frozen=True)
class Block:
    """A block mapping: its entries, where its body starts and its key column."""

    entries: tuple[Entry, ...]
    body: int
    column: int

    def get(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)


def split_lines(text: str) -> list[str]:
    """``text`` cut after each "\\n" only (str.splitlines also cuts at form feeds and more)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


class Source:
    """The lines of a template's text, with the spans of its block mappings."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = split_lines(text)
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._last: dict[int, int] = {}  # by id(node); the caller keeps the nodes alive

    def last_line(self, node: yaml.Node) -> int:
        """The last line holding content of ``node`` (trailing comments excluded)."""
        if id(node) not in self._last:
            self._last[id(node)] = self._find_last_line(node)
        return self._last[id(node)]

    def _find_last_line(self, node: yaml.Node) -> int:
        start, end = node.start_mark, node.end_mark
        if isinstance(node, yaml.ScalarNode):
            if node.style not in ("|", ">"):
                return end.line if end.column or end.line == start.line else end.line - 1
            last = end.line - 1 if end.column == 0 else end.line
            header = self.lines[start.line][start.column :].split("#")[0]
            while "+" not in header and last > start.line and not self.lines[last].strip():
                last -= 1  # blank lines after a clipped block scalar are not its content
            return last
        if getattr(node, "flow_style", False):
            return end.line
        children: Iterable[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            children = (n for pair in node.value for n in pair)
        else:
            children = node.value
        return max((self.last_line(c) for c in children), default=start.line)

    def block(self, node: yaml.Node, body: int, where: str) -> Block:
        """The block mapping ``node`` whose first entry may start at line ``body``."""
        if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
            raise TemplateError(
                f"{where} (line {node.start_mark.line + 1}) is not a block mapping; "
                "builder edits only block-style YAML there. Rewrite it in block style."
            )
        entries = []
        start = body
        for key_node, value in node.value:
            stop = max(self.last_line(key_node), self.last_line(value)) + 1
            entries.append(Entry(str(key_node.value), value, key_node.start_mark.line, start, stop))
            start = stop
        return Block(tuple(entries), body, node.value[0][0].start_mark.column)

    def text_of(self, entry: Entry, *, leading: bool = False) -> str:
        """The entry's lines, with or without its leading comments."""
        return "".join(self.lines[entry.start if leading else entry.line : entry.stop])

    def value_source(self, node: yaml.Node) -> str:
        return self.text[node.start_mark.index : node.end_mark.index]


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
                f"{logical_id} is a {kind}, not an {FUNCTION_TYPE}; only SAM functions can be "
                "migrated. Pick one of: " + ", ".join(f.logical_id for f in self.functions) + "."
            )
        close = difflib.get_close_matches(logical_id, [f.logical_id for f in self.functions], n=1)
        hint = f"Did you mean {close[0]}? " if close else ""
        raise TemplateError(
            f"{self.path} has no function {logical_id}. {hint}The functions are: "
            + ", ".join(f.logical_id for f in self.functions)
            + "."
        )


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
        layer_list = merged.get("Layers") if isinstance(merged.get("Layers"), list) else []
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


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class FunctionPlan:
    """What ``plan`` says about one function; sizes are unzipped bytes."""

    logical_id: str
    package_type: str
    runtime: str | None
    handler: str | None
    code_uri: str | None
    layers: tuple[str, ...]
    unzipped_bytes: int
    headroom_bytes: int
    recommendation: str  # "convert", "keep-zip" or "already-image"
    reasons: tuple[str, ...]


_SUB_VAR = re.compile(r"\$\{([^!}][^}]*)\}")


def references(value: Any) -> set[str]:
    """Logical ids that ``value`` names through Ref, GetAtt or Sub (pseudo parameters left out)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, arg in value.items():
            if name == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif name == "Fn::GetAtt" and isinstance(arg, list) and arg:
                found.add(str(arg[0]))
            elif name == "Fn::Sub":
                text, local = (
                    (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
                )
                if isinstance(text, str):
                    found |= {m.split(".")[0] for m in _SUB_VAR.findall(text)} - set(local or {})
                found |= references(local)
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return {name for name in found if not name.startswith("AWS::")}


def find_authorizers(template: Template) -> dict[str, str]:
    """Function id -> why it is an authorizer (API Auth, ApiGateway Authorizer or its name)."""
    ids = {f.logical_id for f in template.functions}
    found: dict[str, str] = {}
    for rid, resource in template.data["Resources"].items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            auth = props.get("Auth") if isinstance(props.get("Auth"), dict) else {}
            for name, conf in (auth.get("Authorizers") or {}).items():
                for fid in (
                    references(conf.get("FunctionArn") if isinstance(conf, dict) else None) & ids
                ):
                    found.setdefault(fid, f"authorizer {name} of {rid}")
        elif kind in ("AWS::ApiGateway::Authorizer", "AWS::ApiGatewayV2::Authorizer"):
            for fid in references(props.get("AuthorizerUri")) & ids:
                found.setdefault(fid, f"authorizer {rid}")
    for info in template.functions:
        if "authorizer" in f"{info.logical_id} {info.handler or ''}".lower():
            found.setdefault(info.logical_id, "authorizer (by its name)")
    return found


def _cold_start_critical(info: FunctionInfo) -> bool:
    events = info.properties.get("Events")
    kinds = (
        {e.get("Type") for e in events.values() if isinstance(e, dict)}
        if isinstance(events, dict)
        else set()
    )
    return bool(kinds & SYNC_EVENTS) or "FunctionUrlConfig" in info.properties


def _share(size: int) -> str:
    share = 100 * size / LIMIT_BYTES
    return (
        f"{share:.1f}% of the 250 MB limit" if share < 10 else f"{share:.0f}% of the 250 MB limit"
    )


def plan_template(
    template: Template,
    *,
    sizes: Callable[[FunctionInfo], int],
    change_counts: Mapping[str, int],
) -> tuple[FunctionPlan, ...]:
    """Recommend, per function, converting to an image or keeping the ZIP package.

    Convert what is heavy (over half the 250 MB limit), what authorizes API
    calls and what changes often (``change_counts``: commits per CodeUri);
    keep the rest, noting when it is tiny, rarely changed or cold-start-critical.
    ``sizes`` gives a function's unzipped code plus dependencies plus layers.
    """
    authorizers = find_authorizers(template)
    plans = []
    for info in template.functions:
        size = sizes(info)
        changes = change_counts.get(info.code_uri) if info.code_uri else None
        if info.package_type == "Image":
            recommendation, reasons = "already-image", ["PackageType: Image"]
        else:
            reasons = []
            if size > LIMIT_BYTES:
                reasons.append(f"over the 250 MB limit by {(size - LIMIT_BYTES) / 2**20:.1f} MB")
            elif size > HEAVY_SHARE * LIMIT_BYTES:
                reasons.append(f"heavy: {_share(size)}")
            if info.logical_id in authorizers:
                reasons.append(authorizers[info.logical_id])
            if changes is not None and changes >= FREQUENT_CHANGES:
                reasons.append(f"changed often: {changes} recent commits to {info.code_uri}")
            recommendation = "convert" if reasons else "keep-zip"
            if not reasons:
                reasons.append(
                    ("tiny: " if size < TINY_SHARE * LIMIT_BYTES else "fits: ") + _share(size)
                )
                reasons.append(
                    "no git history"
                    if changes is None
                    else f"rarely changed: {changes} recent commits"
                )
                if _cold_start_critical(info):
                    reasons.append("cold-start-critical: serves synchronous API calls")
        plans.append(
            FunctionPlan(
                info.logical_id,
                info.package_type,
                info.runtime,
                info.handler,
                info.code_uri,
                info.layers,
                size,
                LIMIT_BYTES - size,
                recommendation,
                tuple(reasons),
            )
        )
    return tuple(plans)


def git_change_counts(
    repo_dir: str | os.PathLike[str], code_uris: Iterable[str], since: str = "90 days"
) -> dict[str, int]:
    """Commits in the last ``since`` that touched each CodeUri (relative to ``repo_dir``).

    Returns {} when ``repo_dir`` is not in a git work tree with commits, or git is missing.
    """
    try:
        head = proc.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo_dir, check=False)
    except BuildError:
        return {}
    if head.returncode != 0:
        return {}
    counts = {}
    for uri in sorted(set(code_uris)):
        result = proc.run(
            ["git", "rev-list", "--count", f"--since={since}", "HEAD", "--", uri],
            cwd=repo_dir,
            check=False,
        )
        if result.returncode == 0 and result.output.strip().isdigit():
            counts[uri] = int(result.output.strip())
    return counts


# --------------------------------------------------------------------------- output


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff from ``old`` to ``new`` labelled a/``path`` and b/``path``; '' if equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


