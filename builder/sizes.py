"""Where the bytes of an image go: pure analysis of a ``docker save`` archive.

Reads the archive as a stream (no extraction to disk, no Docker): the legacy
layout Docker 20.10 writes (``manifest.json``, a config JSON, ``<id>/layer.tar``)
and the OCI layout newer engines write (``index.json``, ``blobs/sha256/...``,
layers possibly gzip-compressed). Each layer tar is hashed while it is read, so
it is matched to the config's ``rootfs.diff_ids`` by content, whatever order
the archive holds it in (``manifest.json`` usually comes last).

Wasted bytes are the bytes of every file copy that is not visible in the final
filesystem: overwritten by a later layer, or deleted by a later whiteout. A
path written by N layers wastes its N-1 lower copies (dive counts all N).
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import posixpath
import re
import tarfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

from .errors import AnalysisError

# plan.DEPS_ROOT without its leading slash (layer tars hold relative paths);
# not imported, so the analysis stays usable without the planning modules.
DEPS_ROOT = "opt/deps"
LAYERS_LABEL = "builder.layers"
BASE_ROLE = "base"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_JSON = 16 * 1024 * 1024  # configs and manifests are small; bigger blobs are not metadata
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
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


# ---- reading the archive -------------------------------------------------------------------


@dataclass
class _LayerScan:
    """What one layer tar holds: path -> (kind, size), whiteouts, RECORD files."""

    entries: dict[str, tuple[str, int]] = field(default_factory=dict)  # kind: f(ile), d(ir), o(ther)
    deleted: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    records: dict[str, bytes] = field(default_factory=dict)  # "<...>.dist-info" dir -> RECORD


class _Stream(io.RawIOBase):
    """A readable stream over byte chunks; hashes what it hands out when asked (a diff ID)."""

    def __init__(self, chunks: Iterable[bytes], *, hashed: bool = False) -> None:
        self._chunks, self._rest = iter(chunks), b""
        self.sha = hashlib.sha256() if hashed else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._rest:
            self._rest = next((chunk for chunk in self._chunks if chunk), b"")
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        if self.sha:
            self.sha.update(buffer[:n])
        return n


def _chunks(reader: BinaryIO, head: bytes = b"") -> Iterator[bytes]:
    yield head
    yield from iter(functools.partial(reader.read, 1 << 20), b"")


def _norm(name: str) -> str:
    """Layer tars may write ``./a/b/`` or ``a/b``; keep ``a/b``."""
    return posixpath.normpath("/" + name).lstrip("/")


def _scan_layer(stream: BinaryIO) -> _LayerScan:
    scan = _LayerScan()
    with tarfile.open(fileobj=stream, mode="r|") as layer:
        for member in layer:
            path = _norm(member.name)
            folder, base = posixpath.split(path)
            if base == _OPAQUE:
                scan.opaque.append(folder)
            elif base.startswith(_WHITEOUT + _WHITEOUT):
                continue  # other AUFS metadata (.wh..wh.plnk ...): not part of the filesystem
            elif base.startswith(_WHITEOUT):
                scan.deleted.append(posixpath.join(folder, base[len(_WHITEOUT) :]))
            elif member.isdir():
                scan.entries[path] = ("d", 0)
            elif member.isreg() or member.islnk():
                # A hard link's tar entry has no data: its bytes are counted once, at its target.
                scan.entries[path] = ("f", member.size if member.isreg() else 0)
                if member.isreg() and _RECORD.fullmatch(path):
                    scan.records[folder] = layer.extractfile(member).read()  # type: ignore[union-attr]
            else:
                scan.entries[path] = ("o", 0)
    return scan


def _read_archive(archive: BinaryIO) -> tuple[dict[str, bytes], dict[str, _LayerScan]]:
    """Small JSON members by name, and every layer tar's scan by its diff ID."""
    metadata: dict[str, bytes] = {}
    layers: dict[str, _LayerScan] = {}
    try:
        with tarfile.open(fileobj=archive, mode="r|") as outer:
            for member in outer:
                name = _norm(member.name)
                if not member.isreg():
                    continue  # a symlinked layer.tar repeats a layer already read (same diff ID)
                reader = outer.extractfile(member)
                head = reader.read(512)  # type: ignore[union-attr]
                if name.endswith("layer.tar") or name.startswith("blobs/"):
                    diff_id, scan = _layer_blob(name, reader, head)  # type: ignore[arg-type]
                    if scan is not None:
                        layers[diff_id] = scan
                        continue
                if head.lstrip()[:1] in (b"{", b"[") and member.size <= _MAX_JSON:
                    metadata[name] = head + reader.read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise AnalysisError(
            f"Cannot read the image archive: {exc}. It must be a `docker save` tar (legacy or OCI layout)."
        ) from exc
    return metadata, layers


def _layer_blob(name: str, reader: BinaryIO, head: bytes) -> tuple[str, _LayerScan | None]:
    if head.startswith(_ZSTD_MAGIC):
        raise AnalysisError(f"Layer {name} is zstd-compressed, which is not supported; save the image uncompressed.")
    if head.startswith(_GZIP_MAGIC):
        # The diff ID is the digest of the uncompressed tar: hash after decompressing.
        raw = gzip.GzipFile(fileobj=io.BufferedReader(_Stream(_chunks(reader, head))))
        source = _Stream(_chunks(raw), hashed=True)  # type: ignore[arg-type]
    elif head[257:262] == b"ustar" or (head and not head.strip(b"\0")):  # tar header, or an empty tar
        source = _Stream(_chunks(reader, head), hashed=True)
    else:
        return "", None  # another kind of blob (attestation, signature): not a layer
    stream = io.BufferedReader(source, buffer_size=1 << 16)
    scan = _scan_layer(stream)  # type: ignore[arg-type]
    while stream.read(1 << 16):  # the end-of-archive padding belongs to the digest too
        pass
    return "sha256:" + source.sha.hexdigest(), scan  # type: ignore[union-attr]


# ---- finding the image's config ---------------------------------------------------------------


def _json(metadata: Mapping[str, bytes], name: str) -> Any:
    if name not in metadata:
        raise AnalysisError(f"The image archive has no {name}; it is incomplete or not from `docker save`.")
    try:
        return json.loads(metadata[name])
    except ValueError as exc:
        raise AnalysisError(f"{name} in the image archive is not valid JSON ({exc}); save the image again.") from exc


def _blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _pick(candidates: list[tuple[tuple[str, ...], str]], ref: str) -> tuple[str, str]:
    """(names, config member) pairs -> the one for ``ref`` (or the only one)."""
    if ref:
        for names, config in candidates:
            if ref in names:
                return ref, config
    if len(candidates) == 1:
        names, config = candidates[0]
        return ref or (names[0] if names else ""), config
    found = sorted(n for names, _ in candidates for n in names)
    raise AnalysisError(
        f"The archive holds {len(candidates)} images and none is named {ref or '(no name given)'}; "
        f"pass one of: {', '.join(found) or '(untagged images)'}."
    )


def _oci_manifests(metadata: Mapping[str, bytes], index: Mapping) -> Iterator[tuple[tuple[str, ...], str]]:
    for desc in index.get("manifests", ()):
        notes = desc.get("annotations") or {}
        if notes.get("vnd.docker.reference.type") == "attestation-manifest":
            continue  # buildx provenance/SBOM: describes an image, is not one
        body = _json(metadata, _blob(desc["digest"]))
        if "manifests" in body:  # a nested index (multi-platform): follow it
            yield from _oci_manifests(metadata, body)
            continue
        names = tuple(n for n in (notes.get("io.containerd.image.name"), notes.get("org.opencontainers.image.ref.name")) if n)
        yield names, _blob(body["config"]["digest"])


def _config_member(metadata: Mapping[str, bytes], ref: str) -> tuple[str, str]:
    """The chosen image's name and the archive member holding its config JSON."""
    if "manifest.json" in metadata:  # legacy layout (also written beside OCI by Docker 25+)
        entries = _json(metadata, "manifest.json")
        return _pick([(tuple(e.get("RepoTags") or ()), _norm(e["Config"])) for e in entries], ref)
    return _pick(list(_oci_manifests(metadata, _json(metadata, "index.json"))), ref)


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


def _distributions(scan: _LayerScan) -> tuple[DistSizes, ...]:
    """Attribute the layer's files to the distributions whose RECORD lists them."""
    owner: dict[str, tuple[str, str, str]] = {}
    for folder in sorted(scan.records):  # sorted: a file listed twice goes to the same dist every time
        site, dist_info = posixpath.split(folder)
        name, _, version = dist_info[: -len(".dist-info")].rpartition("-")
        dist = (name, version, posixpath.basename(site))
        for row in csv.reader(scan.records[folder].decode("utf-8", "replace").splitlines()):
            if row:
                # pip --target moves the ../../bin and ../../include of its temporary
                # prefix into the target folder itself.
                path = posixpath.normpath(posixpath.join(site, _UP.sub("", row[0])))
                if scan.entries.get(path, ("",))[0] == "f":
                    owner.setdefault(path, dist)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for path, (kind, size) in scan.entries.items():
        dist = owner.get(path) or owner.get(_source_of(path), None)
        if kind == "f" and dist:
            totals[dist][0] += size
            totals[dist][1] += 1
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


def _waste(scans: Sequence[_LayerScan]) -> tuple[list[int], tuple[WastedPath, ...]]:
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
    chunks = _chunks(archive) if hasattr(archive, "read") else archive  # type: ignore[arg-type]
    metadata, scans = _read_archive(io.BufferedReader(_Stream(chunks), buffer_size=1 << 20))  # type: ignore[arg-type]
    return [_analyse(metadata, scans, ref, base_layers) for ref in refs]


def _analyse(metadata: Mapping[str, bytes], scans: Mapping[str, _LayerScan], ref: str, base_layers: Sequence[str]) -> ImageSizes:
    try:
        ref, config_name = _config_member(metadata, ref)
        config = _json(metadata, config_name)
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnalysisError(f"The image archive's metadata lacks {exc}; is it from `docker save`?") from exc
    missing = [d for d in diff_ids if d not in scans]
    if missing:
        raise AnalysisError(f"The image archive lacks layer {missing[0]}; save the image again.")
    labels = dict((config.get("config") or {}).get("Labels") or {})
    base, roles = _roles(diff_ids, base_layers, labels, ref)
    # An imported layer has no created_by, only a comment ("Imported from -").
    history = [h.get("created_by") or h.get("comment", "") for h in config.get("history", ()) if not h.get("empty_layer")]
    history += [""] * (len(diff_ids) - len(history))  # some tools write no history
    ordered = [scans[d] for d in diff_ids]
    hidden, wasted_paths = _waste(ordered)
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
        for i, (diff_id, scan) in enumerate(zip(diff_ids, ordered))
    )
    return ImageSizes(
        ref=ref,
        id="sha256:" + hashlib.sha256(metadata[config_name]).hexdigest(),
        layers=layers,
        base_layer_count=base,
        wasted_bytes=sum(hidden),
        wasted_paths=wasted_paths,
        labels=MappingProxyType(labels),
    )
