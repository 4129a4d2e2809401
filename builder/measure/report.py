"""The ``report`` command's output: image size analyses (``sizes``), and with several images
the registry view (``registry_view``), rendered as text, GitHub markdown or JSON.

Pure: each renderer takes the analysis and returns a string or a dict, the same
output for the same input (sorted, no timestamps). Sizes are MB (1000 * 1000
bytes, one decimal) in text and markdown, integer bytes in JSON; the JSON
schema (``schema_version`` 1) is documented in ``docs/report-json.md``.

Stripping figures come from the build plan, not the image: pass them as
``stripped`` (rule -> bytes removed) where they are known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .pins import Pin, pins_to_json, render_pins_markdown, render_pins_text
from .registry_view import (
    registry_to_json,
    registry_view,
    render_registry_markdown,
    render_registry_text,
    shapes,
    shapes_lines,
)
from .sizes import ImageSizes
from .tables import SCHEMA_VERSION, columns, mb, md_cell, md_table, num

FORMATS = ("text", "markdown", "json")
TOP_WASTED = 10  # largest wasted paths shown; the rest is in the totals
_CREATED_BY_WIDTH = 70


def _short(text: str, width: int = _CREATED_BY_WIDTH) -> str:
    text = " ".join(text.split())  # RUN lines may hold newlines and runs of spaces
    return text if len(text) <= width else text[: width - 3] + "..."


def _plural(n: int, word: str, words: str) -> str:
    return f"{n} {word if n == 1 else words}"


def _stripped_rules(stripped: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(stripped.items(), key=lambda item: (-item[1], item[0]))


def _title(sizes: ImageSizes) -> str:
    fn = sizes.labels.get("builder.function")
    return f"{sizes.ref or sizes.id[:19]}" + (f" (function {fn})" if fn else "")


# ---- one image ---------------------------------------------------------------------------------


def render_text(sizes: ImageSizes, stripped: Mapping[str, int] | None = None) -> str:
    """A human table: summary, one row per layer with its distributions, stripping, waste."""
    lines = [
        f"Image {_title(sizes)}",
        f"  total {mb(sizes.total_bytes)} in {_plural(len(sizes.layers), 'layer', 'layers')}, above the base "
        f"{mb(sizes.above_base_bytes)} ({_plural(len(sizes.layers) - sizes.base_layer_count, 'layer', 'layers')})",
        f"  wasted {mb(sizes.wasted_bytes)} (copies hidden by later layers), efficiency {sizes.efficiency:.1%}",
    ]
    if stripped is not None:
        lines.append(f"  removed by stripping {mb(sum(stripped.values()))}")
    rows = [["#", "Role", "Size", "Files", "Wasted", "Created by"]]
    for layer in sizes.layers:
        rows.append(
            [str(layer.index), layer.role or "-", mb(layer.size), str(layer.files), mb(layer.wasted_bytes), _short(layer.created_by)]
        )
        for dist in layer.distributions:
            rows.append(["", f"  {dist.name} {dist.version}", mb(dist.bytes), str(dist.files), "", ""])
        if layer.distributions and layer.unattributed_bytes:
            rows.append(["", "  (not in a RECORD)", mb(layer.unattributed_bytes), "", "", ""])
    lines += ["", *("  " + line for line in columns(rows, {0, 2, 3, 4}))]
    if stripped:
        lines += ["", "Removed by stripping, by rule:"]
        lines += ["  " + line for line in columns([[rule, mb(size)] for rule, size in _stripped_rules(stripped)], {1})]
    if sizes.wasted_paths:
        lines += ["", f"Largest waste ({min(TOP_WASTED, len(sizes.wasted_paths))} of {len(sizes.wasted_paths)} paths):"]
        waste = [[mb(w.wasted_bytes), _plural(w.copies, "copy", "copies") + (", deleted" if w.deleted else ""), "/" + w.path] for w in sizes.wasted_paths[:TOP_WASTED]]
        lines += ["  " + line for line in columns(waste, {0, 1})]
    return "\n".join(lines) + "\n"


def _md_code(text: str, width: int = _CREATED_BY_WIDTH) -> str:
    return f"`{md_cell(_short(text, width).replace('`', chr(39)))}`" if text else ""


def render_markdown(sizes: ImageSizes, stripped: Mapping[str, int] | None = None) -> str:
    """GitHub-flavoured markdown (for CI job summaries): summary list, then tables."""
    lines = [
        f"### {md_cell(_title(sizes))}",
        "",
        f"- Total: **{mb(sizes.total_bytes)}** in {len(sizes.layers)} layers; above the base: **{mb(sizes.above_base_bytes)}**",
        f"- Wasted: {mb(sizes.wasted_bytes)}; efficiency {sizes.efficiency:.1%}",
    ]
    if stripped is not None:
        lines.append(f"- Removed by stripping: {mb(sum(stripped.values()))}")
    layer_rows = [
        [str(l.index), md_cell(l.role or "-"), num(l.size), str(l.files), num(l.wasted_bytes), _md_code(l.created_by)]
        for l in sizes.layers
    ]
    lines += ["", *md_table(["#", "Role", "Size (MB)", "Files", "Wasted (MB)", "Created by"], {0, 2, 3, 4}, layer_rows)]
    dist_rows = [
        [str(l.index), md_cell(d.name), md_cell(d.version), num(d.bytes), str(d.files)]
        for l in sizes.layers
        for d in l.distributions
    ]
    if dist_rows:
        lines += ["", "#### Distributions", ""]
        lines += md_table(["Layer", "Distribution", "Version", "Size (MB)", "Files"], {0, 3, 4}, dist_rows)
    if stripped:
        lines += ["", "#### Removed by stripping", ""]
        lines += md_table(["Rule", "Removed (MB)"], {1}, [[_md_code(r), num(s)] for r, s in _stripped_rules(stripped)])
    if sizes.wasted_paths:
        waste_rows = [[_md_code("/" + w.path, width=1000), str(w.copies), "yes" if w.deleted else "", num(w.wasted_bytes)] for w in sizes.wasted_paths[:TOP_WASTED]]
        lines += ["", f"#### Largest waste ({len(waste_rows)} of {len(sizes.wasted_paths)} paths)", ""]
        lines += md_table(["Path", "Copies", "Deleted", "Wasted (MB)"], {1, 3}, waste_rows)
    return "\n".join(lines) + "\n"


def to_json(sizes: ImageSizes, stripped: Mapping[str, int] | None = None) -> dict:
    """The image document of ``docs/report-json.md`` (sizes in bytes)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "image",
        "ref": sizes.ref,
        "id": sizes.id,
        "name": sizes.name,
        "project": sizes.labels.get("builder.project", ""),
        "function": sizes.labels.get("builder.function", ""),
        "total_bytes": sizes.total_bytes,
        "above_base_bytes": sizes.above_base_bytes,
        "base_layer_count": sizes.base_layer_count,
        "wasted_bytes": sizes.wasted_bytes,
        "efficiency": round(sizes.efficiency, 6),
        "layers": [
            {
                "index": l.index,
                "diff_id": l.diff_id,
                "role": l.role,
                "created_by": l.created_by,
                "size_bytes": l.size,
                "files": l.files,
                "wasted_bytes": l.wasted_bytes,
                "unattributed_bytes": l.unattributed_bytes if l.distributions else 0,
                "distributions": [
                    {"name": d.name, "version": d.version, "group": d.group, "size_bytes": d.bytes, "files": d.files}
                    for d in l.distributions
                ],
            }
            for l in sizes.layers
        ],
        "wasted_paths": [
            {"path": "/" + w.path, "copies": w.copies, "deleted": w.deleted, "wasted_bytes": w.wasted_bytes} for w in sizes.wasted_paths[:TOP_WASTED]
        ],
        "wasted_path_count": len(sizes.wasted_paths),
        "stripped": None
        if stripped is None
        else {"total_bytes": sum(stripped.values()), "rules": {rule: size for rule, size in sorted(stripped.items())}},
    }


# ---- the whole report, for the CLI -------------------------------------------------------------


def render(
    images: Sequence[ImageSizes],
    fmt: str = "text",
    *,
    stripped: Mapping[str, Mapping[str, int]] | None = None,
    registry: bool = False,
    one_image: ImageSizes | None = None,
    pins: Sequence[Pin] | None = None,
) -> str:
    """The report on ``images`` in ``fmt`` (one of ``FORMATS``), with the registry view when asked.

    ``stripped`` maps an image's name (its function) to the bytes its stripping
    rules removed; ``one_image`` is the built image of every function, compared in the
    registry view; ``pins`` say whether each image is the one its template pins. JSON is one
    ``kind: "report"`` document, whatever the number of images.
    """
    stripped = stripped or {}
    view = registry_view(images) if registry else None
    both = shapes(view, one_image) if view else None
    if fmt == "json":
        document = {
            "schema_version": SCHEMA_VERSION,
            "kind": "report",
            "images": [to_json(i, stripped.get(i.name)) for i in images],
            "registry": {**registry_to_json(view), "shapes": both.to_json()} if view and both else None,
            "pins": pins_to_json(pins) if pins else None,
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    one, many = (render_text, render_registry_text) if fmt == "text" else (render_markdown, render_registry_markdown)
    parts = [one(i, stripped.get(i.name)) for i in images] + ([many(view)] if view else [])
    if both:
        lines = shapes_lines(both)
        parts.append("\n".join(lines if fmt == "text" else [f"- {line.strip()}" for line in lines]) + "\n")
    if pins:
        parts.append(render_pins_text(pins) if fmt == "text" else render_pins_markdown(pins))
    return "\n".join(parts)
