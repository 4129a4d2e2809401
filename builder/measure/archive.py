"""Reading a ``docker save`` archive as a stream: no extraction to disk, no Docker.

Both layouts are read: the legacy one Docker 20.10 writes (``manifest.json``, a
config JSON, ``<id>/layer.tar``) and the OCI one newer engines write
(``index.json``, ``blobs/sha256/...``, layers possibly gzip-compressed). Each
layer tar is hashed while it is read, so it is matched to the config's
``rootfs.diff_ids`` by content, whatever order the archive holds it in
(``manifest.json`` usually comes last).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, cast

from ..core.errors import AnalysisError
from ..core.files import ChunkStream

_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_JSON = 16 * 1024 * 1024  # configs and manifests are small; bigger blobs are not metadata
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class LayerScan:
    """What one layer tar holds: path -> (kind, size), whiteouts, and the files asked to be kept."""

    entries: dict[str, tuple[str, int]] = field(default_factory=dict)  # kind: f(ile), d(ir), o(ther)
    deleted: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    kept: dict[str, bytes] = field(default_factory=dict)  # path -> content


def _chunks(reader: IO[bytes] | gzip.GzipFile, head: bytes = b"") -> Iterator[bytes]:
    yield head
    yield from iter(functools.partial(reader.read, 1 << 20), b"")


def _norm(name: str) -> str:
    """Layer tars may write ``./a/b/`` or ``a/b``; keep ``a/b``."""
    return posixpath.normpath("/" + name).lstrip("/")


def _scan_layer(stream: BinaryIO, keep: re.Pattern[str]) -> LayerScan:
    scan = LayerScan()
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
                if member.isreg() and keep.fullmatch(path):
                    data = layer.extractfile(member)
                    assert data is not None  # a regular file's member has data
                    scan.kept[path] = data.read()
            else:
                scan.entries[path] = ("o", 0)
    return scan


def _read_archive(archive: BinaryIO, keep: re.Pattern[str]) -> tuple[dict[str, bytes], dict[str, LayerScan]]:
    """Small JSON members by name, and every layer tar's scan by its diff ID."""
    metadata: dict[str, bytes] = {}
    layers: dict[str, LayerScan] = {}
    try:
        with tarfile.open(fileobj=archive, mode="r|") as outer:
            for member in outer:
                name = _norm(member.name)
                if not member.isreg():
                    continue  # a symlinked layer.tar repeats a layer already read (same diff ID)
                reader = outer.extractfile(member)
                assert reader is not None  # a regular file's member has data
                head = reader.read(512)
                if name.endswith("layer.tar") or name.startswith("blobs/"):
                    diff_id, scan = _layer_blob(name, reader, head, keep)
                    if scan is not None:
                        layers[diff_id] = scan
                        continue
                if head.lstrip()[:1] in (b"{", b"[") and member.size <= _MAX_JSON:
                    metadata[name] = head + reader.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise AnalysisError(
            f"Cannot read the image archive: {exc}. It must be a `docker save` tar (legacy or OCI layout)."
        ) from exc
    return metadata, layers


def _layer_blob(name: str, reader: IO[bytes], head: bytes, keep: re.Pattern[str]) -> tuple[str, LayerScan | None]:
    if head.startswith(_ZSTD_MAGIC):
        raise AnalysisError(f"Layer {name} is zstd-compressed, which is not supported; save the image uncompressed.")
    if head.startswith(_GZIP_MAGIC):
        # The diff ID is the digest of the uncompressed tar: hash after decompressing.
        raw = gzip.GzipFile(fileobj=io.BufferedReader(ChunkStream(_chunks(reader, head))))
        source = ChunkStream(_chunks(raw), hashed=True)
    elif head[257:262] == b"ustar" or (head and not head.strip(b"\0")):  # tar header, or an empty tar
        source = ChunkStream(_chunks(reader, head), hashed=True)
    else:
        return "", None  # another kind of blob (attestation, signature): not a layer
    stream = io.BufferedReader(source, buffer_size=1 << 16)
    scan = _scan_layer(stream, keep)
    while stream.read(1 << 16):  # the end-of-archive padding belongs to the digest too
        pass
    assert source.sha is not None  # hashed=True above
    return "sha256:" + source.sha.hexdigest(), scan


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


# ---- the public face ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedImage:
    """One image of the archive: its name, config and layer scans (lowest first)."""

    ref: str
    id: str  # sha256 of the config JSON: the image ID
    config: Mapping[str, Any]
    diff_ids: tuple[str, ...]
    layers: tuple[LayerScan, ...]


@dataclass(frozen=True)
class Archive:
    """A read archive: its small JSON members and every layer's scan, by diff ID."""

    metadata: Mapping[str, bytes]
    scans: Mapping[str, LayerScan]

    def image(self, ref: str = "") -> SavedImage:
        """The image named ``ref`` (or the only one); ``AnalysisError`` when it is not there whole."""
        try:
            ref, config_name = _config_member(self.metadata, ref)
            config = _json(self.metadata, config_name)
            diff_ids = tuple(config["rootfs"]["diff_ids"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise AnalysisError(f"The image archive's metadata lacks {exc}; is it from `docker save`?") from exc
        missing = [d for d in diff_ids if d not in self.scans]
        if missing:
            raise AnalysisError(f"The image archive lacks layer {missing[0]}; save the image again.")
        image_id = "sha256:" + hashlib.sha256(self.metadata[config_name]).hexdigest()
        return SavedImage(ref, image_id, config, diff_ids, tuple(self.scans[d] for d in diff_ids))


def read(archive: BinaryIO | Iterable[bytes], *, keep: re.Pattern[str]) -> Archive:
    """Read a ``docker save`` archive (a binary file or byte chunks) once, as a stream.

    ``keep`` matches the layer paths (relative, no leading slash) whose content
    is kept in :attr:`LayerScan.kept`; of the rest only names, kinds and sizes are.
    """
    # mypy does not narrow a union by hasattr: cast to the file that "read" means here
    chunks = _chunks(cast(BinaryIO, archive)) if hasattr(archive, "read") else archive
    metadata, scans = _read_archive(io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20), keep)
    return Archive(metadata, scans)
