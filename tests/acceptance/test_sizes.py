"""Where an image's bytes go, on a real image: layers, overwritten files and the engine's own size."""

from __future__ import annotations

import os
import subprocess

import pytest

from builder.measure import sizes

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
