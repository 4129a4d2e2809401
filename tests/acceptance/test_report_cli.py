"""`report`: where the bytes of the real example images go, as a user runs it."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.helpers import BASE_IMAGE, TEST_TAG, run_cli

FUNCTIONS = ["analytics-report", "batch-export", "health", "media-thumbnail", "ml-score", "notify-webhook", "orders-api", "user-auth"]  # fmt: skip


@pytest.fixture(scope="module")
def report_all(built_example):
    """`report --all --json` of the eight example images."""
    root, _ = built_example
    result = run_cli("--project", str(root), "report", "--all", "--tag", TEST_TAG, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, json.loads(result.stdout)


@pytest.mark.docker
def test_each_image_has_its_layers_their_makers_and_distributions(report_all, docker_engine):
    root, document = report_all
    images = {image["function"]: image for image in document["images"]}
    assert list(images) == FUNCTIONS
    base_size = docker_engine.image_info(BASE_IMAGE).size
    lock = (root / "requirements/functions.txt").read_text()
    for name, image in images.items():
        ref = f"example-{name}:{TEST_TAG}"
        info = docker_engine.image_info(ref)
        above = image["layers"][image["base_layer_count"] :]
        # The engine's own figure, read here from the layers of the `docker save` archive.
        assert image["above_base_bytes"] == info.size - base_size == sum(layer["size_bytes"] for layer in above)
        assert [layer["role"] for layer in above] == info.labels["builder.layers"].split()
        assert all(layer["created_by"].startswith("COPY ") for layer in above)
        for layer in above:
            for dist in layer["distributions"]:
                pin = re.search(rf"^{dist['name'].replace('_', '[-_]')}==(\S+)$", lock, re.MULTILINE | re.IGNORECASE)
                assert pin and pin.group(1) == dist["version"], (name, dist)
        assert 0 < image["efficiency"] <= 1 and image["wasted_bytes"] >= 0
    pandas = [d for layer in images["analytics-report"]["layers"] for d in layer["distributions"] if d["name"] == "pandas"]
    assert len(pandas) == 1 and pandas[0]["size_bytes"] > 10_000_000
    # Stripping, by rule, from the plan: pandas' test suite is the largest part.
    stripped = images["analytics-report"]["stripped"]
    assert stripped["rules"]["tests/"] > 10_000_000 and stripped["total_bytes"] == sum(stripped["rules"].values())
    assert images["health"]["stripped"] == {"rules": {}, "total_bytes": 0}


@pytest.mark.docker
def test_all_gives_the_registry_view(report_all, docker_engine):
    _, document = report_all
    registry = document["registry"]
    assert [image["name"] for image in registry["images"]] == FUNCTIONS
    assert registry["images_bytes"] == sum(image["total_bytes"] for image in document["images"])
    assert registry["unique_bytes"] == sum(layer["size_bytes"] for layer in registry["layers"]) < registry["images_bytes"]
    base = [layer for layer in registry["layers"] if layer["role"] == "base"]
    assert base and all(layer["shared_by"] == 8 for layer in base)
    # Who shares which layer, as the engine lists each image's layers.
    carriers = Counter(diff_id for name in FUNCTIONS for diff_id in set(docker_engine.image_info(f"example-{name}:{TEST_TAG}").layers))
    assert {layer["diff_id"]: layer["shared_by"] for layer in registry["layers"]} == carriers


@pytest.mark.docker
def test_the_human_report_shows_every_image_and_the_registry_view(built_example):
    root, _ = built_example
    result = run_cli("--project", str(root), "report", "--all", "--tag", TEST_TAG)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in FUNCTIONS:
        assert f"Image example-{name}:{TEST_TAG} (function {name})" in result.stdout
    assert re.search(r"^  removed by stripping [\d.]+ MB$", result.stdout, re.MULTILINE)
    assert re.search(r"^\s+\d+\s+deps/numpy\s+[\d.]+ MB\s+\d+\s+[\d.]+ MB\s+COPY /out/ /", result.stdout, re.MULTILINE)
    assert "Registry view of 8 images" in result.stdout
    assert re.search(r"^  unique layers\s+[\d.]+ MB .*what a registry stores and a first push sends$", result.stdout, re.MULTILINE)


@pytest.mark.docker
def test_markdown_goes_to_a_file_as_tables(built_example, tmp_path):
    root, _ = built_example
    out = tmp_path / "report.md"
    result = run_cli("--project", str(root), "report", "--function", "ml-score", "--tag", TEST_TAG, "--markdown", "--output", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "" and f"wrote {out}" in result.stderr
    text = out.read_text()
    assert text.startswith(f"### example-ml-score:{TEST_TAG} (function ml-score)\n")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| # | Role | Size (MB) | Files | Wasted (MB) | Created by |"
    assert any(re.match(r"\| \d+ \| deps/numpy \| [\d.]+ \| \d+ \| [\d.]+ \| `COPY /out/ /", row) for row in rows)
    assert "Registry view" not in text  # only with --all


@pytest.mark.docker
def test_a_missing_image_says_how_to_build_it(built_example):
    root, _ = built_example
    result = run_cli("--project", str(root), "report", "--function", "health", "--tag", "no-such-tag")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: No image example-health:no-such-tag: build it first with `python -m builder --project {root} build --function health --tag no-such-tag`." in result.stderr  # fmt: skip
