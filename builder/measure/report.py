"""The ``report`` command's output: image size analyses (``builder.sizes``), the
registry view across images, rendered as text, GitHub markdown or JSON.

Pure: each renderer takes the analysis and returns a string or a dict, the same
output for the same input (sorted, no timestamps). Sizes are MB (1000 * 1000
bytes, one decimal) in text and markdown, integer bytes in JSON; the JSON
schema (``schema_version`` 1) is documented in ``docs/report-json.md``.

Stripping figures come from the build plan, not the image: pass them as
``stripped`` (rule -> bytes removed) where they are known.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .sizes import BASE_ROLE, ImageSizes, LayerSizes

SCHEMA_VERSION = 1
FORMATS = ("text", "markdown", "json")
TOP_WASTED = 10  # largest wasted paths shown; the rest is in the totals
_CREATED_BY_WIDTH = 70


def mb(size: int) -> str:
    """Bytes as decimal megabytes with one decimal: ``12_345_678`` -> ``"12.3 MB"``."""
    return f"{size / 1_000_000:.1f} MB"


def _num(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


def _short(text: str, width: int = _CREATED_BY_WIDTH) -> str:
    text = " ".join(text.split())  # RUN lines may hold newlines and runs of spaces
    return text if len(text) <= width else text[: width - 3] + "..."


def _plural(n: int, word: str, words: str) -> str:
    return f"{n} {word if n == 1 else words}"


def _short_id(diff_id: str) -> str:
    return diff_id.split(":", 1)[-1][:12]


def _stripped_rules(stripped: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(stripped.items(), key=lambda item: (-item[1], item[0]))


def _title(sizes: ImageSizes) -> str:
    fn = sizes.labels.get("builder.function")
    return f"{sizes.ref or sizes.id[:19]}" + (f" (function {fn})" if fn else "")


def _columns(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Aligned text columns; ``right`` holds the indexes of right-aligned (numeric) ones."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]


# ---- several images, as a registry sees them ---------------------------------------------------


@dataclass(frozen=True)
class SharedLayer:
    """One distinct layer across images, and the images that carry it."""

    diff_id: str
    size: int
    role: str
    images: tuple[str, ...]

    @property
    def shared_by(self) -> int:
        """How many images carry this layer."""
        return len(self.images)


@dataclass(frozen=True)
class RegistryView:
    """Several images as a registry sees them: distinct layers are stored and pushed once."""

    images: tuple[ImageSizes, ...]
    layers: tuple[SharedLayer, ...]  # most shared first, then largest

    @property
    def images_bytes(self) -> int:
        """Sum of every image's bytes, base included, as if nothing were shared."""
        return sum(image.total_bytes for image in self.images)

    @property
    def images_above_base_bytes(self) -> int:
        """Sum of every image's bytes above its base."""
        return sum(image.above_base_bytes for image in self.images)

    @property
    def unique_bytes(self) -> int:
        """Each distinct layer counted once: what a registry stores and a first push sends."""
        return sum(layer.size for layer in self.layers)

    @property
    def unique_above_base_bytes(self) -> int:
        """Distinct layers that no image has in its base, counted once."""
        return sum(layer.size for layer in self.layers if layer.role != BASE_ROLE)


# The guide's figure for Amazon ECR storage, per GB-month (AWS bills GB as 2**30 bytes).
ECR_USD_PER_GB_MONTH = 0.10


def ecr_monthly_usd(size: int) -> float:
    """What storing ``size`` bytes in ECR costs a month, at the guide's rate. Sizes here are of
    uncompressed layers and ECR stores them compressed: an upper bound."""
    return size / 2**30 * ECR_USD_PER_GB_MONTH


def registry_view(images: Sequence[ImageSizes]) -> RegistryView:
    """Several images as a registry stores them: each distinct layer once, with who shares it."""
    layers: dict[str, list[LayerSizes]] = defaultdict(list)
    owners: dict[str, list[str]] = defaultdict(list)
    for image in images:
        # dict: a layer repeated inside one image (same content twice) is still one blob.
        for diff_id, layer in {layer.diff_id: layer for layer in image.layers}.items():
            layers[diff_id].append(layer)
            owners[diff_id].append(image.name)
    shared = []
    for diff_id, copies in layers.items():
        roles = {layer.role for layer in copies}
        # A layer in the base of one image and above the base of another is a base layer.
        role = BASE_ROLE if BASE_ROLE in roles else ",".join(sorted(roles))
        shared.append(SharedLayer(diff_id, copies[0].size, role, tuple(sorted(owners[diff_id]))))
    return RegistryView(
        images=tuple(images),
        layers=tuple(sorted(shared, key=lambda s: (-s.shared_by, -s.size, s.diff_id))),
    )


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
    lines += ["", *("  " + line for line in _columns(rows, {0, 2, 3, 4}))]
    if stripped:
        lines += ["", "Removed by stripping, by rule:"]
        lines += ["  " + line for line in _columns([[rule, mb(size)] for rule, size in _stripped_rules(stripped)], {1})]
    if sizes.wasted_paths:
        lines += ["", f"Largest waste ({min(TOP_WASTED, len(sizes.wasted_paths))} of {len(sizes.wasted_paths)} paths):"]
        waste = [[mb(w.wasted_bytes), _plural(w.copies, "copy", "copies") + (", deleted" if w.deleted else ""), "/" + w.path] for w in sizes.wasted_paths[:TOP_WASTED]]
        lines += ["  " + line for line in _columns(waste, {0, 1})]
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    # GitHub tables need the pipe escaped even inside a code span.
    return text.replace("|", "\\|")


def _md_code(text: str, width: int = _CREATED_BY_WIDTH) -> str:
    return f"`{_md_cell(_short(text, width).replace('`', chr(39)))}`" if text else ""


def _md_table(header: Sequence[str], right: set[int], rows: Sequence[Sequence[str]]) -> list[str]:
    separator = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(row) + " |" for row in (header, separator, *rows)]


def render_markdown(sizes: ImageSizes, stripped: Mapping[str, int] | None = None) -> str:
    """GitHub-flavoured markdown (for CI job summaries): summary list, then tables."""
    lines = [
        f"### {_md_cell(_title(sizes))}",
        "",
        f"- Total: **{mb(sizes.total_bytes)}** in {len(sizes.layers)} layers; above the base: **{mb(sizes.above_base_bytes)}**",
        f"- Wasted: {mb(sizes.wasted_bytes)}; efficiency {sizes.efficiency:.1%}",
    ]
    if stripped is not None:
        lines.append(f"- Removed by stripping: {mb(sum(stripped.values()))}")
    layer_rows = [
        [str(l.index), _md_cell(l.role or "-"), _num(l.size), str(l.files), _num(l.wasted_bytes), _md_code(l.created_by)]
        for l in sizes.layers
    ]
    lines += ["", *_md_table(["#", "Role", "Size (MB)", "Files", "Wasted (MB)", "Created by"], {0, 2, 3, 4}, layer_rows)]
    dist_rows = [
        [str(l.index), _md_cell(d.name), _md_cell(d.version), _num(d.bytes), str(d.files)]
        for l in sizes.layers
        for d in l.distributions
    ]
    if dist_rows:
        lines += ["", "#### Distributions", ""]
        lines += _md_table(["Layer", "Distribution", "Version", "Size (MB)", "Files"], {0, 3, 4}, dist_rows)
    if stripped:
        lines += ["", "#### Removed by stripping", ""]
        lines += _md_table(["Rule", "Removed (MB)"], {1}, [[_md_code(r), _num(s)] for r, s in _stripped_rules(stripped)])
    if sizes.wasted_paths:
        waste_rows = [[_md_code("/" + w.path, width=1000), str(w.copies), "yes" if w.deleted else "", _num(w.wasted_bytes)] for w in sizes.wasted_paths[:TOP_WASTED]]
        lines += ["", f"#### Largest waste ({len(waste_rows)} of {len(sizes.wasted_paths)} paths)", ""]
        lines += _md_table(["Path", "Copies", "Deleted", "Wasted (MB)"], {1, 3}, waste_rows)
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


# ---- rendering the registry view ---------------------------------------------------------------


@dataclass(frozen=True)
class Shapes:
    """The two deployable shapes side by side: an image per function, or one image of them all."""

    per_function_unique_bytes: int  # what a registry stores for the images of every function
    per_function_largest_bytes: int  # the biggest image a function loads
    one_image_bytes: int  # the one image's size: what a registry stores, and what every function loads
    measured: bool  # the one image was built; else it is estimated from the per-function images

    def to_json(self) -> dict:
        return {
            "per_function_unique_bytes": self.per_function_unique_bytes,
            "per_function_largest_bytes": self.per_function_largest_bytes,
            "one_image_bytes": self.one_image_bytes, "one_image_measured": self.measured,
            "per_function_ecr_monthly_usd": round(ecr_monthly_usd(self.per_function_unique_bytes), 6),
            "one_image_ecr_monthly_usd": round(ecr_monthly_usd(self.one_image_bytes), 6),
        }  # fmt: skip


def shapes(view: RegistryView, one: ImageSizes | None) -> Shapes:
    """Compare the per-function images of ``view`` with the one image (``one``, when built: else its
    estimate, the base and every distinct layer above it once: the same groups, the code merged)."""
    largest = max((i.total_bytes for i in view.images), default=0)
    if one is not None:
        return Shapes(view.unique_bytes, largest, one.total_bytes, True)
    return Shapes(view.unique_bytes, largest, view.unique_bytes, False)


def _shapes_lines(s: Shapes) -> list[str]:
    how = "" if s.measured else " (estimated; `build --all --one-image` measures it)"
    return [
        "Both shapes, as a registry stores them and a function loads them:",
        f"  an image per function: {mb(s.per_function_unique_bytes)} stored (${ecr_monthly_usd(s.per_function_unique_bytes):.4f}"
        f" a month), each function loads at most {mb(s.per_function_largest_bytes)}",
        f"  one image of them all: {mb(s.one_image_bytes)} stored (${ecr_monthly_usd(s.one_image_bytes):.4f} a month), "
        f"and every function loads all of it{how}",
    ]


def render_registry_text(view: RegistryView) -> str:
    """A human table of the distinct layers of several images and who shares them."""
    lines = [
        f"Registry view of {len(view.images)} images",
        f"  images together {mb(view.images_bytes)} (above their base {mb(view.images_above_base_bytes)})",
        f"  unique layers   {mb(view.unique_bytes)} (above a base {mb(view.unique_above_base_bytes)}): "
        "what a registry stores and a first push sends",
        f"  saved by sharing {mb(view.images_bytes - view.unique_bytes)}",
        f"  ECR storage     at most ${ecr_monthly_usd(view.unique_bytes):.4f} a month for the unique layers "
        f"(${ECR_USD_PER_GB_MONTH:.2f} per GB-month; layers stored compressed cost less)",
        "",
    ]
    images = [["Image", "Size", "ECR $/month alone"]]
    images += [[i.name, mb(i.total_bytes), f"{ecr_monthly_usd(i.total_bytes):.4f}"] for i in view.images]
    lines += ["  " + line for line in _columns(images, {1, 2})] + [""]
    rows = [["Layer", "Role", "Size", "Shared by", "Images"]]
    rows += [[_short_id(l.diff_id), l.role or "-", mb(l.size), str(l.shared_by), ", ".join(l.images)] for l in view.layers]
    return "\n".join(lines + ["  " + line for line in _columns(rows, {2, 3})]) + "\n"


def render_registry_markdown(view: RegistryView) -> str:
    """The registry view as GitHub-flavoured markdown."""
    lines = [
        f"### Registry view of {len(view.images)} images",
        "",
        f"- Images together: **{mb(view.images_bytes)}** (above their base: {mb(view.images_above_base_bytes)})",
        f"- Unique layers (stored by a registry, sent by a first push): **{mb(view.unique_bytes)}** "
        f"(above a base: {mb(view.unique_above_base_bytes)})",
        f"- Saved by sharing: {mb(view.images_bytes - view.unique_bytes)}",
        f"- ECR storage: at most **${ecr_monthly_usd(view.unique_bytes):.4f} a month** for the unique layers "
        f"(${ECR_USD_PER_GB_MONTH:.2f} per GB-month; compressed layers cost less)",
        "",
    ]
    rows = [
        [f"`{_short_id(l.diff_id)}`", _md_cell(l.role or "-"), _num(l.size), str(l.shared_by), _md_cell(", ".join(l.images))]
        for l in view.layers
    ]
    return "\n".join(lines + _md_table(["Layer", "Role", "Size (MB)", "Shared by", "Images"], {2, 3}, rows)) + "\n"


def registry_to_json(view: RegistryView) -> dict:
    """The registry document of ``docs/report-json.md`` (sizes in bytes)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "registry",
        "images": [
            {"name": i.name, "ref": i.ref, "total_bytes": i.total_bytes, "above_base_bytes": i.above_base_bytes,
             "ecr_monthly_usd": round(ecr_monthly_usd(i.total_bytes), 6)}
            for i in view.images
        ],
        "images_bytes": view.images_bytes,
        "images_above_base_bytes": view.images_above_base_bytes,
        "unique_bytes": view.unique_bytes,
        "unique_above_base_bytes": view.unique_above_base_bytes,
        "shared_saving_bytes": view.images_bytes - view.unique_bytes,
        "ecr_usd_per_gb_month": ECR_USD_PER_GB_MONTH,
        "ecr_monthly_usd": round(ecr_monthly_usd(view.unique_bytes), 6),
        "layers": [
            {"diff_id": l.diff_id, "role": l.role, "size_bytes": l.size, "shared_by": l.shared_by, "images": list(l.images)}
            for l in view.layers
        ],
    }


# ---- the whole report, for the CLI -------------------------------------------------------------


def render(
    images: Sequence[ImageSizes],
    fmt: str = "text",
    *,
    stripped: Mapping[str, Mapping[str, int]] | None = None,
    registry: bool = False,
    one_image: ImageSizes | None = None,
) -> str:
    """The report on ``images`` in ``fmt`` (one of ``FORMATS``), with the registry view when asked.

    ``stripped`` maps an image's name (its function) to the bytes its stripping
    rules removed; ``one_image`` is the built image of every function, compared in the
    registry view. JSON is one ``kind: "report"`` document, whatever the number of images.
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
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    one, many = (render_text, render_registry_text) if fmt == "text" else (render_markdown, render_registry_markdown)
    parts = [one(i, stripped.get(i.name)) for i in images] + ([many(view)] if view else [])
    if both:
        lines = _shapes_lines(both)
        parts.append("\n".join(lines if fmt == "text" else [f"- {line.strip()}" for line in lines]) + "\n")
    return "\n".join(parts)
