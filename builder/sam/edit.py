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

``rollback`` lives in ``sam_rollback``, the moving of Globals in ``sam_globals``
and the shared line edits in ``sam_doc``; callers import them from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..core.errors import TemplateError
from ..core.paths import SAM_DOCKERFILE
from ..project.model import function_name
from .doc import (
    IMAGE_KEYS,
    ROLLBACK_KEY,
    Doc,
    cut_runs,
    emit,
    finish,
    open_doc,
    scalar,
    snippet,
)
from .globals_move import move_globals
from .rollback import rollback
from .template import (
    FUNCTION_TYPE,
    ZIP_BUILD_METADATA,
    ZIP_ONLY,
    FunctionInfo,
    Template,
    effective_properties,
    global_function,
    parse_template,
)

REPOSITORY_ID = "ImageRepository"
_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageMetadata:
    """What SAM's ``sam build`` reads from an image function's Metadata."""

    context: str
    dockerfile: str
    tag: str
    target: str = ""  # the stage of a multi-stage Dockerfile


def default_image_metadata(info: FunctionInfo) -> ImageMetadata:
    """builder's classic-builder Dockerfile (written by every build) in the template's folder,
    its stage named after the function."""
    return ImageMetadata(".", SAM_DOCKERFILE, "latest", function_name(info.logical_id))


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


# --------------------------------------------------------------------------- migrate


def _handler_text(doc: Doc, fid: str) -> str:
    """The function's Handler (its own, else the global one) as YAML for ImageConfig.Command."""
    for path in (("Resources", fid, "Properties"), ("Globals", "Function")):
        block = doc.block(path, required=False)
        entry = block.get("Handler") if block else None
        if entry is None:
            continue
        if isinstance(entry.value, yaml.ScalarNode) and entry.value.tag == "tag:yaml.org,2002:str":
            return scalar(entry.value.value)
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


def _repository(doc: Doc) -> tuple[str, bool]:
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


def _add_repository(doc: Doc, rid: str) -> None:
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
    doc: Doc, fid: str, uri: str, handler: str, meta: ImageMetadata, uses_globals: bool
) -> None:
    """Edit function ``fid`` into an image function that remembers its ZIP definition."""
    resource = doc.block(("Resources", fid))
    props = doc.block(("Resources", fid, "Properties"))
    removed = [e for e in props.entries if e.key in ZIP_ONLY or e.key == "PackageType"]
    runs = cut_runs(doc, props, removed)
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
    if meta.target:
        docker["DockerBuildTarget"] = meta.target
    entry = resource.get("Metadata")
    existing = doc.template.function(fid).metadata
    if (
        entry is not None
        and isinstance(entry.value, yaml.MappingNode)
        and not entry.value.flow_style
    ):
        block = doc.block(("Resources", fid, "Metadata"))
        record["Metadata"] = snippet(resource.column, Text=doc.stored(entry))
        # How SAM builds the ZIP (BuildMethod python-uv, makefile, ...) goes with it (kept in the record):
        # `sam build` would otherwise ask for the beta python-uv or run a Makefile for an image.
        cut_runs(doc, block, [e for e in block.entries if e.key in ZIP_BUILD_METADATA])
        lines = "".join(
            f"{' ' * block.column}{k}: {scalar(v)}\n"
            for k, v in docker.items()
            if k not in existing
        )
        end = block.entries[-1].stop
        doc.replace(end, end, lines + emit(ROLLBACK_KEY, record, block.column, s))
        return
    column = resource.column + s
    lines = "".join(f"{' ' * column}{k}: {scalar(v)}\n" for k, v in docker.items())
    if entry is None:
        where, stop = resource.entries[-1].stop, resource.entries[-1].stop
    else:  # Metadata written as null, {} or a flow mapping: replaced, kept verbatim for rollback
        record["Metadata"] = snippet(resource.column, Text=doc.stored(entry))
        where, stop = entry.line, entry.stop
    text = f"{' ' * resource.column}Metadata:\n{lines}{emit(ROLLBACK_KEY, record, column, s)}"
    doc.replace(where, stop, text)


def migrate(
    template: Template,
    logical_ids: Iterable[str],
    *,
    image_uri: Callable[[str], str] | None = None,
    image_metadata: Callable[[FunctionInfo], ImageMetadata] = default_image_metadata,
    tags: Callable[[str], str] = lambda fid: f"{function_name(fid)}-latest",
    commands: Callable[[str], str] | None = None,
) -> str:
    """The template's text with each of ``logical_ids`` turned into an image function.

    Each function gets ``PackageType: Image``, an ``ImageUri`` (``image_uri(id)``,
    else the tag ``push`` gives it, ``tags(id)``, in the template's ``AWS::ECR::Repository``,
    added with scan on push when there is none) and ``ImageConfig.Command: [its handler]``
    (or ``commands(id)``: one image holding every function may start them otherwise); CodeUri,
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
    doc, had_newline = open_doc(template)
    state = doc.state()
    handlers = {fid: scalar(commands(fid)) if commands else _handler_text(doc, fid) for fid in ids}
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
        move_globals(doc, state, set(ids))
        doc = Doc(doc.apply(), template.path)
    repository, add_repository = _repository(doc) if image_uri is None else ("", False)
    if image_uri is None:
        uris = {fid: f'!Sub "${{{repository}.RepositoryUri}}:{tags(fid)}"' for fid in ids}
    else:
        uris = {fid: scalar(image_uri(fid)) for fid in ids}
    for fid in ids:  # image_metadata sees the function as it was, Globals applied
        _to_image(
            doc, fid, uris[fid], handlers[fid], image_metadata(template.function(fid)), moving
        )
    if add_repository:  # after the functions: the last one's Metadata goes above it
        _add_repository(doc, repository)
        state["Repository"] = repository
    doc.write_state(state)
    new = finish(doc.apply(), had_newline)
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
    if not problems and rollback(new, ids, layers=False) != old.text:
        problems.append("rolling the result back does not give the template back")
    if problems:
        raise TemplateError(
            f"builder cannot rewrite {old.path} safely ({'; '.join(sorted(problems))}); nothing was "
            "changed. Please report this with the template."
        )


# --------------------------------------------------------------------------- pin


def pin(template: Template, uris: Mapping[str, str]) -> str:
    """The template's text with each function's ImageUri set to its pushed digest.

    ``uris`` maps a logical id to ``repository@sha256:<digest>`` (image-uris.json),
    so a deploy updates exactly the functions whose image changed.
    """
    doc, had_newline = open_doc(template)
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
        doc.replace(entry.line, entry.stop, f"{' ' * props.column}ImageUri: {scalar(uri)}\n")
    return finish(doc.apply(), had_newline)
