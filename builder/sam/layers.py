"""After the migration: the layers no function uses any more, what else refers to them, and their
removal, kept so that rollback puts them back byte for byte.

A layer is used by the ZIP functions whose ``Layers`` (Globals applied) name it; image functions
have none. Anything else that names it (an Output, another resource, ``DependsOn``, Globals) is a
referrer: a layer with a referrer is listed but never removed. Removal cuts the layers' whole
entries from ``Resources`` and keeps them, with the key each run followed, in the top-level
``Metadata.Builder.RemovedLayers`` (one batch per removal); rollback puts the last batch back
first, so several removals undo exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import TemplateError
from .doc import Doc, cut_runs, finish, open_doc, put_back
from .plan import references
from .template import FUNCTION_TYPE, Template, parse_template

LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
STATE_KEY = "RemovedLayers"


@dataclass(frozen=True)
class LayerUse:
    """One layer resource: the functions that use it and what else refers to it."""

    logical_id: str
    type: str
    functions: tuple[str, ...]  # ZIP functions whose Layers name it
    referrers: tuple[str, ...]  # "Outputs.ApiLayerArn", "Resources.Permission", "Globals.Function", ...

    @property
    def removable(self) -> bool:
        """Nothing uses or names it: ``migrate --remove-unused-layers`` removes it."""
        return not self.functions and not self.referrers

    @property
    def status(self) -> str:
        if self.functions:
            return "used"
        return "referenced" if self.referrers else "unused"

    def to_json(self) -> dict[str, Any]:
        return {"logical_id": self.logical_id, "type": self.type, "functions": list(self.functions),
                "referrers": list(self.referrers), "status": self.status, "removable": self.removable}  # fmt: skip


def _names(value: Any) -> set[str]:
    """What ``value`` refers to: Ref, GetAtt and Sub (see ``plan.references``) and DependsOn."""
    found = references(value)
    if isinstance(value, dict):
        depends = value.get("DependsOn")
        found |= {depends} if isinstance(depends, str) else {d for d in depends or () if isinstance(d, str)}
    return found


def layer_uses(template: Template) -> tuple[LayerUse, ...]:
    """Every layer resource of ``template``, in template order, with its users and referrers."""
    resources = template.data.get("Resources") or {}
    layers = [lid for lid, r in resources.items() if isinstance(r, dict) and r.get("Type") in LAYER_TYPES]
    by_function = {f.logical_id: set(f.layers) for f in template.functions if f.package_type == "Zip"}
    referrers: dict[str, list[str]] = {lid: [] for lid in layers}
    for rid, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        live = {k: v for k, v in resource.items() if k != "Metadata"}  # kept rollback text is not a reference
        if resource.get("Type") == FUNCTION_TYPE:
            props = {k: v for k, v in (live.get("Properties") or {}).items() if k != "Layers"}
            live = {**live, "Properties": props}
        for lid in sorted(_names(live) & set(layers) - {rid}):
            referrers[lid].append(f"Resources.{rid}")
    for section in ("Outputs", "Globals"):
        for key, value in (template.data.get(section) or {}).items():
            for lid in sorted(_names(value) & set(layers)):
                referrers[lid].append(f"{section}.{key}")
    return tuple(
        LayerUse(lid, resources[lid]["Type"], tuple(f for f, used in by_function.items() if lid in used),
                 tuple(referrers[lid]))  # fmt: skip
        for lid in layers
    )


def remove_unused_layers(template: Template) -> tuple[str, tuple[str, ...]]:
    """The template's text without the layers nothing uses or names, and their logical ids.

    What is removed is kept for :func:`restore_layers`; the result is checked: nothing in it names
    a removed layer, and restoring gives the input back byte for byte.
    """
    gone = tuple(u.logical_id for u in layer_uses(template) if u.removable)
    if not gone:
        return template.text, ()
    doc, had_newline = open_doc(template)
    entries = [e for e in doc.resources.entries if e.key in gone]
    runs = cut_runs(doc, doc.resources, entries)
    state = doc.state()
    state[STATE_KEY] = [*state.get(STATE_KEY, []), {"Layers": list(gone), "Runs": runs}]
    doc.write_state(state)
    new = finish(doc.apply(), had_newline)
    _verify(template, new, gone)
    return new, gone


def restore_layers(doc: Doc, *, last: bool = False) -> tuple[Doc, dict[str, Any]]:
    """``doc`` with every removed layer back where it was (the last removal first; with ``last``,
    only the last removal's), and the state without them; the caller writes the state."""
    state = doc.state()
    batches = state.pop(STATE_KEY, [])
    if last and len(batches) > 1:
        state[STATE_KEY], batches = batches[:-1], batches[-1:]
    for batch in reversed(batches):
        resources = doc.resources
        put_back(doc, resources, batch["Runs"], resources.entries[-1].stop)
        doc = Doc(doc.apply(), doc.template.path)
    return doc, state


def removed_layers(template: Template) -> tuple[str, ...]:
    """The logical ids ``remove_unused_layers`` took out and rollback would put back."""
    meta = template.data.get("Metadata")
    state = meta.get("Builder") if isinstance(meta, dict) else None
    batches = state.get(STATE_KEY) if isinstance(state, dict) else None
    if not isinstance(batches, list) or not all(
        isinstance(b, dict) and isinstance(b.get("Layers"), list) and isinstance(b.get("Runs"), list) for b in batches
    ):
        if batches is None:
            return ()
        raise TemplateError(
            f"{template.path}: Metadata.Builder.{STATE_KEY} is damaged (it no longer has the shape builder "
            "wrote); restore that block from version control."
        )
    return tuple(str(lid) for batch in batches for lid in batch["Layers"])


def _verify(old: Template, new_text: str, gone: tuple[str, ...]) -> None:
    new = parse_template(new_text, old.path)
    problems = [f"{lid} is still in Resources" for lid in gone if lid in new.data["Resources"]]
    live = {k: v for k, v in new.data.items() if k != "Metadata"}
    live["Resources"] = {k: {kk: vv for kk, vv in v.items() if kk != "Metadata"} if isinstance(v, dict) else v
                         for k, v in new.data["Resources"].items()}  # fmt: skip
    problems += [f"{lid} is still named" for lid in sorted(_names(live) & set(gone))]
    problems += [f"{rid} changed" for rid, r in old.data["Resources"].items()
                 if rid not in gone and new.data["Resources"].get(rid) != r]  # fmt: skip
    doc, had_newline = open_doc(new)
    doc, state = restore_layers(doc, last=True)
    doc.write_state(state)
    if finish(doc.apply(), had_newline) != old.text:
        problems.append("putting the layers back does not give the template back")
    if problems:
        raise TemplateError(
            f"builder cannot remove the unused layers of {old.path} safely ({'; '.join(problems)}); "
            "nothing was changed. Please report this with the template."
        )
