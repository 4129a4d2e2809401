"""`check` as a user runs it, on real images of a copy of the example backend."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from builder.measure import check
from builder.project import config
from tests.helpers import TEST_TAG, assert_markdown_table, copy_example, run_cli

# ---- the command on real images -----------------------------------------------------------------

TAG = f"{TEST_TAG}-check"  # per session, like TEST_TAG


def lock_pin(root: Path, name: str) -> str:
    return re.search(rf"^{name}==(\S+)$", (root / "requirements/functions.txt").read_text(), re.MULTILINE).group(1)


def text_rows(stdout: str) -> dict[str, list[str]]:
    """The text table: function -> [baseline, now, delta, percent]."""
    names = {"analytics-report", "batch-export", "health", "media-thumbnail", "ml-score", "notify-webhook", "orders-api", "user-auth", check.TOTAL}  # fmt: skip
    rows = {}
    for line in stdout.splitlines():
        name = next((n for n in names if line.startswith(n + " ")), None)
        if name and name not in rows:
            rows[name] = re.split(r"\s{2,}", line[len(name) :].strip())
    return rows


@pytest.fixture(scope="module")
def example_with_baseline(tmp_path_factory, base_image, docker_engine):
    """A copy of the example, every function built (tag TAG), its baseline recorded."""
    root = copy_example(tmp_path_factory.mktemp("check") / "backend")
    built = run_cli("--project", str(root), "build", "--all", "--tag", TAG)
    assert built.returncode == 0, built.stdout + built.stderr
    update = run_cli("--project", str(root), "check", "--update", "--tag", TAG)
    assert update.returncode == 0, update.stdout + update.stderr
    fresh = run_cli("--project", str(root), "check", "--tag", TAG)  # before any test changes an image
    yield root, update, fresh
    for function in config.load(root).functions:
        docker_engine.remove_image(config.load(root).image(function.name, TAG))


@pytest.fixture
def example(example_with_baseline, tmp_path) -> Path:
    """A private copy of the baselined example (its wheelhouse included, to skip a download)."""
    return Path(shutil.copytree(example_with_baseline[0], tmp_path / "backend"))


@pytest.mark.docker
def test_a_fresh_baseline_passes(example_with_baseline):
    root, update, fresh = example_with_baseline
    assert "wrote sizes.json (8 functions measured)" in update.stderr
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    rows = text_rows(fresh.stdout)
    assert len(rows) == 9 and all(cells[2:] == ["+0 B", "+0.0%"] for cells in rows.values()), fresh.stdout
    assert "Result: within budget." in fresh.stdout
    document = json.loads((root / "sizes.json").read_text())
    assert document["functions"]["ml-score"]["distributions"]["numpy"]["version"] == lock_pin(root, "numpy")


@pytest.mark.docker
def test_a_new_import_fails_and_names_the_function_the_distribution_and_the_line(example, tmp_path):
    score = example / "functions/ml/score.py"
    lines = score.read_text().splitlines(keepends=True)
    at = lines.index("import numpy as np\n") + 1
    score.write_text("".join(lines[:at] + ["import requests\n"] + lines[at:]))
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    markdown = tmp_path / "check.md"
    args = ("--project", str(example), "check", "--build", "--tag", TAG, "--markdown", str(markdown))
    result = run_cli(*args, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 9, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "error: Over the size budget: ml-score grew +" in result.stderr
    grown = {name for name, cells in text_rows(result.stdout).items() if cells[2] != "+0 B"}
    assert grown == {"ml-score", check.TOTAL}, result.stdout
    line = at + 1
    new = re.search(r"^  new: requests (\S+) \(\+([\d.]+) kB\) pulled in by (\S+)$", result.stdout, re.MULTILINE)
    assert new, result.stdout
    assert new.group(1) == lock_pin(example, "requests") and float(new.group(2)) > 100
    assert new.group(3) == f"functions/ml/score.py:{line}"
    assert f"pulled in by functions/ml/score.py:{line} via requests" in result.stdout  # urllib3 & co.
    # (6) the markdown is a table, to the file and appended to GitHub's job summary.
    rows = assert_markdown_table(markdown.read_text(), sorted(text_rows(result.stdout).keys() - {check.TOTAL}))
    assert [r[0] for r in rows[2:] if r[3] != "+0 B"] == ["ml-score", f"**{check.TOTAL}**"]
    assert summary.read_text() == "earlier step\n" + markdown.read_text() + "\n"


@pytest.mark.docker
def test_removing_a_dependency_passes_and_reports_the_saving(example):
    api = example / "functions/orders/api.py"
    api.write_text(api.read_text().replace("import boto3\n", ""))
    result = run_cli("--project", str(example), "check", "--build", "--function", "orders-api", "--tag", TAG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^  removed: boto3 \S+ \(-[\d.]+ [kM]B\)$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^  removed: botocore \S+ \(-[\d.]+ MB\)$", result.stdout, re.MULTILINE), result.stdout
    delta = text_rows(result.stdout)["orders-api"][2]
    assert delta.startswith("-") and delta.endswith(" MB")
    assert f"Result: within budget, {delta[1:]} smaller than the baseline." in result.stdout


@pytest.mark.docker
def test_a_version_bump_shows_the_old_and_new_versions(example):
    lock = example / "requirements/functions.txt"
    old = lock_pin(example, "six")
    lock.write_text(lock.read_text().replace(f"six=={old}\n", "six==1.16.0\n"))
    args = ("--project", str(example), "check", "--build", "--function", "batch-export", "--tag", TAG, "--json")
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = json.loads(result.stdout)["functions"]
    (change,) = [c for c in row["changes"] if c["name"] == "six"]
    assert (change["kind"], change["old_version"], change["new_version"]) == ("version", old, "1.16.0")
    assert re.fullmatch(rf"[+-]\S+ k?B six {re.escape(old)} -> 1\.16\.0", change["text"])


@pytest.mark.docker
def test_a_missing_or_corrupt_baseline_is_an_error_that_update_repairs(example):
    baseline = example / "sizes.json"
    baseline.unlink()
    missing = run_cli("--project", str(example), "check", "--tag", TAG)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "error: No size baseline at sizes.json. Record one" in missing.stderr and "check --update" in missing.stderr
    baseline.write_text('{"kind": "builder-size-baseline", "schema_version": 1, "functions": {"health": ')
    corrupt = run_cli("--project", str(example), "check", "--tag", TAG)
    assert corrupt.returncode == 2 and "Traceback" not in corrupt.stderr
    assert "error: The size baseline sizes.json is corrupt:" in corrupt.stderr and "check --update" in corrupt.stderr
    # A failed run (here: no such image) leaves the file as it was, even with --update.
    before = baseline.read_bytes()
    failed = run_cli("--project", str(example), "check", "--update", "--tag", "no-such-tag")
    assert failed.returncode == 2 and "build it first" in failed.stderr and "or pass --build" in failed.stderr
    assert baseline.read_bytes() == before
    repaired = run_cli("--project", str(example), "check", "--update", "--tag", TAG)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "sizes.json is corrupt" in repaired.stderr and "--update writes a new one" in repaired.stderr
    assert sorted(json.loads(baseline.read_text())["functions"]) == sorted(text_rows(repaired.stdout).keys() - {check.TOTAL})
    assert not list(example.glob(".sizes.json.*"))  # no temp file left beside it
    again = run_cli("--project", str(example), "check", "--function", "health", "--tag", TAG)
    assert again.returncode == 0, again.stdout + again.stderr
