"""Where an image's bytes go: analysis of synthetic `docker save` archives (no Docker),
the renderers, and one integration test against a real engine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder.core.errors import AnalysisError
from builder.measure import registry_view, report, sizes

DOCS = Path(__file__).resolve().parent.parent / "docs" / "report-json.md"
DIR = None  # a directory entry in a layer spec


# ---- building synthetic archives -----------------------------------------------------------------


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


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, link: str = "") -> None:
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
                _add(tar, layer_dir)
                _add(tar, f"{layer_dir}/VERSION", b"1.0")
                _add(tar, f"{layer_dir}/json", b'{"id": "%s"}' % layer_dir.encode())
                if diff_id(data) in written:
                    _add(tar, f"{layer_dir}/layer.tar", link=f"../{written[diff_id(data)]}")
                else:
                    _add(tar, f"{layer_dir}/layer.tar", data)
                    written[diff_id(data)] = f"{layer_dir}/layer.tar"
                names.append(f"{layer_dir}/layer.tar")
            config_name = hashlib.sha256(img["config"]).hexdigest() + ".json"
            _add(tar, config_name, img["config"])
            manifest.append({"Config": config_name, "RepoTags": [img["ref"]], "Layers": names})
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return path


def save_oci(path: Path, img: dict, *, compress: bool) -> Path:
    """The OCI layout newer engines write (index.json, blobs/sha256), gzip layers optional."""

    def blob(tar: tarfile.TarFile, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        _add(tar, f"blobs/sha256/{digest}", data)
        return "sha256:" + digest

    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
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
        _add(tar, "index.json", json.dumps(index).encode())
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


@pytest.fixture
def demo(tmp_path) -> sizes.ImageSizes:
    archive = save_legacy(tmp_path / "image.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS))
    return sizes.analyse_image(archive, base_layers=[diff_id(t) for t in BASE])


# ---- one image -----------------------------------------------------------------------------------


def test_each_layer_has_its_size_files_role_and_the_step_that_made_it(demo):
    got = [(l.index, l.size, l.files, l.role, l.created_by) for l in demo.layers]
    numpy_bytes = len(b"Name: numpy") + 100 + 5000 + 40 + 60 + 7 + len(NUMPY_RECORD())
    assert got == [
        (0, 1000, 2, "base", "STEP 0"),
        (1, 50, 1, "base", "STEP 1"),
        (2, numpy_bytes, 7, "deps/numpy", "STEP 2"),
        (3, 200, 1, "function", "STEP 3"),
    ]
    assert [l.diff_id for l in demo.layers] == [diff_id(t) for t in [*BASE, NUMPY, FUNCTION]]
    assert demo.ref == "demo/fn:test" and demo.name == "fn" and demo.base_layer_count == 2
    assert demo.total_bytes == 1250 + numpy_bytes
    assert demo.above_base_bytes == 200 + numpy_bytes
    assert demo.wasted_bytes == 0 and demo.efficiency == 1.0
    assert demo.id.startswith("sha256:") and len(demo.id) == 71


def NUMPY_RECORD() -> bytes:
    with tarfile.open(fileobj=io.BytesIO(NUMPY)) as tar:
        return tar.extractfile("opt/deps/numpy/numpy-1.26.4.dist-info/RECORD").read()


def test_files_are_attributed_to_the_distribution_whose_record_lists_them(demo):
    deps = demo.layers[2]
    (numpy,) = deps.distributions
    # RECORD files, the ../../bin script, its dist-info, and bytecode of a listed source.
    expected = 100 + 5000 + 40 + 60 + len(b"Name: numpy") + len(NUMPY_RECORD())
    assert (numpy.name, numpy.version, numpy.group, numpy.bytes, numpy.files) == ("numpy", "1.26.4", "numpy", expected, 6)
    assert deps.unattributed_bytes == 7  # stray.txt


def test_a_record_entry_stripped_from_the_layer_counts_nothing(tmp_path):
    files = dist("g", "pandas", "2.2.1", {"pandas/a.py": b"a" * 10, "pandas/tests/t.py": b"t" * 90})
    del files["opt/deps/g/pandas/tests/t.py"]  # removed by a strip rule before the COPY
    files |= dist("g", "pytz", "2024.1", {"pytz/b.py": b"b" * 500})
    archive = save_legacy(tmp_path / "i.tar", image([layer(files)]))
    dists = sizes.analyse_image(archive).layers[0].distributions
    assert [(d.name, d.files) for d in dists] == [("pytz", 3), ("pandas", 3)]  # largest first
    assert dists[1].bytes == 10 + len(b"Name: pandas") + len(files["opt/deps/g/pandas-2.2.1.dist-info/RECORD"])


def test_a_file_written_by_three_layers_wastes_two_copies_not_three(tmp_path):
    layers = [layer({"app": DIR, "app/data.bin": b"x" * 100}) for _ in range(3)]
    layers = [layers[0], layer({"app/data.bin": b"y" * 100}), layer({"app/data.bin": b"z" * 100, "app/k": b"k" * 50})]
    result = sizes.analyse_image(save_legacy(tmp_path / "i.tar", image(layers)))
    assert result.wasted_bytes == 200  # dive would say 300
    assert [l.wasted_bytes for l in result.layers] == [100, 100, 0]
    assert result.wasted_paths == (sizes.WastedPath("app/data.bin", 3, 200),)
    assert result.total_bytes == 350
    assert result.efficiency == pytest.approx(1 - 200 / 350)
    assert "wasted 0.0 MB (copies hidden by later layers), efficiency 42.9%" in report.render_text(result)
    assert re.search(r"^\s+0\.0 MB\s+3 copies\s+/app/data\.bin$", report.render_text(result), re.M)


def test_deleted_files_and_folders_waste_every_copy(tmp_path):
    lower = layer(
        {
            "a": DIR,
            "a/gone.bin": b"g" * 100,
            "cache": DIR,
            "cache/x": b"x" * 300,
            "cache/sub/y": b"y" * 200,  # no parent entry: tars need not have one
            "keep": b"k" * 400,
        }
    )
    upper = layer({"a/.wh.gone.bin": b"", ".wh.cache": b"", ".wh..wh.plnk": b""})
    result = sizes.analyse_image(save_legacy(tmp_path / "i.tar", image([lower, upper])))
    assert result.wasted_bytes == 600
    assert result.layers[0].wasted_bytes == 600 and result.layers[1].size == 0
    assert result.wasted_paths == (
        sizes.WastedPath("cache/x", 1, 300, deleted=True),
        sizes.WastedPath("cache/sub/y", 1, 200, deleted=True),
        sizes.WastedPath("a/gone.bin", 1, 100, deleted=True),
    )
    assert result.efficiency == pytest.approx(1 - 600 / 1000)
    assert re.search(r"^\s+0\.0 MB\s+1 copy, deleted\s+/cache/x$", report.render_text(result), re.M)


def test_an_opaque_folder_hides_lower_contents_but_keeps_its_own(tmp_path):
    lower = layer({"d": DIR, "d/old": b"o" * 100, "d/sub/older": b"o" * 50, "e/kept": b"k" * 10})
    upper = layer({"d": DIR, "d/.wh..wh..opq": b"", "d/new": b"n" * 30})
    result = sizes.analyse_image(save_legacy(tmp_path / "i.tar", image([lower, upper])))
    assert result.wasted_bytes == 150 and result.layers[1].wasted_bytes == 0
    assert result.layers[1].files == 1 and result.layers[1].size == 30


def test_replacing_a_folder_by_a_file_and_a_file_by_a_folder_hides_them(tmp_path):
    lower = layer({"d": DIR, "d/x": b"x" * 100, "f": b"f" * 70})
    upper = layer({"d": b"now a file", "f": DIR, "f/inside": b"i" * 5})
    result = sizes.analyse_image(save_legacy(tmp_path / "i.tar", image([lower, upper])))
    assert result.wasted_bytes == 170


def test_links_have_no_bytes_of_their_own(tmp_path):
    tar = layer({"a": b"a" * 100, "b": "->a", "c": "=>a"})
    result = sizes.analyse_image(save_legacy(tmp_path / "i.tar", image([tar])))
    assert (result.layers[0].size, result.layers[0].files) == (100, 2)  # the hard link is a file


def test_oci_layout_with_gzip_layers_gives_the_same_analysis(tmp_path, demo):
    img = image([*BASE, NUMPY, FUNCTION], labels=LABELS)
    for compress in (False, True):
        archive = save_oci(tmp_path / f"oci-{compress}.tar", img, compress=compress)
        oci = sizes.analyse_image(archive, base_layers=[diff_id(t) for t in BASE])
        assert oci == demo


def test_byte_chunks_and_files_are_read_as_a_stream(tmp_path, demo):
    data = save_legacy(tmp_path / "i.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS)).read_bytes()
    chunks = (data[i : i + 777] for i in range(0, len(data), 777))  # not aligned to tar blocks
    base = [diff_id(t) for t in BASE]
    assert sizes.analyse_image(chunks, base_layers=base) == demo
    assert sizes.analyse_image(io.BytesIO(data), base_layers=base) == demo


def test_a_layer_repeated_in_an_image_is_read_once_and_counted_twice(tmp_path):
    same = layer({"x": b"x" * 10})
    archive = save_legacy(tmp_path / "i.tar", image([same, layer({"y": b"y"}), same]))
    result = sizes.analyse_image(archive)  # the third layer.tar is a symlink to the first
    assert [l.size for l in result.layers] == [10, 1, 10] and result.wasted_bytes == 10


def test_the_base_is_what_the_layers_label_does_not_name(tmp_path):
    archive = save_legacy(tmp_path / "i.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS))
    result = sizes.analyse_image(archive)
    assert [l.role for l in result.layers] == ["base", "base", "deps/numpy", "function"]
    unlabelled = sizes.analyse_image(save_legacy(tmp_path / "u.tar", image([*BASE, FUNCTION])))
    assert [l.role for l in unlabelled.layers] == ["", "", ""] and unlabelled.base_layer_count == 0


def test_a_wrong_base_or_label_is_an_error_that_says_what_to_do(tmp_path):
    archive = save_legacy(tmp_path / "i.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS))
    with pytest.raises(AnalysisError, match="not built on the given base"):
        sizes.analyse_image(archive, base_layers=[diff_id(FUNCTION)])
    with pytest.raises(AnalysisError, match="label names 2"):
        sizes.analyse_image(archive, base_layers=[diff_id(BASE[0])])


def test_an_archive_with_several_images_needs_a_ref(tmp_path):
    one = image([BASE[0], FUNCTION], ref="demo/a:1")
    two = image([BASE[0], NUMPY], ref="demo/b:1")
    archive = save_legacy(tmp_path / "i.tar", one, two)
    assert sizes.analyse_image(archive, ref="demo/b:1").layers[1].diff_id == diff_id(NUMPY)
    with pytest.raises(AnalysisError, match="demo/a:1, demo/b:1"):
        sizes.analyse_image(archive)


def test_several_images_are_measured_from_one_archive_read_once(tmp_path):
    """What `report --all` does: one `docker save` of all images, the shared base stored once."""
    one = image([*BASE, FUNCTION], ref="demo/a:1")
    two = image([*BASE, NUMPY, FUNCTION], ref="demo/b:1")
    archive = save_legacy(tmp_path / "i.tar", one, two)
    both = sizes.analyse_images(archive, ["demo/b:1", "demo/a:1"])
    assert [i.ref for i in both] == ["demo/b:1", "demo/a:1"]
    assert both == [sizes.analyse_image(archive, ref="demo/b:1"), sizes.analyse_image(archive, ref="demo/a:1")]
    assert both[0].layers[len(BASE)].distributions[0].name == "numpy"
    with pytest.raises(AnalysisError, match="none is named demo/c:1"):
        sizes.analyse_images(archive, ["demo/a:1", "demo/c:1"])


def test_what_is_not_a_docker_save_archive_is_reported(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar" * 100)
    with pytest.raises(AnalysisError, match="docker save"):
        sizes.analyse_image(junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(AnalysisError, match="index.json"):
        sizes.analyse_image(empty)
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        _add(tar, "manifest.json", b'[{"RepoTags": []}]')
    with pytest.raises(AnalysisError, match="lacks 'Config'"):
        sizes.analyse_image(bad)


# ---- several images ------------------------------------------------------------------------------


@pytest.fixture
def two_images(tmp_path) -> list[sizes.ImageSizes]:
    base = [diff_id(t) for t in BASE]
    other = layer({"var/task": DIR, "var/task/other.py": b"o" * 300})
    labels = {**LABELS, "builder.function": "other"}
    return [
        sizes.analyse_image(save_legacy(tmp_path / "a.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS)), base_layers=base),
        sizes.analyse_image(save_legacy(tmp_path / "b.tar", image([*BASE, NUMPY, other], labels=labels)), base_layers=base),
    ]


def test_the_registry_stores_a_shared_layer_once(two_images):
    a, b = two_images
    view = registry_view.registry_view(two_images)
    numpy_size = a.layers[2].size
    assert view.images_bytes == a.total_bytes + b.total_bytes
    assert view.images_above_base_bytes == 2 * numpy_size + 200 + 300
    assert view.unique_bytes == 1000 + 50 + numpy_size + 200 + 300
    assert view.unique_above_base_bytes == numpy_size + 200 + 300
    shared = {l.role: (l.shared_by, l.images, l.size) for l in view.layers}
    assert shared["deps/numpy"] == (2, ("fn", "other"), numpy_size)
    assert shared["function"][0] == 1
    # Most shared first, then largest.
    assert [l.shared_by for l in view.layers] == [2, 2, 2, 1, 1]
    assert [l.size for l in view.layers] == [numpy_size, 1000, 50, 300, 200]


# ---- renderers -----------------------------------------------------------------------------------


def _tables(markdown: str) -> list[list[str]]:
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_has_one_table_row_per_layer(demo):
    text = report.render_markdown(demo, {"tests/": 2_000_000, "__pycache__/": 500_000})
    layers, dists, stripped = _tables(text)
    assert _cells(layers[0]) == ["#", "Role", "Size (MB)", "Files", "Wasted (MB)", "Created by"]
    assert re.fullmatch(r"\|( :?-{3,}:? \|)+", layers[1])
    assert [_cells(r)[:2] for r in layers[2:]] == [["0", "base"], ["1", "base"], ["2", "deps/numpy"], ["3", "function"]]
    assert _cells(layers[3])[2] == "0.0" and _cells(layers[2])[2] == "0.0"
    assert [_cells(r)[1:3] for r in dists[2:]] == [["numpy", "1.26.4"]]
    assert [_cells(r) for r in stripped[2:]] == [["`tests/`", "2.0"], ["`__pycache__/`", "0.5"]]
    assert "- Removed by stripping: 2.5 MB" in text


def test_markdown_escapes_pipes_in_cells(tmp_path):
    archive = save_legacy(tmp_path / "i.tar", image([FUNCTION], created_by=["RUN a | b"]))
    (table,) = _tables(report.render_markdown(sizes.analyse_image(archive)))
    assert _cells(table[2])[-1] == "`RUN a \\| b`"


def test_text_shows_layers_distributions_stripping_and_waste(tmp_path, demo):
    text = report.render_text(demo, {"tests/": 64_000_000})
    assert "total 0.0 MB in 4 layers" in text
    assert re.search(r"^\s+2\s+deps/numpy\s+0\.0 MB\s+7\s+0\.0 MB\s+STEP 2$", text, re.M)
    assert re.search(r"^\s+numpy 1\.26\.4\s+0\.0 MB\s+6$", text, re.M)
    assert re.search(r"^\s+tests/\s+64\.0 MB$", text, re.M)
    assert "removed by stripping" not in report.render_text(demo)


def test_json_is_the_documented_schema_in_bytes(demo):
    doc = report.to_json(demo, {"tests/": 10, "bin/": 5})
    assert doc["schema_version"] == 1 and doc["kind"] == "image"
    assert doc["total_bytes"] == demo.total_bytes and isinstance(doc["total_bytes"], int)
    assert doc["stripped"] == {"total_bytes": 15, "rules": {"bin/": 5, "tests/": 10}}
    assert doc["layers"][2]["distributions"][0]["size_bytes"] == demo.layers[2].distributions[0].bytes
    assert doc["layers"][2]["unattributed_bytes"] == 7
    assert report.to_json(demo)["stripped"] is None


def test_every_json_key_is_documented(two_images):
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    doc = json.loads(report.render(two_images, "json", registry=True, stripped={"fn": {"tests/": 1}}))

    def keys(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key != "rules":  # rule names are data, not schema
                    yield key
                    yield from keys(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from keys(inner)

    assert set(keys(doc)) - documented == set()


def test_the_report_is_deterministic_and_holds_every_image(two_images):
    for fmt in report.FORMATS:
        first = report.render(two_images, fmt, registry=True)
        assert first == report.render(two_images, fmt, registry=True)
    doc = json.loads(report.render(two_images, "json", registry=True))
    assert doc["kind"] == "report" and [i["name"] for i in doc["images"]] == ["fn", "other"]
    assert doc["registry"]["unique_bytes"] == registry_view.registry_view(two_images).unique_bytes
    assert json.loads(report.render(two_images[:1], "json"))["registry"] is None
    markdown = report.render(two_images, "markdown", registry=True)
    assert len(re.findall("^### ", markdown, re.M)) == 3 and "Shared by" in markdown
    with pytest.raises(ValueError, match="text, markdown, json"):
        report.render(two_images, "html")


# ---- against a real engine -----------------------------------------------------------------------


@pytest.mark.docker
def test_a_real_image_overwriting_a_file(tmp_path, docker_engine, base_image):
    tag = "builder-sizes-test:pytest"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "data.bin").write_bytes(b"1" * 1000)
    (tmp_path / "one" / "keep.txt").write_bytes(b"k" * 10)
    (tmp_path / "two" / "data.bin").write_bytes(b"2" * 3000)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "COPY one/ /var/task/\n"
        "COPY two/ /var/task/\n"
        'LABEL builder.function="sizes-test" builder.layers="shared function"\n'
    )
    build = [docker_engine.buildkit_client(), "build", "--progress=plain", "-t", tag, str(tmp_path)]
    try:
        done = subprocess.run(build, env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        base = docker_engine.image_info(base_image).layers
        result = sizes.analyse_image(docker_engine.save(tag), base_layers=base, ref=tag)
        info = docker_engine.image_info(tag)
    finally:
        docker_engine.remove_image(tag)

    assert [l.diff_id for l in result.layers] == list(info.layers)
    assert len(result.layers) == len(base) + 2 and result.base_layer_count == len(base)
    shared, function = result.layers[-2:]
    assert (shared.role, shared.size, shared.files, shared.wasted_bytes) == ("shared", 1010, 2, 1000)
    assert (function.role, function.size, function.files, function.wasted_bytes) == ("function", 3000, 1, 0)
    assert sizes.WastedPath("var/task/data.bin", 2, 1000) in result.wasted_paths
    assert result.above_base_bytes == 4010
    # Our sum of regular files is what the engine reports, but for symlink targets it counts.
    assert abs(result.total_bytes - info.size) / info.size < 0.01


def test_the_registry_view_estimates_ecr_storage_at_the_guides_rate(two_images):
    assert registry_view.ecr_monthly_usd(2**30) == pytest.approx(0.10)  # the guide: about $0.10 per GB-month
    doc = json.loads(report.render(two_images, "json", registry=True))["registry"]
    assert doc["ecr_usd_per_gb_month"] == 0.10
    assert doc["ecr_monthly_usd"] == pytest.approx(doc["unique_bytes"] / 2**30 * 0.10, abs=1e-6)
    assert [i["ecr_monthly_usd"] for i in doc["images"]] == [
        pytest.approx(i["total_bytes"] / 2**30 * 0.10, abs=1e-6) for i in doc["images"]]
    shapes = doc["shapes"]
    assert shapes["one_image_measured"] is False and shapes["one_image_bytes"] == doc["unique_bytes"]
    assert "ECR storage" in report.render(two_images, "text", registry=True)
