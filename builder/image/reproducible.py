"""Image configs that depend only on what is in the image, so the same inputs give the same digest.

BuildKit (as Docker 20.10 ships it) writes the time of the build into the image config and its
history, and ignores ``SOURCE_DATE_EPOCH``; the layers themselves are already the same bytes for
the same inputs (builder fixes file times). So after each build the engine re-labels the image
with a config made here: every time set to ``SOURCE_DATE_EPOCH`` (or 0, the Unix epoch), nothing
of the build host, keys in a fixed order. Loading that config over layers the engine already
holds copies no layer. An image ID is the sha256 of its config, so equal configs are equal IDs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError

EPOCH_VARIABLE = "SOURCE_DATE_EPOCH"
# Instructions that make a layer even when it holds no bytes (an empty folder, a no-op RUN).
LAYER_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD", "WORKDIR"})
# Container settings the engine reports for every image but that are not part of what runs.
# A production stage's code stage is named for its function; two functions' code can still be the
# same files (one CodeUri, two handlers), so layers are compared as if every code stage were one.
_CODE_STAGE = re.compile(r"--from=code-\S+")
HOST_KEYS = frozenset({"Hostname", "Domainname", "Image", "AttachStdin", "AttachStdout", "AttachStderr",
                       "Tty", "OpenStdin", "StdinOnce"})  # fmt: skip


def epoch(environ: Mapping[str, str]) -> int:
    """The time every image records: ``SOURCE_DATE_EPOCH`` when set, else 0."""
    value = environ.get(EPOCH_VARIABLE, "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise ConfigError(
            f"{EPOCH_VARIABLE}={value!r} is not a number of seconds since 1970 (for example "
            f"`{EPOCH_VARIABLE}=$(git log -1 --format=%ct)`). Set it to one, or unset it to use 0."
        )
    return int(value)


def timestamp(seconds: int) -> str:
    """RFC 3339, as image configs write times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_from_api(entries: Sequence[Mapping[str, Any]], layer_count: int) -> list[dict[str, Any]] | None:
    """The image's history from the engine's history API (newest first, as it answers).

    That API does not say which entries made a layer; one did when it added bytes, or when its
    instruction always makes one. None when that reading does not account for exactly
    ``layer_count`` layers: the caller then reads the stored config instead.
    """
    history = []
    for entry in reversed(entries):
        created_by = entry.get("CreatedBy") or ""
        words = created_by.replace("/bin/sh -c #(nop) ", "").split()
        makes_layer = int(entry.get("Size") or 0) > 0 or not created_by or words[0] in LAYER_INSTRUCTIONS
        item: dict[str, Any] = {"created_by": created_by}
        if entry.get("Comment"):
            item["comment"] = entry["Comment"]
        if not makes_layer:
            item["empty_layer"] = True
        history.append(item)
    layers = sum(1 for item in history if not item.get("empty_layer"))
    return history if layers == layer_count else None


def history_from_config(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The history a stored image config holds (what ``docker save`` writes)."""
    keep = ("created_by", "comment", "author", "empty_layer")
    return [{k: entry[k] for k in keep if entry.get(k)} for entry in raw.get("history") or ()]


def fixed_config(attrs: Mapping[str, Any], history: Sequence[Mapping[str, Any]], seconds: int) -> bytes:
    """The image config, canonical JSON: ``attrs`` as the engine's inspect gives them, ``history``
    oldest first, every time ``seconds``."""
    when = timestamp(seconds)
    settings = {k: v for k, v in (attrs.get("Config") or {}).items() if v and k not in HOST_KEYS}
    doc: dict[str, Any] = {
        "architecture": attrs.get("Architecture") or "amd64",
        "os": attrs.get("Os") or "linux",
        "config": settings,
        "created": when,
        "history": [{**entry, "created": when} for entry in history],
        "rootfs": {"type": "layers", "diff_ids": list((attrs.get("RootFS") or {}).get("Layers") or ())},
    }
    if attrs.get("Variant"):
        doc["variant"] = attrs["Variant"]
    if attrs.get("Author"):
        doc["author"] = attrs["Author"]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def load_archive(config: bytes, config_id: str, tags: Sequence[str], layer_count: int) -> bytes:
    """A ``docker load`` archive of ``config`` alone: the engine holds every layer it names, and
    skips loading a layer it holds, so the archive lists layer files it does not carry."""
    name = f"{config_id.removeprefix('sha256:')}.json"
    manifest = [{"Config": name, "RepoTags": list(tags), "Layers": [f"{i}/layer.tar" for i in range(layer_count)]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in ((name, config), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _stage_layers(dockerfile_text: str) -> dict[str, tuple[str, ...]]:
    """Each stage of ``dockerfile_text`` by name: its FROM and the instructions that make layers,
    with continuation lines joined and code stages made alike (see ``_CODE_STAGE``)."""
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in dockerfile_text.replace("\\\n", " ").splitlines():
        words = [w for w in line.split() if not w.startswith("--platform=")]
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "FROM":
            current = stages.setdefault(words[3], []) if len(words) == 4 and words[2].upper() == "AS" else None
            if current is not None:
                current.append(words[1])
        elif current is not None and keyword in LAYER_INSTRUCTIONS:
            current.append(_CODE_STAGE.sub("--from=code", " ".join(words)))
    return {name: tuple(lines) for name, lines in stages.items()}


def build_after(dockerfile_text: str, functions: Sequence[str]) -> dict[str, frozenset[str]]:
    """For each function, the functions whose builds must end before its build starts, so that no
    two builds running at once make the same layers anew.

    Two builds that make the same layers at once each get their own copy, and moby registers
    the one that ends first; a layer on top of such a layer is then written by the engine's
    other differ, which orders the files otherwise: another digest. So the first function (in
    the order asked) whose image starts with a stack of layers others share builds it alone;
    the others start once it has ended and find that stack in the build cache. Functions that
    share nothing build at once, as before.
    """
    stages = _stage_layers(dockerfile_text)
    chains = {name: stages.get(name, ()) for name in functions}
    first: dict[tuple[str, ...], str] = {}
    holders: dict[tuple[str, ...], int] = {}
    for name in functions:
        for k in range(2, len(chains[name]) + 1):  # a FROM and at least one layer on it
            first.setdefault(chains[name][:k], name)
            holders[chains[name][:k]] = holders.get(chains[name][:k], 0) + 1
    after: dict[str, frozenset[str]] = {}
    for name in functions:
        prefixes = (chains[name][:k] for k in range(2, len(chains[name]) + 1))
        after[name] = frozenset(first[p] for p in prefixes if holders[p] > 1 and first[p] != name)
    return after


def rootfs_archive(rootfs_tar: Path, dest: Path, ref: str, platform: str, seconds: int = 0) -> None:
    """Write to ``dest`` a ``docker load`` archive of one image, ``ref``, whose one layer is
    ``rootfs_tar`` and whose config says ``platform`` (``linux/arm64``): ``docker import`` in
    Docker 20.10 records the engine's own architecture whatever the files are."""
    digest = hashlib.sha256()
    with open(rootfs_tar, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    os_name, _, architecture = platform.partition("/")
    when = timestamp(seconds)
    config = json.dumps({
        "architecture": architecture, "os": os_name, "config": {}, "created": when,
        "history": [{"created": when, "created_by": f"debootstrap ({platform})"}],
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
    }, sort_keys=True, separators=(",", ":")).encode()  # fmt: skip
    name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": name, "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in ((name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(rootfs_tar, arcname="layer/layer.tar")
