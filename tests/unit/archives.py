"""Synthetic `docker save` archives (legacy and OCI layouts) built in memory, and the layers the size
tests share."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

DIR = None  # a directory entry in a layer spec

def layer(entries: dict) -> bytes:
    """A layer tar. Values: bytes = regular file, DIR = directory, "->T" = symlink to T,
    "=>T" = hard link to T. A whiteout is just a file named ``.wh.<name>``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            info.mtime = 0
            data = None
            if value is DIR:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif isinstance(value, str) and value.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, value[2:]
            elif isinstance(value, str) and value.startswith("=>"):
                info.type, info.linkname = tarfile.LNKTYPE, value[2:]
            else:
                info.size, data = len(value), io.BytesIO(value)
            tar.addfile(info, data)
    return out.getvalue()


def dist(group: str, name: str, version: str, files: dict[str, bytes], unlisted: dict | None = None) -> dict:
    """Files of a distribution installed with ``pip install --target /opt/deps/<group>``:
    ``files`` are listed in its RECORD (paths relative to the target), ``unlisted`` are not."""
    site = f"opt/deps/{group}"
    info = f"{name}-{version}.dist-info"
    rows = [f"{path},sha256=x,{len(data)}" for path, data in files.items()] + [f"{info}/RECORD,,"]
    entries = {f"{site}/{info}/METADATA": b"Name: " + name.encode()}
    rows.append(f"{info}/METADATA,,")
    entries |= {installed(site, path): data for path, data in files.items()}
    entries |= {f"{site}/{path}": data for path, data in (unlisted or {}).items()}
    entries[f"{site}/{info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    return entries


def installed(site: str, path: str) -> str:
    # pip --target puts the ../../bin of its temporary prefix into the target itself
    return site + "/" + re.sub(r"^(\.\./)+", "", path)


def diff_id(tar: bytes) -> str:
    return "sha256:" + hashlib.sha256(tar).hexdigest()


def image(layers: list[bytes], *, labels=None, created_by=None, ref="demo/fn:test") -> dict:
    """An image: its layer tars and config (with an empty-layer history entry between layers)."""
    created_by = created_by or [f"STEP {i}" for i in range(len(layers))]
    history = []
    for step in created_by:
        history += [{"created_by": step}, {"created_by": "ENV A=1", "empty_layer": True}]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id(t) for t in layers]},
        "history": history,
    }
    return {"layers": layers, "config": json.dumps(config, sort_keys=True).encode(), "ref": ref}


def add_member(tar: tarfile.TarFile, name: str, data: bytes | None = None, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def save_legacy(path: Path, *images: dict) -> Path:
    """The layout `docker save` of Docker 20.10 writes: layer dirs first, manifest.json last.
    A layer already written is a symlink to the first copy, as Docker does."""
    written: dict[str, str] = {}
    manifest = []
    with tarfile.open(path, "w") as tar:
        for img in images:
            names = []
            for i, data in enumerate(img["layers"]):
                layer_dir = hashlib.sha256(img["config"] + bytes([i])).hexdigest()
                add_member(tar, layer_dir)
                add_member(tar, f"{layer_dir}/VERSION", b"1.0")
                add_member(tar, f"{layer_dir}/json", b'{"id": "%s"}' % layer_dir.encode())
                if diff_id(data) in written:
                    add_member(tar, f"{layer_dir}/layer.tar", link=f"../{written[diff_id(data)]}")
                else:
                    add_member(tar, f"{layer_dir}/layer.tar", data)
                    written[diff_id(data)] = f"{layer_dir}/layer.tar"
                names.append(f"{layer_dir}/layer.tar")
            config_name = hashlib.sha256(img["config"]).hexdigest() + ".json"
            add_member(tar, config_name, img["config"])
            manifest.append({"Config": config_name, "RepoTags": [img["ref"]], "Layers": names})
        add_member(tar, "manifest.json", json.dumps(manifest).encode())
    return path


def save_oci(path: Path, img: dict, *, compress: bool) -> Path:
    """The OCI layout newer engines write (index.json, blobs/sha256), gzip layers optional."""

    def blob(tar: tarfile.TarFile, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        add_member(tar, f"blobs/sha256/{digest}", data)
        return "sha256:" + digest

    with tarfile.open(path, "w") as tar:
        add_member(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        kind = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        layers = [
            {"mediaType": kind, "digest": blob(tar, gzip.compress(t, mtime=0) if compress else t)} for t in img["layers"]
        ]
        manifest = {"schemaVersion": 2, "config": {"digest": blob(tar, img["config"])}, "layers": layers}
        digest = blob(tar, json.dumps(manifest).encode())
        # buildx adds an attestation manifest beside the image's: it is not an image.
        statement = blob(tar, b'{"_type": "https://in-toto.io/Statement/v0.1"}')
        attestation = {"schemaVersion": 2, "config": {"digest": blob(tar, b"{}")}, "layers": [{"digest": statement}]}
        index = {
            "schemaVersion": 2,
            "manifests": [
                {"digest": digest, "annotations": {"io.containerd.image.name": img["ref"]}},
                {
                    "digest": blob(tar, json.dumps(attestation).encode()),
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                },
            ],
        }
        add_member(tar, "index.json", json.dumps(index).encode())
    return path


BASE = [
    layer({"etc": DIR, "etc/os-release": b"x" * 300, "bin": DIR, "bin/sh": b"s" * 700}),
    layer({"etc": DIR, "etc/motd": b"m" * 50}),
]
NUMPY = layer(
    dist(
        "numpy",
        "numpy",
        "1.26.4",
        {"numpy/__init__.py": b"i" * 100, "numpy/core.so": b"c" * 5000, "../../bin/f2py": b"#" * 40},
        # compiled after install, so not in RECORD; and a stray file nobody claims
        unlisted={"numpy/__pycache__/__init__.cpython-311.pyc": b"p" * 60, "stray.txt": b"?" * 7},
    )
)
FUNCTION = layer({"var/task": DIR, "var/task/app.py": b"a" * 200})
LABELS = {"builder.project": "demo", "builder.function": "fn", "builder.layers": "deps/numpy function"}


