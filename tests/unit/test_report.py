"""The size report's renderers (text, markdown, JSON) on synthetic images (no Docker)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from builder.measure import pins, registry_view, report, sizes
from tests.helpers import REPO
from tests.unit.archives import BASE, FUNCTION, diff_id, image, save_legacy

DOCS = REPO / "docs" / "report-json.md"


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


RENDER_IN_ANOTHER_PROCESS = """
import json, sys
from pathlib import Path
from builder.measure import report, sizes
base, *tars = json.loads(sys.argv[1])
images = [sizes.analyse_image(Path(tar), base_layers=base) for tar in tars]
print(json.dumps({fmt: report.render(images, fmt, registry=True) for fmt in report.FORMATS}))
"""


def test_the_report_is_deterministic_and_holds_every_image(two_images, tmp_path):
    # The same archives analysed by fresh interpreters (other hash seeds) render the same bytes.
    args = json.dumps([[diff_id(t) for t in BASE], str(tmp_path / "a.tar"), str(tmp_path / "b.tar")])
    here = {fmt: report.render(two_images, fmt, registry=True) for fmt in report.FORMATS}
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", RENDER_IN_ANOTHER_PROCESS, args], capture_output=True,
                              text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})  # fmt: skip
        assert json.loads(done.stdout) == here
    doc = json.loads(report.render(two_images, "json", registry=True))
    assert doc["kind"] == "report" and [i["name"] for i in doc["images"]] == ["fn", "other"]
    assert doc["registry"]["unique_bytes"] == registry_view.registry_view(two_images).unique_bytes
    assert json.loads(report.render(two_images[:1], "json"))["registry"] is None
    markdown = report.render(two_images, "markdown", registry=True)
    assert len(re.findall("^### ", markdown, re.M)) == 3 and "Shared by" in markdown
    with pytest.raises(ValueError, match="text, markdown, json"):
        report.render(two_images, "html")


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


# ---- whether each image is the one its template pins ---------------------------------------------

PINNED = "127.0.0.1:5000/shop@sha256:" + "1" * 64


@pytest.mark.parametrize(("pinned", "digests", "held", "status"), [
    ("", (), None, pins.NOT_PINNED),
    (PINNED, (PINNED,), None, pins.UNCHANGED),  # pushed or pulled here: the engine says so
    (PINNED, (), "sha256:" + "a" * 64, pins.UNCHANGED),  # the pinned manifest names this config
    (PINNED, ("127.0.0.1:5000/shop@sha256:" + "2" * 64,), "sha256:" + "b" * 64, pins.CHANGED),
    (PINNED, (), None, pins.UNKNOWN),  # the registry did not answer
])  # fmt: skip
def test_a_pin_is_unchanged_only_when_the_engine_or_the_registry_says_it_is_this_image(pinned, digests, held, status):
    assert pins.verdict(pinned, "sha256:" + "a" * 64, digests, held) == status


def test_the_pins_say_what_a_deploy_updates_in_every_format(two_images):
    found = [pins.Pin("fn", PINNED, "sha256:" + "a" * 64, pins.CHANGED),
             pins.Pin("other", "", "sha256:" + "b" * 64, pins.NOT_PINNED),
             pins.Pin("third", PINNED, "sha256:" + "c" * 64, pins.UNKNOWN, "127.0.0.1:5000/shop did not answer")]  # fmt: skip
    doc = json.loads(report.render(two_images, "json", registry=True, pins=found))["pins"]
    assert doc["changed"] == ["fn"]
    assert [(f["function"], f["status"], f["pinned"], f["why"]) for f in doc["functions"]] == [
        ("fn", "changed", PINNED, None), ("other", "not pinned", None, None),
        ("third", "unknown", PINNED, "127.0.0.1:5000/shop did not answer")]  # fmt: skip
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    assert set(doc) | set(doc["functions"][0]) <= documented
    text = report.render(two_images, "text", registry=True, pins=found)
    assert "a deploy after `migrate --pin` updates: fn" in text and "third  unknown (127.0.0.1:5000/shop" in text
    markdown = report.render(two_images, "markdown", registry=True, pins=found)
    assert "### Since the pinned template" in markdown and f"| fn | changed | `{PINNED}` |" in markdown
    assert json.loads(report.render(two_images, "json", registry=True))["pins"] is None
