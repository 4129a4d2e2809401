"""Where an image's bytes go: analysis of synthetic `docker save` archives (no Docker)."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from builder.core.errors import AnalysisError
from builder.measure import registry_view, report, sizes
from tests.unit.archives import (
    BASE,
    DIR,
    FUNCTION,
    LABELS,
    NUMPY,
    add_member,
    diff_id,
    dist,
    image,
    layer,
    save_legacy,
    save_oci,
)

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
        add_member(tar, "manifest.json", b'[{"RepoTags": []}]')
    with pytest.raises(AnalysisError, match="lacks 'Config'"):
        sizes.analyse_image(bad)


# ---- several images ------------------------------------------------------------------------------


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


