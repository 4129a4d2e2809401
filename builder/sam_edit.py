"""Rewrite SAM functions from ZIP packages to container images and back, as text edits.

``migrate``, ``rollback`` and ``pin`` take a parsed :class:`~builder.sam.Template`
and return the new text; writing it is the caller's job. Each edit replaces the
whole lines of mapping entries (see :class:`~builder.sam.Block`), so every other
byte stays as it was. What an edit removes is kept, verbatim, in the template:

* ``<Function>.Metadata.BuilderRollback``: ``Properties``, the runs of removed
  ZIP properties (with their comments) and the key each run followed;
  ``Metadata``, the function's own Metadata entry if it had one; ``UsesGlobals``
  when its definition relied on Globals that migrate then moved.
* top-level ``Metadata.Builder``: ``Repository``, the ECR repository migrate
  added; ``Globals``, the runs removed from ``Globals.Function`` (SAM applies
  globals to image functions too, and rejects Runtime, Handler and Layers
  there); ``Moved``, those entries one by one; ``Receivers``, what each ZIP
  function got from them, to undo when they go back.

Kept text is dedented to column 0 when that can be undone exactly (else it
carries ``Indent``); cfn-lint rejects nulls in Metadata, so absent keys mean
"none". Migrate checks its own work before returning: rolling the result back
must give the input byte for byte, and the properties every function ends up
with (Globals applied) must be what they were, less what an image cannot have.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import TemplateError
from .sam import (
    FUNCTION_TYPE,
    ZIP_ONLY,
    Block,
    Entry,
    FunctionInfo,
    Template,
    compose,
    effective_properties,
    global_function,
    parse_template,
    references,
    sam_merge,
    split_lines,
)

log = logging.getLogger("builder")

IMAGE_KEYS = ("PackageType", "ImageUri", "ImageConfig")
ROLLBACK_KEY = "BuilderRollback"
STATE_KEY = "Builder"
REPOSITORY_ID = "ImageRepository"
_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_SEQ = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class ImageMetadata:
    """What SAM's ``sam build`` reads from an image function's Metadata."""

    context: str
    dockerfile: str
    tag: str


def default_image_metadata(info: FunctionInfo) -> ImageMetadata:
    return ImageMetadata(".", f".builder/{info.logical_id}/Dockerfile", "latest")


def migratable(template: Template) -> tuple[str, ...]:
    """The functions ``migrate --all`` means: ZIP functions with their code in a folder."""
    return tuple(
        f.logical_id
        for f in template.functions
        if f.package_type == "Zip" and "InlineCode" not in f.properties
    )


def migrated(template: Template) -> tuple[str, ...]:
    """The functions ``migrate --rollback --all`` means: images that migrate made."""
    return tuple(
        f.logical_id for f in template.functions if f.package_type == "Image" and f.migrated
    )


# --------------------------------------------------------------------------- text helpers


def _shift(text: str, delta: int) -> str:
    """Indent (or dedent) every non-empty line of ``text`` by ``delta`` spaces."""
    if delta == 0:
        return text
    out = []
    for line in split_lines(text):
        if not line.strip("\r\n"):
            out.append(line)
        elif delta > 0:
            out.append(" " * delta + line)
        else:
            out.append(line[min(-delta, len(line) - len(line.lstrip(" "))) :])
    return "".join(out)


def _snippet(column: int, **texts: str) -> dict[str, Any]:
    """Lines kept for later, dedented by ``column`` when that can be undone exactly.

    Else they are kept as they are, with ``Indent`` saying where their keys are.
    """
    lines = [line.rstrip("\n") for text in texts.values() for line in split_lines(text)]
    if all(not line or (line.startswith(" " * column) and line[column:]) for line in lines):
        return {name: _shift(text, -column) for name, text in texts.items()}
    return {**texts, "Indent": column}


def _placed(snippet: Mapping[str, Any], column: int, name: str = "Text") -> str:
    """A kept snippet's lines indented for a mapping whose keys are at ``column``."""
    return _shift(snippet[name], column - snippet.get("Indent", 0))


def _scalar(value: str) -> str:
    """``value`` as a plain YAML scalar when that reads back the same, else double-quoted."""
    try:
        plain = value.strip() == value and yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain and value else json.dumps(value, ensure_ascii=False)


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, multi-line text as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(
    str,
    lambda dumper, s: dumper.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None
    ),
)


def _emit(key: str, value: Any, column: int, step: int) -> str:
    """``key: value`` as block YAML at ``column``; checked to read back as ``value``."""
    text = yaml.dump(
        {key: value},
        Dumper=_Dumper,
        indent=max(step, 2),
        sort_keys=False,
        default_flow_style=False,
        width=1 << 20,
        allow_unicode=True,
    )
    if yaml.safe_load(text) != {key: value}:  # pragma: no cover - PyYAML's styles round-trip
        raise TemplateError(f"internal error: cannot write {key} so that it reads back the same.")
    return _shift(text, column)


class _Doc:
    """A template being edited: its parse, its lines, and the edits collected so far."""

    def __init__(self, text: str, path: str) -> None:
        if re.search(r"\r(?!\n)|[\x85\u2028\u2029]", text):
            raise TemplateError(
                f"{path} uses line breaks other than LF or CRLF; convert them to LF and run again."
            )
        self.template = parse_template(text, path)
        self.src = self.template.source
        self.edits: list[tuple[int, int, str]] = []
        self.resources = self.block(("Resources",))
        self.step = self.resources.column  # the template's indentation step

    def block(self, path: tuple[str, ...], *, required: bool = True) -> Block | None:
        """The block mapping at ``path`` (keys from the top), or None when absent and not required."""
        block = self.src.block(self.template.root, 0, "the template")
        for depth, key in enumerate(path):
            entry = block.get(key)
            if entry is None:
                if required:
                    raise TemplateError(
                        f"{self.template.path}: {'.'.join(path[: depth + 1])} is missing."
                    )
                return None
            block = self.src.block(
                entry.value, entry.line + 1, f"{self.template.path}: {'.'.join(path[: depth + 1])}"
            )
        return block

    def text(self, text: str) -> str:
        """Stored text ("\\n" line ends) in this file's line ends."""
        return text.replace("\n", self.src.newline) if self.src.newline != "\n" else text

    def stored(self, entry: Entry, *, leading: bool = False) -> str:
        return self.src.text_of(entry, leading=leading).replace("\r\n", "\n")

    def replace(self, start: int, stop: int, text: str = "") -> None:
        self.edits.append((start, stop, self.text(text)))

    def remove_added(self, entry: Entry) -> None:
        """Delete an entry that builder added, with the blank lines it put above it."""
        start = entry.line
        while start > entry.start and not self.src.lines[start - 1].strip():
            start -= 1
        self.replace(start, entry.stop)

    def apply(self) -> str:
        lines = list(self.src.lines)
        order = sorted(range(len(self.edits)), key=lambda i: (*self.edits[i][:2], i), reverse=True)
        last_start = len(lines) + 1
        for i in order:
            start, stop, text = self.edits[i]
            if stop > last_start:  # pragma: no cover - the edits below never overlap
                raise TemplateError("internal error: overlapping template edits.")
            lines[start:stop] = [text] if text else []
            last_start = start
        return "".join(lines)

    def state(self) -> dict[str, Any]:
        meta = self.template.data.get("Metadata")
        state = meta.get(STATE_KEY) if isinstance(meta, dict) else None
        return copy.deepcopy(state) if isinstance(state, dict) else {}

    def write_state(self, state: dict[str, Any]) -> None:
        """Edit top-level ``Metadata.Builder`` to hold ``state`` (removed when empty)."""
        if state == self.state():
            return
        root = self.block(())
        meta = root.get("Metadata")
        block = self.block(("Metadata",)) if meta else None
        entry = block.get(STATE_KEY) if block else None
        if not state:
            if entry and len(block.entries) == 1:
                self.remove_added(meta)
            elif entry:
                self.replace(entry.line, entry.stop)
            return
        state = {k: state[k] for k in ("Repository", "Globals", "Moved", "Receivers") if k in state}
        if block:
            text = _emit(STATE_KEY, state, block.column, self.step)
            if entry:
                self.replace(entry.line, entry.stop, text)
            else:
                self.replace(block.entries[-1].stop, block.entries[-1].stop, text)
        else:
            where = root.get("Resources").start
            self.replace(
                where, where, "\nMetadata:\n" + _emit(STATE_KEY, state, self.step, self.step)
            )


def _runs(doc: _Doc, block: Block, removed: Iterable[Entry]) -> list[dict[str, Any]]:
    """Delete ``removed`` entries of ``block``; return them as runs that rollback puts back.

    A run is consecutive removed entries (with their comments) and the key they followed.
    """
    removed = set(removed)
    runs: list[tuple[str | None, str]] = []
    after, text = None, None
    for entry in block.entries:
        if entry not in removed:
            if text is not None:
                runs.append((after, text))
            after, text = entry.key, None
            continue
        text = (text or "") + doc.stored(entry, leading=True)
        doc.replace(entry.start, entry.stop)
    if text is not None:
        runs.append((after, text))
    # cfn-lint rejects null in Metadata, so a missing "After" means "first".
    return [
        {**({"After": after} if after else {}), **_snippet(block.column, Text=text)}
        for after, text in runs
    ]


def _put_back(doc: _Doc, block: Block, runs: Iterable[Mapping[str, Any]], fallback: int) -> None:
    """Insert ``runs`` after the keys they followed (at ``fallback`` when that key is gone)."""
    for run in runs:
        anchor = block.get(run["After"]) if "After" in run else None
        if "After" not in run:
            where = block.body
        else:
            where = anchor.stop if anchor and anchor.key not in IMAGE_KEYS else fallback
        doc.replace(where, where, _placed(run, block.column))


# --------------------------------------------------------------------------- globals


def _block_list(node: yaml.Node) -> bool:
    return isinstance(node, yaml.SequenceNode) and node.tag == _SEQ and not node.flow_style


def _receive(doc: _Doc, fid: str, moved: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give ZIP function ``fid`` the entries moved off Globals.Function, merged as SAM would.

    Returns one change per entry added or rewritten, for undoing when the globals go back.
    """
    props = doc.block(("Resources", fid, "Properties"))
    local_values = doc.template.function(fid).properties
    changes = []
    for item in moved:
        key, text = item["Key"], _placed(item, props.column)
        entry = props.get(key)
        if entry is None:
            if key == "CodeUri" and "InlineCode" in local_values:
                continue  # SAM ignores CodeUri next to InlineCode
            doc.replace(props.body, props.body, text)
            changes.append({"Key": key, **_snippet(props.column, After=text)})
            continue
        node, data = compose(text, f"Globals.Function.{key}")
        global_node, global_value = node.value[0][1], data[key]
        if sam_merge(global_value, local_values[key]) == local_values[key]:
            continue  # the function's own value wins
        if key != "Layers" or not (_block_list(entry.value) and _block_list(global_node)):
            raise TemplateError(
                f"{doc.template.path}: {fid}.{key} and Globals.Function.{key} would have to be merged, "
                f"which builder does only for block-style Layers lists. Move Globals.Function.{key} "
                f"onto the functions by hand, then run migrate again."
            )
        first_item = entry.value.start_mark.line
        items = "".join(split_lines(text)[global_node.start_mark.line :])
        items = _shift(items, entry.value.start_mark.column - global_node.start_mark.column)
        before = doc.stored(entry)
        after = (
            "".join(doc.src.lines[entry.line : first_item]).replace("\r\n", "\n")
            + items
            + "".join(doc.src.lines[first_item : entry.stop]).replace("\r\n", "\n")
        )
        doc.replace(entry.line, entry.stop, after)
        changes.append({"Key": key, **_snippet(props.column, Before=before, After=after)})
    return changes


def _move_globals(doc: _Doc, state: dict[str, Any], migrating: set[str]) -> None:
    """Move Runtime, Handler, CodeUri and Layers off Globals.Function onto the ZIP functions."""
    block = doc.block(("Globals", "Function"))
    moved = [e for e in block.entries if e.key in ZIP_ONLY]
    state["Moved"] = [{"Key": e.key, **_snippet(block.column, Text=doc.stored(e))} for e in moved]
    path = "Globals.Function"
    if len(moved) == len(block.entries):  # nothing else in Globals.Function (or Globals): remove it
        outer = doc.block(("Globals",))
        path = "Globals" if len(outer.entries) > 1 else ""
        block = outer if path else doc.block(())
        moved = [block.get("Function" if path else "Globals")]
    state["Globals"] = {"Path": path, "Runs": _runs(doc, block, moved)}
    receivers = {}
    for info in doc.template.functions:
        if info.package_type == "Zip" and info.logical_id not in migrating:
            receivers[info.logical_id] = _receive(doc, info.logical_id, state["Moved"])
    state["Receivers"] = receivers


def _restore_globals(doc: _Doc, state: dict[str, Any], back_on_globals: set[str]) -> bool:
    """Put the moved entries back on Globals.Function and undo what the functions received.

    Only when the result means exactly what the current template means: every
    received entry is still as builder wrote it, and no other ZIP function would
    pick up global Layers it does not have now. Returns whether it did.
    """
    receivers = state.get("Receivers", {})
    undo: list[tuple[Entry, str]] = []
    for info in doc.template.functions:
        fid = info.logical_id
        if fid not in receivers:
            if fid not in back_on_globals and any(m["Key"] == "Layers" for m in state["Moved"]):
                return False
            continue
        props = doc.block(("Resources", fid, "Properties"))
        for change in receivers[fid]:
            entry = props.get(change["Key"])
            if entry is None or doc.stored(entry) != _placed(change, props.column, "After"):
                return False
            undo.append(
                (entry, _placed(change, props.column, "Before") if "Before" in change else "")
            )
    path = state["Globals"]["Path"]
    block = doc.block(tuple(path.split(".")) if path else (), required=False)
    if block is None:
        return False
    for entry, before in undo:
        doc.replace(entry.line, entry.stop, before)
    _put_back(doc, block, state["Globals"]["Runs"], block.entries[-1].stop)
    return True


# --------------------------------------------------------------------------- migrate


def _finish(text: str, had_newline: bool) -> str:
    return (
        text
        if had_newline or not text.endswith("\n")
        else text[: -2 if text.endswith("\r\n") else -1]
    )


def _open(template: Template) -> tuple[_Doc, bool]:
    """A _Doc over the template's text, which gets a final newline while it is edited."""
    had = template.text.endswith("\n") or not template.text
    newline = "\r\n" if "\r\n" in template.text else "\n"
    return _Doc(template.text if had else template.text + newline, template.path), had


def _handler_text(doc: _Doc, fid: str) -> str:
    """The function's Handler (its own, else the global one) as YAML for ImageConfig.Command."""
    for path in (("Resources", fid, "Properties"), ("Globals", "Function")):
        block = doc.block(path, required=False)
        entry = block.get("Handler") if block else None
        if entry is None:
            continue
        if isinstance(entry.value, yaml.ScalarNode) and entry.value.tag == "tag:yaml.org,2002:str":
            return _scalar(entry.value.value)
        if entry.value.start_mark.line == entry.value.end_mark.line:
            return doc.src.value_source(entry.value)
        raise TemplateError(
            f"{doc.template.path}: {fid}'s Handler spans lines; write it on one line."
        )
    raise TemplateError(
        f"{doc.template.path}: {fid} has no Handler, neither its own nor in Globals."
    )


def _check_migratable(template: Template, fid: str) -> None:
    info = template.function(fid)
    if info.package_type == "Image":
        raise TemplateError(f"{fid} is already PackageType: Image; there is nothing to migrate.")
    if info.package_type != "Zip":
        raise TemplateError(
            f"{fid} has PackageType {info.package_type}; set it to Zip or Image by hand."
        )
    if "InlineCode" in info.properties:
        raise TemplateError(
            f"{fid} uses InlineCode, which an image cannot hold. Move the code into a folder, "
            "point CodeUri at it, then migrate."
        )


def _repository(doc: _Doc) -> tuple[str, bool]:
    """The logical id of the image repository, and whether it has to be added."""
    resources = doc.template.data["Resources"]
    for rid, resource in resources.items():
        if resource.get("Type") == "AWS::ECR::Repository":
            return rid, False
    rid, n = REPOSITORY_ID, 1
    while rid in resources:
        n += 1
        rid = f"{REPOSITORY_ID}{n}"
    return rid, True


def _add_repository(doc: _Doc, rid: str) -> None:
    """Add an ECR repository that scans on push, last in Resources."""
    c, s = doc.resources.column, doc.step
    text = (
        f"\n{' ' * c}{rid}:\n{' ' * (c + s)}Type: AWS::ECR::Repository\n"
        f"{' ' * (c + s)}DeletionPolicy: Retain\n{' ' * (c + s)}UpdateReplacePolicy: Retain\n"
        f"{' ' * (c + s)}Properties:\n{' ' * (c + 2 * s)}ImageScanningConfiguration:\n"
        f"{' ' * (c + 3 * s)}ScanOnPush: true\n"
    )
    end = doc.resources.entries[-1].stop
    doc.replace(end, end, text)


def _to_image(
    doc: _Doc, fid: str, uri: str, handler: str, meta: ImageMetadata, uses_globals: bool
) -> None:
    """Edit function ``fid`` into an image function that remembers its ZIP definition."""
    resource = doc.block(("Resources", fid))
    props = doc.block(("Resources", fid, "Properties"))
    removed = [e for e in props.entries if e.key in ZIP_ONLY or e.key == "PackageType"]
    runs = _runs(doc, props, removed)
    c, s = props.column, doc.step
    where = removed[0].start if removed else props.body
    doc.replace(
        where,
        where,
        (
            f"{' ' * c}PackageType: Image\n{' ' * c}ImageUri: {uri}\n{' ' * c}ImageConfig:\n"
            f"{' ' * (c + s)}Command:\n{' ' * (c + 2 * s)}- {handler}\n"
        ),
    )
    record: dict[str, Any] = {"Properties": runs}
    if uses_globals:
        record["UsesGlobals"] = True
    docker = {"DockerTag": meta.tag, "DockerContext": meta.context, "Dockerfile": meta.dockerfile}
    entry = resource.get("Metadata")
    existing = doc.template.function(fid).metadata
    if (
        entry is not None
        and isinstance(entry.value, yaml.MappingNode)
        and not entry.value.flow_style
    ):
        block = doc.block(("Resources", fid, "Metadata"))
        record["Metadata"] = _snippet(resource.column, Text=doc.stored(entry))
        lines = "".join(
            f"{' ' * block.column}{k}: {_scalar(v)}\n"
            for k, v in docker.items()
            if k not in existing
        )
        end = block.entries[-1].stop
        doc.replace(end, end, lines + _emit(ROLLBACK_KEY, record, block.column, s))
        return
    column = resource.column + s
    lines = "".join(f"{' ' * column}{k}: {_scalar(v)}\n" for k, v in docker.items())
    if entry is None:
        where, stop = resource.entries[-1].stop, resource.entries[-1].stop
    else:  # Metadata written as null, {} or a flow mapping: replaced, kept verbatim for rollback
        record["Metadata"] = _snippet(resource.column, Text=doc.stored(entry))
        where, stop = entry.line, entry.stop
    text = f"{' ' * resource.column}Metadata:\n{lines}{_emit(ROLLBACK_KEY, record, column, s)}"
    doc.replace(where, stop, text)


def migrate(
    template: Template,
    logical_ids: Iterable[str],
    *,
    image_uri: Callable[[str], str] | None = None,
    image_metadata: Callable[[FunctionInfo], ImageMetadata] = default_image_metadata,
) -> str:
    """The template's text with each of ``logical_ids`` turned into an image function.

    Each function gets ``PackageType: Image``, an ``ImageUri`` (``image_uri(id)``,
    else a tag of the template's ``AWS::ECR::Repository``, added with scan on push
    when there is none) and ``ImageConfig.Command: [its handler]``; CodeUri,
    Handler, Runtime and Layers are removed and kept in its Metadata for
    :func:`rollback`. Globals.Function's Runtime, Handler, CodeUri and Layers
    move onto the functions that stay ZIP, because SAM would apply them to
    images too. Everything else stays byte for byte.
    """
    ids = list(dict.fromkeys(logical_ids))
    if not ids:
        return template.text
    for fid in ids:
        _check_migratable(template, fid)
    doc, had_newline = _open(template)
    state = doc.state()
    handlers = {fid: _handler_text(doc, fid) for fid in ids}
    glob = global_function(doc.template.data)
    moving = bool(set(ZIP_ONLY) & set(glob))
    if moving:
        images = [f.logical_id for f in template.functions if f.package_type == "Image"]
        if state.get("Moved") or images:
            why = (
                f"{', '.join(images)} already {'is an image' if len(images) == 1 else 'are images'}, "
                "so SAM rejects this template as it is"
                if images
                else "builder already moved them once and will not merge a second set"
            )
            raise TemplateError(
                f"{template.path}: Globals.Function sets "
                f"{', '.join(k for k in ZIP_ONLY if k in glob)}, and {why}. Move those keys from "
                "Globals.Function onto the ZIP functions by hand, then run migrate again."
            )
        _move_globals(doc, state, set(ids))
        doc = _Doc(doc.apply(), template.path)
    repository, add_repository = _repository(doc) if image_uri is None else ("", False)
    if image_uri is None:
        uris = {fid: f'!Sub "${{{repository}.RepositoryUri}}:{fid.lower()}"' for fid in ids}
    else:
        uris = {fid: _scalar(image_uri(fid)) for fid in ids}
    for fid in ids:  # image_metadata sees the function as it was, Globals applied
        _to_image(
            doc, fid, uris[fid], handlers[fid], image_metadata(template.function(fid)), moving
        )
    if add_repository:  # after the functions: the last one's Metadata goes above it
        _add_repository(doc, repository)
        state["Repository"] = repository
    doc.write_state(state)
    new = _finish(doc.apply(), had_newline)
    _verify(template, new, ids)
    return new


def _verify(old: Template, new_text: str, ids: list[str]) -> None:
    """Refuse a rewrite whose meaning differs from the intended one or that rollback cannot undo."""
    new = parse_template(new_text, old.path)
    problems = []
    for key in (set(old.data) | set(new.data)) - {"Globals", "Metadata", "Resources"}:
        if old.data.get(key) != new.data.get(key):
            problems.append(f"section {key} changed")
    before, after = old.data["Resources"], new.data["Resources"]
    problems += [
        f"{rid} was added"
        for rid in set(after) - set(before)
        if after[rid].get("Type") != "AWS::ECR::Repository"
    ]
    for rid, resource in before.items():
        if rid not in after:
            problems.append(f"{rid} disappeared")
        elif resource.get("Type") != FUNCTION_TYPE:
            problems += [f"{rid} changed"] if resource != after[rid] else []
        elif rid in ids:
            was = {
                k: v
                for k, v in effective_properties(old.data, rid).items()
                if k not in (*ZIP_ONLY, "PackageType")
            }
            now = effective_properties(new.data, rid)
            if (
                was != {k: v for k, v in now.items() if k not in IMAGE_KEYS}
                or now.get("PackageType") != "Image"
            ):
                problems.append(f"{rid} did not become exactly an image function")
        elif effective_properties(old.data, rid) != effective_properties(new.data, rid) or {
            k: v for k, v in resource.items() if k != "Properties"
        } != {k: v for k, v in after[rid].items() if k != "Properties"}:
            problems.append(f"{rid} changed")
    if not problems and rollback(new, ids) != old.text:
        problems.append("rolling the result back does not give the template back")
    if problems:
        raise TemplateError(
            f"builder cannot rewrite {old.path} safely ({'; '.join(sorted(problems))}); nothing was "
            "changed. Please report this with the template."
        )


# --------------------------------------------------------------------------- rollback


def _record(template: Template, fid: str) -> Mapping[str, Any]:
    """The function's BuilderRollback record, checked for the shape migrate writes."""
    info = template.function(fid)
    if info.package_type != "Image":
        raise TemplateError(f"{fid} is a ZIP function already; there is nothing to roll back.")
    record = info.metadata.get(ROLLBACK_KEY)
    if record is None:
        raise TemplateError(
            f"{fid} was not migrated by builder: its Metadata has no {ROLLBACK_KEY}, so its ZIP "
            "definition is unknown. Restore it from version control instead."
        )
    record = record if isinstance(record, dict) else {}
    runs = record.get("Properties") if isinstance(record.get("Properties"), list) else [None]
    snippets = [*runs, record.get("Metadata", {"Text": ""})]
    if not all(
        isinstance(s, dict)
        and isinstance(s.get("Text"), str)
        and isinstance(s.get("Indent", 0), int)
        for s in snippets
    ) or not all(isinstance(r.get("After", ""), str) for r in runs):
        raise TemplateError(
            f"{fid}'s Metadata.{ROLLBACK_KEY} is damaged (it no longer has the shape builder wrote); "
            "restore that block from version control, then roll back again."
        )
    return record


def _check_references(template: Template, texts: Iterable[tuple[str, str]]) -> None:
    """Refuse to bring back definitions that refer to resources no longer in the template."""
    known = set(template.data["Resources"]) | set(template.data.get("Parameters") or {})
    for owner, text in texts:
        _, data = compose(text, f"{owner} (kept in Metadata)")
        for key, value in data.items():
            missing = sorted(references(value) - known)
            if not missing:
                continue
            what = f"layer {missing[0]}" if key == "Layers" else f"{missing[0]} (in {key})"
            raise TemplateError(
                f"Cannot roll back: the ZIP definition of {owner} uses {what}, which is no longer "
                f"in the Resources of {template.path}. Put {missing[0]} back, or edit that "
                f"reference out of {owner}'s rollback record, then roll back again."
            )


def _to_zip(doc: _Doc, fid: str, record: Mapping[str, Any]) -> None:
    """Edit image function ``fid`` back to the ZIP definition its record holds."""
    resource = doc.block(("Resources", fid))
    props = doc.block(("Resources", fid, "Properties"))
    ours = [e for e in props.entries if e.key in IMAGE_KEYS]
    for entry in ours:
        doc.replace(entry.line, entry.stop)
    _put_back(doc, props, record["Properties"], ours[0].line if ours else props.entries[-1].stop)
    meta = resource.get("Metadata")
    original = record.get("Metadata")
    doc.replace(meta.line, meta.stop, _placed(original, resource.column) if original else "")


def rollback(template: Template, logical_ids: Iterable[str]) -> str:
    """The template's text with each of ``logical_ids`` back to the ZIP definition migrate kept.

    When no image function is left, Globals.Function gets back what migrate
    moved off it (if the functions still hold exactly what migrate gave them),
    and the image repository that migrate added goes (if nothing else uses it):
    migrating and then rolling back everything gives the same bytes.
    """
    ids = list(dict.fromkeys(logical_ids))
    if not ids:
        return template.text
    records = {fid: _record(template, fid) for fid in ids}
    doc, had_newline = _open(template)
    state = doc.state()
    images_left = {f.logical_id for f in template.functions if f.package_type == "Image"} - set(ids)
    back_on_globals = {fid for fid in ids if records[fid].get("UsesGlobals")}
    texts = [(fid, run["Text"]) for fid in ids for run in records[fid]["Properties"]]
    if state.get("Moved") and (back_on_globals or not images_left):
        texts += [("Globals.Function", m["Text"]) for m in state["Moved"]]
    _check_references(template, texts)
    for fid in ids:
        _to_zip(doc, fid, records[fid])
    doc = _Doc(doc.apply(), template.path)
    if state.get("Moved"):
        receivers = state.setdefault("Receivers", {})
        if images_left or not _restore_globals(doc, state, back_on_globals):
            for fid in [f for f in ids if f in back_on_globals and f not in receivers]:
                receivers[fid] = _receive(doc, fid, state["Moved"])
            if not images_left:
                log.warning(
                    "Globals.Function stays without %s, which the ZIP functions now set themselves: "
                    "some were edited since migrate gave them these, or a function would get global "
                    "Layers it does not have now.",
                    ", ".join(m["Key"] for m in state["Moved"]),
                )
        if not images_left:
            for key in ("Globals", "Moved", "Receivers"):
                state.pop(key, None)
        doc = _Doc(doc.apply(), template.path)
    repository = state.get("Repository")
    if repository and not any(
        f.migrated and f.package_type == "Image" for f in doc.template.functions
    ):
        rest = {k: v for k, v in doc.template.data.items() if k != "Resources"}
        rest["Resources"] = {
            k: v for k, v in doc.template.data["Resources"].items() if k != repository
        }
        entry = doc.resources.get(repository)
        if entry is not None and repository not in references(rest):
            doc.remove_added(entry)
        del state["Repository"]
    doc.write_state(state)
    return _finish(doc.apply(), had_newline)


# --------------------------------------------------------------------------- pin


def pin(template: Template, uris: Mapping[str, str]) -> str:
    """The template's text with each function's ImageUri set to its pushed digest.

    ``uris`` maps a logical id to ``repository@sha256:<digest>`` (image-uris.json),
    so a deploy updates exactly the functions whose image changed.
    """
    doc, had_newline = _open(template)
    for fid in sorted(uris):
        info = template.function(fid)
        uri = uris[fid]
        if info.package_type != "Image":
            raise TemplateError(f"{fid} is a ZIP function; migrate it before pinning its image.")
        if not isinstance(uri, str) or not _PINNED.match(uri):
            raise TemplateError(
                f"The image for {fid} is given as {uri!r}, not as repository@sha256:<64 hex digits>; "
                "push the images again to get image-uris.json right."
            )
        props = doc.block(("Resources", fid, "Properties"))
        entry = props.get("ImageUri")
        if entry is None:
            raise TemplateError(f"{fid} has PackageType: Image but no ImageUri to pin; add one.")
        doc.replace(entry.line, entry.stop, f"{' ' * props.column}ImageUri: {_scalar(uri)}\n")
    return _finish(doc.apply(), had_newline)
