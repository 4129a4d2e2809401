"""Several images as a registry sees them: each distinct layer stored and pushed once, who shares
it, what storing them costs in ECR, and the two deployable shapes (an image per function, or one
image of them all) side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .sizes import BASE_ROLE, ImageSizes, LayerSizes
from .tables import SCHEMA_VERSION, columns, mb, md_cell, md_table, num, short_id


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


def shapes_lines(s: Shapes) -> list[str]:
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
    lines += ["  " + line for line in columns(images, {1, 2})] + [""]
    rows = [["Layer", "Role", "Size", "Shared by", "Images"]]
    rows += [[short_id(l.diff_id), l.role or "-", mb(l.size), str(l.shared_by), ", ".join(l.images)] for l in view.layers]
    return "\n".join(lines + ["  " + line for line in columns(rows, {2, 3})]) + "\n"


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
        [f"`{short_id(l.diff_id)}`", md_cell(l.role or "-"), num(l.size), str(l.shared_by), md_cell(", ".join(l.images))]
        for l in view.layers
    ]
    return "\n".join(lines + md_table(["Layer", "Role", "Size (MB)", "Shared by", "Images"], {2, 3}, rows)) + "\n"


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
