"""Roll migrated image functions back to the ZIP definitions migrate kept."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.errors import TemplateError
from .doc import IMAGE_KEYS, ROLLBACK_KEY, Doc, finish, kept_text, open_doc, placed, put_back
from .globals_move import receive, restore_globals
from .layers import removed_layers, restore_layers
from .plan import references
from .spans import compose
from .template import Template, parse_template

log = logging.getLogger("builder")


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
    properties = record.get("Properties")
    runs: list[Any] = properties if isinstance(properties, list) else [None]
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


def _to_zip(doc: Doc, fid: str, record: Mapping[str, Any]) -> None:
    """Edit image function ``fid`` back to the ZIP definition its record holds."""
    resource = doc.block(("Resources", fid))
    props = doc.block(("Resources", fid, "Properties"))
    ours = [e for e in props.entries if e.key in IMAGE_KEYS]
    for entry in ours:
        doc.replace(entry.line, entry.stop)
    put_back(doc, props, record["Properties"], ours[0].line if ours else props.entries[-1].stop)
    meta = resource.get("Metadata")
    assert meta is not None  # it holds the record (see _record)
    original = record.get("Metadata")
    doc.replace(meta.line, meta.stop, placed(original, resource.column) if original else "")


def rollback(template: Template, logical_ids: Iterable[str], *, layers: bool = True) -> str:
    """The template's text with each of ``logical_ids`` back to the ZIP definition migrate kept.

    When no image function is left, Globals.Function gets back what migrate
    moved off it (if the functions still hold exactly what migrate gave them),
    and the image repository that migrate added goes (if nothing else uses it):
    migrating and then rolling back everything gives the same bytes. The layers
    ``remove_unused_layers`` took out come back first (unless ``layers`` is False).
    """
    ids = list(dict.fromkeys(logical_ids))
    if not ids:
        return template.text
    if layers and removed_layers(template):  # first the layers, so that the functions find them
        doc, had_newline = open_doc(template)
        doc, state = restore_layers(doc)
        doc.write_state(state)
        template = parse_template(finish(doc.apply(), had_newline), template.path)
    records = {fid: _record(template, fid) for fid in ids}
    doc, had_newline = open_doc(template)
    state = doc.state()
    images_left = {f.logical_id for f in template.functions if f.package_type == "Image"} - set(ids)
    back_on_globals = {fid for fid in ids if records[fid].get("UsesGlobals")}
    texts = [(fid, kept_text(run)) for fid in ids for run in records[fid]["Properties"]]
    if state.get("Moved") and (back_on_globals or not images_left):
        texts += [("Globals.Function", kept_text(m)) for m in state["Moved"]]
    _check_references(template, texts)
    for fid in ids:
        _to_zip(doc, fid, records[fid])
    doc = Doc(doc.apply(), template.path)
    if state.get("Moved"):
        receivers = state.setdefault("Receivers", {})
        if images_left or not restore_globals(doc, state, back_on_globals):
            for fid in [f for f in ids if f in back_on_globals and f not in receivers]:
                receivers[fid] = receive(doc, fid, state["Moved"])
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
        doc = Doc(doc.apply(), template.path)
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
    return finish(doc.apply(), had_newline)
