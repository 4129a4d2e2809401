"""Move Globals.Function's ZIP-only entries onto the ZIP functions, and put them back.

SAM applies globals to image functions too and rejects Runtime, Handler and
Layers there, so migrate moves them (see ``sam_edit`` for what it records).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ..core.errors import TemplateError
from .doc import Doc, cut_runs, placed, put_back, shift, snippet
from .spans import Entry, compose, split_lines
from .template import ZIP_ONLY, sam_merge

_SEQ = "tag:yaml.org,2002:seq"


def _block_list(node: yaml.Node) -> bool:
    return isinstance(node, yaml.SequenceNode) and node.tag == _SEQ and not node.flow_style


def receive(doc: Doc, fid: str, moved: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give ZIP function ``fid`` the entries moved off Globals.Function, merged as SAM would.

    Returns one change per entry added or rewritten, for undoing when the globals go back.
    """
    props = doc.block(("Resources", fid, "Properties"))
    local_values = doc.template.function(fid).properties
    changes = []
    for item in moved:
        key, text = item["Key"], placed(item, props.column)
        entry = props.get(key)
        if entry is None:
            if key == "CodeUri" and "InlineCode" in local_values:
                continue  # SAM ignores CodeUri next to InlineCode
            doc.replace(props.body, props.body, text)
            changes.append({"Key": key, **snippet(props.column, After=text)})
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
        items = shift(items, entry.value.start_mark.column - global_node.start_mark.column)
        before = doc.stored(entry)
        after = (
            "".join(doc.src.lines[entry.line : first_item]).replace("\r\n", "\n")
            + items
            + "".join(doc.src.lines[first_item : entry.stop]).replace("\r\n", "\n")
        )
        doc.replace(entry.line, entry.stop, after)
        changes.append({"Key": key, **snippet(props.column, Before=before, After=after)})
    return changes


def move_globals(doc: Doc, state: dict[str, Any], migrating: set[str]) -> None:
    """Move Runtime, Handler, CodeUri and Layers off Globals.Function onto the ZIP functions."""
    block = doc.block(("Globals", "Function"))
    moved = [e for e in block.entries if e.key in ZIP_ONLY]
    state["Moved"] = [{"Key": e.key, **snippet(block.column, Text=doc.stored(e))} for e in moved]
    path = "Globals.Function"
    if len(moved) == len(block.entries):  # nothing else in Globals.Function (or Globals): remove it
        outer = doc.block(("Globals",))
        path = "Globals" if len(outer.entries) > 1 else ""
        block = outer if path else doc.block(())
        whole = block.get("Function" if path else "Globals")
        assert whole is not None  # the Globals.Function read above is in it
        moved = [whole]
    state["Globals"] = {"Path": path, "Runs": cut_runs(doc, block, moved)}
    receivers = {}
    for info in doc.template.functions:
        if info.package_type == "Zip" and info.logical_id not in migrating:
            receivers[info.logical_id] = receive(doc, info.logical_id, state["Moved"])
    state["Receivers"] = receivers


def restore_globals(doc: Doc, state: dict[str, Any], back_on_globals: set[str]) -> bool:
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
            if entry is None or doc.stored(entry) != placed(change, props.column, "After"):
                return False
            undo.append(
                (entry, placed(change, props.column, "Before") if "Before" in change else "")
            )
    path = state["Globals"]["Path"]
    block = doc.block(tuple(path.split(".")) if path else (), required=False)
    if block is None:
        return False
    for entry, before in undo:
        doc.replace(entry.line, entry.stop, before)
    put_back(doc, block, state["Globals"]["Runs"], block.entries[-1].stop)
    return True
