"""Debug sections stripped by default, on a real Pillow build: smaller, still working, *.libs untouched;
[strip.debug-symbols] names what to strip for a distribution instead."""

from __future__ import annotations

import json
import zipfile

import pytest

from builder.project import config
from tests.acceptance.example_cases import check_result, sample_event
from tests.acceptance.test_build import RUN_HANDLER
from tests.helpers import TEST_TAG, copy_example, run_cli, run_python

pytestmark = pytest.mark.docker

SIZES = (
    "import glob, json, os\n"
    "print(json.dumps({p[len('/opt/deps/'):].split('/', 1)[1]: os.path.getsize(p)\n"
    "    for p in glob.glob('/opt/deps/*/PIL/_imaging*.so') + glob.glob('/opt/deps/*/PIL/_webp*.so')\n"
    "    + glob.glob('/opt/deps/*/pillow.libs/*')}))\n"
)


def _wheel_sizes(root) -> dict[str, int]:
    wheel = next((root / ".builder" / "wheelhouse").glob("pillow-*.whl"))
    with zipfile.ZipFile(wheel) as whl:
        return {i.filename: i.file_size for i in whl.infolist()}


def test_the_debug_sections_of_every_shared_object_go_by_default_and_pillow_still_works(built_example, docker_engine):
    root, _ = built_example
    image = config.load(root).image("media-thumbnail", TEST_TAG)
    sizes, original = run_python(docker_engine, image, SIZES), _wheel_sizes(root)
    imaging = next(p for p in sizes if p.startswith("PIL/_imaging"))
    assert sizes[imaging] < original[imaging] * 0.3  # 3.3 MB -> 0.7 MB: its debug sections were most of it
    webp = next(p for p in sizes if p.startswith("PIL/_webp"))
    assert sizes[webp] < original[webp]
    libs = [p for p in sizes if p.startswith("pillow.libs/")]
    assert libs and all(sizes[p] == original[p] for p in libs)  # vendored: never touched
    assert run_python(docker_engine, image, PILLOW_WORKS) == {"webp": True, "freetype2": True, "size": [64, 48]}


# Every codec and the vendored libraries (found through the RUNPATH patchelf set) still load.
PILLOW_WORKS = (
    "import io, json\n"
    "from PIL import Image, ImageDraw, ImageFilter, ImageFont, features\n"
    "im = Image.new('RGB', (640, 480), (200, 10, 10)).filter(ImageFilter.GaussianBlur(3))\n"
    "ImageDraw.Draw(im).text((5, 5), 'hi', font=ImageFont.load_default())\n"
    "im.thumbnail((64, 64))\n"
    "for fmt in ('JPEG', 'PNG', 'WEBP'):\n"
    "    out = io.BytesIO(); im.save(out, fmt); Image.open(io.BytesIO(out.getvalue())).load()\n"
    "print(json.dumps({'webp': features.check('webp'), 'freetype2': features.check('freetype2'), 'size': im.size}))\n"
)


def test_debug_symbols_are_stripped_only_where_asked(tmp_path, base_image, docker_engine):
    root = copy_example(tmp_path / "backend")
    toml = root / "builder.toml"
    toml.write_text(
        toml.read_text() + '\n[strip.debug-symbols]\npillow = ["*.so", "!PIL/_webp*"]\n'
    )
    image = config.load(root).image("media-thumbnail", f"{TEST_TAG}-debug")
    result = run_cli("--project", str(root), "build", "--function", "media-thumbnail", "--tag", f"{TEST_TAG}-debug")
    assert result.returncode == 0, result.stderr
    try:
        sizes, original = run_python(docker_engine, image, SIZES), _wheel_sizes(root)
        imaging = next(p for p in sizes if p.startswith("PIL/_imaging"))
        webp = next(p for p in sizes if p.startswith("PIL/_webp"))
        assert sizes[imaging] < original[imaging] * 0.9  # debug sections gone
        assert sizes[webp] == original[webp]  # excluded by '!PIL/_webp*'
        libs = [p for p in sizes if p.startswith("pillow.libs/")]
        assert libs and all(sizes[p] == original[p] for p in libs)  # vendored: never touched
        handler = config.load(root).function("media-thumbnail").handler
        check_result("media-thumbnail", run_python(docker_engine, image, RUN_HANDLER, handler,
                                                   json.dumps(sample_event("media-thumbnail"))))
    finally:
        docker_engine.remove_image(image)
