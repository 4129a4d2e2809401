"""Where the bytes of an image go: pure analysis of a ``docker save`` archive
(read as a stream by :mod:`builder.archive`; no Docker, nothing extracted).

Wasted bytes are the bytes of every file copy that is not visible in the final
filesystem: overwritten by a later layer, or deleted by a later whiteout. A
path written by N layers wastes its N-1 lower copies (dive counts all N).
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from ..core.errors import AnalysisError
from . import archive as archive_mod

# plan.DEPS_ROOT without its leading slash (layer tars hold relative paths);
# not imported, so the analysis stays usable without the planning modules.
DEPS_ROOT = "opt/deps"
LAYERS_LABEL = "builder.layers"
BASE_ROLE = "base"
_UP = re.compile(r"^(\.\./)+")
_RECORD = re.compile(re.escape(DEPS_ROOT) + r"/[^/]+/[^/]+\.dist-info/RECORD")


@dataclass(frozen=True)
class DistSizes:
    """One Python distribution's files in one layer (as present, i.e. after stripping)."""

    name: str
    version: str
    group: str
    bytes: int
    files: int


@dataclass(frozen=True)
class LayerSizes:
    """One layer: its size, what made it, and the distributions in it."""

    index: int
    diff_id: str
    size: int  # sum of regular file sizes in the layer tar (what `docker history` shows)
    files: int  # regular files and hard links
    created_by: str
    role: str  # "base", a `builder.layers` role ("deps/numpy", "shared", "function") or ""
    wasted_bytes: int  # bytes of this layer's files hidden by later layers
    distributions: tuple[DistSizes, ...] = ()

    @property
    def unattributed_bytes(self) -> int:
        """Bytes of the layer that no distribution's RECORD claims."""
        return self.size - sum(d.bytes for d in self.distributions)


@dataclass(frozen=True)
class WastedPath:
    """A path whose lower copies are hidden: ``copies`` layers wrote it."""

    path: str
    copies: int
    wasted_bytes: int
    deleted: bool = False  # no copy is visible in the final filesystem


@dataclass(frozen=True)
class ImageSizes:
    """Where the bytes of one image go."""

    ref: str
    id: str
    layers: tuple[LayerSizes, ...]
    base_layer_count: int
    wasted_bytes: int
    wasted_paths: tuple[WastedPath, ...]  # largest waste first
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        """The function the image runs (its label), else its reference."""
        return self.labels.get("builder.function") or self.ref

    @property
    def total_bytes(self) -> int:
        """Bytes of all layers, base included (every copy of every file)."""
        return sum(layer.size for layer in self.layers)

    @property
    def above_base_bytes(self) -> int:
        """Bytes of the layers above the base image."""
        return sum(layer.size for layer in self.layers[self.base_layer_count :])

    @property
    def efficiency(self) -> float:
        """1 - wasted / total: the share of stored bytes that are visible in the final filesystem."""
        return 1.0 - self.wasted_bytes / self.total_bytes if self.total_bytes else 1.0


# ---- analysis ------------------------------------------------------------------------------


def _roles(diff_ids: Sequence[str], base_layers: Sequence[str], labels: Mapping[str, str], ref: str) -> tuple[int, list[str]]:
    """How many layers are the base's, and every layer's role, lowest first."""
    if list(diff_ids[: len(base_layers)]) != list(base_layers):
        raise AnalysisError(
            f"Image {ref or '(unnamed)'} is not built on the given base image (its lowest "
            f"{len(base_layers)} layers differ). Rebuild it (`python -m builder build`) or name its base."
        )
    named = labels.get(LAYERS_LABEL, "").split()
    base = len(base_layers) if base_layers or not named else len(diff_ids) - len(named)
    if named and base + len(named) != len(diff_ids):
        raise AnalysisError(
            f"Image {ref or '(unnamed)'} has {len(diff_ids) - base} layers above its base but its "
            f"{LAYERS_LABEL} label names {len(named)}. Rebuild it with `python -m builder build`."
        )
    above = named or [""] * (len(diff_ids) - base)
    return base, [BASE_ROLE] * base + above


def _distributions(scan: archive_mod.LayerScan) -> tuple[DistSizes, ...]:
    """Attribute the layer's files to the distributions whose RECORD lists them."""
    owner: dict[str, tuple[str, str, str]] = {}
    for record in sorted(scan.kept):  # sorted: a file listed twice goes to the same dist every time
        site, dist_info = posixpath.split(posixpath.dirname(record))
        name, _, version = dist_info[: -len(".dist-info")].rpartition("-")
        dist = (name, version, posixpath.basename(site))
        for row in csv.reader(scan.kept[record].decode("utf-8", "replace").splitlines()):
            if row:
                # pip --target moves the ../../bin and ../../include of its temporary
                # prefix into the target folder itself.
                path = posixpath.normpath(posixpath.join(site, _UP.sub("", row[0])))
                if scan.entries.get(path, ("",))[0] == "f":
                    owner.setdefault(path, dist)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for path, (kind, size) in scan.entries.items():
        found = owner.get(path) or owner.get(_source_of(path))
        if kind == "f" and found:
            totals[found][0] += size
            totals[found][1] += 1
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return tuple(DistSizes(n, v, g, size, files) for (n, v, g), (size, files) in ordered)


def _source_of(path: str) -> str:
    """``pkg/__pycache__/mod.cpython-311.pyc`` -> ``pkg/mod.py``: bytecode compiled after install
    is not in RECORD, but belongs to the distribution that owns its source."""
    folder, base = posixpath.split(path)
    if posixpath.basename(folder) != "__pycache__" or not base.endswith(".pyc"):
        return ""
    return posixpath.join(posixpath.dirname(folder), base.split(".", 1)[0] + ".py")


def _under(path: str, roots: set[str]) -> bool:
    """True when ``path`` is strictly below one of ``roots`` ("" is the filesystem root)."""
    while path:
        path = posixpath.dirname(path)
        if path in roots:
            return True
    return False


def _waste(scans: Sequence[archive_mod.LayerScan]) -> tuple[list[int], tuple[WastedPath, ...]]:
    """Replay the layers like overlayfs; every hidden file copy is waste.

    Returns the bytes of each layer hidden by later ones, and the wasted paths.
    """
    visible: dict[str, tuple[int, str, int]] = {}  # path -> (layer, kind, size)
    hidden_by_layer = [0] * len(scans)
    writes: dict[str, int] = defaultdict(int)
    wasted: dict[str, int] = defaultdict(int)

    def hide(path: str) -> None:
        layer, _, size = visible.pop(path)
        hidden_by_layer[layer] += size
        wasted[path] += size

    for index, scan in enumerate(scans):
        subtrees = set(scan.deleted)  # a whiteout hides the path and all below it
        for path in scan.deleted:
            if path in visible:
                hide(path)
        for path, (kind, _) in scan.entries.items():
            lower = visible.get(path)
            if lower and (lower[1] != "d" or kind != "d"):
                hide(path)
                if lower[1] == "d":
                    subtrees.add(path)  # a file replacing a directory hides its contents
        # An opaque directory hides what lower layers put in it (but not itself).
        roots = subtrees | set(scan.opaque)
        if roots:
            for path in [p for p in visible if _under(p, roots)]:
                hide(path)
        for path, (kind, size) in scan.entries.items():
            visible[path] = (index, kind, size)
            writes[path] += kind == "f"
    paths = (WastedPath(p, writes[p], b, p not in visible) for p, b in wasted.items() if b)
    return hidden_by_layer, tuple(sorted(paths, key=lambda w: (-w.wasted_bytes, w.path)))


def analyse_image(archive: BinaryIO | Path | Iterable[bytes], *, base_layers: Sequence[str] = (), ref: str = "") -> ImageSizes:
    """Where the bytes of one image in a ``docker save`` archive go.

    ``archive`` is a path, a binary file, or byte chunks (``engine.save(ref)``).

    ``base_layers`` are the base image's diff IDs (checked to be the image's lowest
    layers); without them the base is what the ``builder.layers`` label does not name.
    ``ref`` picks the image when the archive holds several. Raises ``AnalysisError``
    when the archive cannot be read or does not match.
    """
    return analyse_images(archive, [ref], base_layers=base_layers)[0]


def analyse_images(
    archive: BinaryIO | Path | Iterable[bytes], refs: Sequence[str], *, base_layers: Sequence[str] = ()
) -> list[ImageSizes]:
    """:func:`analyse_image` of each of ``refs``, from one archive read once.

    One ``docker save`` of several images holds each shared layer once, so
    measuring them together reads the base and the shared groups once.
    """
    if isinstance(archive, Path):
        with archive.open("rb") as stream:
            return analyse_images(stream, refs, base_layers=base_layers)
    saved = archive_mod.read(archive, keep=_RECORD)
    return [_analyse(saved.image(ref), base_layers) for ref in refs]


def _analyse(image: archive_mod.SavedImage, base_layers: Sequence[str]) -> ImageSizes:
    labels = dict((image.config.get("config") or {}).get("Labels") or {})
    base, roles = _roles(image.diff_ids, base_layers, labels, image.ref)
    # An imported layer has no created_by, only a comment ("Imported from -").
    history = [h.get("created_by") or h.get("comment", "") for h in image.config.get("history", ()) if not h.get("empty_layer")]
    history += [""] * (len(image.diff_ids) - len(history))  # some tools write no history
    hidden, wasted_paths = _waste(image.layers)
    layers = tuple(
        LayerSizes(
            index=i,
            diff_id=diff_id,
            size=sum(size for kind, size in scan.entries.values() if kind == "f"),
            files=sum(kind == "f" for kind, _ in scan.entries.values()),
            created_by=history[i],
            role=roles[i],
            wasted_bytes=hidden[i],
            distributions=_distributions(scan),
        )
        for i, (diff_id, scan) in enumerate(zip(image.diff_ids, image.layers))
    )
    return ImageSizes(
        ref=image.ref,
        id=image.id,
        layers=layers,
        base_layer_count=base,
        wasted_bytes=sum(hidden),
        wasted_paths=wasted_paths,
        labels=MappingProxyType(labels),
    )
