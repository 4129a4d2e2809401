"""Whether each function's image is still the one its template pins (``ImageUri: repo@sha256:...``).

Image IDs are reproducible (see ``image.reproducible``), so "changed" means the inputs changed:
a deploy of the pinned template updates exactly the functions marked changed once re-pinned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .tables import md_cell, md_table

UNCHANGED, CHANGED, NOT_PINNED, UNKNOWN = "unchanged", "changed", "not pinned", "unknown"


@dataclass(frozen=True)
class Pin:
    """One function: what its template pins, the local image's ID, and the verdict."""

    function: str
    pinned: str  # <repository>@sha256:<digest>, or "" when the template pins no digest
    image_id: str
    status: str  # one of UNCHANGED, CHANGED, NOT_PINNED, UNKNOWN
    why: str = ""  # for UNKNOWN: what could not be asked


def verdict(pinned: str, image_id: str, repo_digests: Sequence[str], pinned_config: str | None) -> str:
    """``pinned_config`` is the image config (ID) the registry's pinned manifest names, None if unasked
    or unanswered; the engine's ``RepoDigests`` already say so when this image was pushed or pulled."""
    if not pinned:
        return NOT_PINNED
    if pinned in repo_digests:
        return UNCHANGED
    if pinned_config is None:
        return UNKNOWN
    return UNCHANGED if pinned_config == image_id else CHANGED


def pins_to_json(pins: Sequence[Pin]) -> dict:
    """The ``pins`` object of ``docs/report-json.md``."""
    return {
        "changed": sorted(p.function for p in pins if p.status == CHANGED),
        "functions": [
            {"function": p.function, "pinned": p.pinned or None, "image_id": p.image_id, "status": p.status,
             "why": p.why or None}
            for p in pins
        ],
    }


def render_pins_text(pins: Sequence[Pin]) -> str:
    """A short section: one line per function, then what a deploy of the re-pinned template changes."""
    width = max(len(p.function) for p in pins)
    lines = ["Since the pinned template (ImageUri):"]
    lines += [f"  {p.function:<{width}}  {p.status}" + (f" ({p.why})" if p.why else "") for p in pins]
    changed = [p.function for p in pins if p.status == CHANGED]
    lines.append(f"  a deploy after `migrate --pin` updates: {', '.join(changed) if changed else 'nothing'}")
    return "\n".join(lines) + "\n"


def render_pins_markdown(pins: Sequence[Pin]) -> str:
    """The same as a markdown table."""
    rows = [(md_cell(p.function), md_cell(p.status + (f" ({p.why})" if p.why else "")),
             f"`{p.pinned}`" if p.pinned else "") for p in pins]  # fmt: skip
    return "\n".join(["### Since the pinned template", "", *md_table(("Function", "Image", "Pinned"), set(), rows)]) + "\n"
