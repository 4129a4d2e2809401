"""Reproducible image digests, on a real engine: the same inputs give the same image IDs, built again
from nothing in another folder; one changed handler changes exactly one image; SOURCE_DATE_EPOCH is
the time images record.

Building from nothing empties the engine's whole build cache (``docker builder prune``) and removes
every image of the example project (the session's are built again afterwards): the engine's other
projects rebuild from scratch next time.
"""

from __future__ import annotations

import subprocess

import pytest

from builder.project import config
from tests.helpers import TEST_TAG, copy_with_wheels, image_ids, run_cli

pytestmark = pytest.mark.docker


def remove_images(engine, root, tag) -> None:
    cfg = config.load(root)
    for fn in cfg.functions:
        engine.remove_image(cfg.image(fn.name, tag))


def test_one_changed_handler_changes_exactly_one_image_id(built_example, docker_engine, tmp_path):
    root, _ = built_example
    first = image_ids(docker_engine, root, TEST_TAG)
    work = copy_with_wheels(root, tmp_path / "backend")
    handler = work / "functions" / "health" / "ping.py"
    handler.write_text(handler.read_text() + "\n# edited\n")
    tag = f"{TEST_TAG}-edit"
    result = run_cli("--project", str(work), "build", "--all", "--tag", tag)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        now = image_ids(docker_engine, work, tag)
        assert [name for name in sorted(now) if now[name] != first[name]] == ["health"]
    finally:
        remove_images(docker_engine, work, tag)


def test_source_date_epoch_is_the_time_every_image_records(built_example, docker_engine, tmp_path):
    root, _ = built_example
    work = copy_with_wheels(root, tmp_path / "backend")
    tag = f"{TEST_TAG}-epoch"
    result = run_cli("--project", str(work), "build", "--function", "health", "--tag", tag,
                     env={"SOURCE_DATE_EPOCH": "1700000000"})  # fmt: skip
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        api = docker_engine.client().api
        ref = config.load(work).image("health", tag)
        assert api.inspect_image(ref)["Created"] == "2023-11-14T22:13:20Z"
        assert {entry["Created"] for entry in api.history(ref)} == {1700000000}
        assert api.inspect_image(ref)["Id"] != image_ids(docker_engine, root, TEST_TAG)["health"]
    finally:
        docker_engine.remove_image(config.load(work).image("health", tag))
    bad = run_cli("--project", str(work), "build", "--function", "health", "--tag", tag, env={"SOURCE_DATE_EPOCH": "soon"})
    assert bad.returncode == 2 and "SOURCE_DATE_EPOCH='soon' is not a number" in bad.stderr
    assert "Traceback" not in bad.stderr and not docker_engine.image_exists(config.load(work).image("health", tag))


def clear_engine(engine, project: str) -> None:
    """Nothing left of ``project`` in the engine: its images (every tag) and the whole build cache.

    With the cache gone but images kept, moby's overlay2 differ may write a rebuilt layer's files in
    another order (its naive differ sorts by path, the native one walks folders), which is a new
    layer digest: "from nothing" has to mean no image either.
    """
    for image in engine.client().images.list(filters={"label": f"builder.project={project}"}):
        engine.client().images.remove(image.id, force=True)
    pruned = subprocess.run([engine.buildkit_client(), "builder", "prune", "--all", "--force"],
                            capture_output=True, text=True)  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr


def build_from_nothing(engine, source, dest, tag) -> dict[str, str]:
    """Clear the engine, build every function of a copy of ``source``; return the image IDs."""
    project = config.load(source).name
    clear_engine(engine, project)
    root = copy_with_wheels(source, dest)
    # Four at a time (the default): builds sharing their lowest layers wait for each other (docs/reproducible.md).
    result = run_cli("--project", str(root), "build", "--all", "--tag", tag, "--jobs", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    created = engine.client().api.inspect_image(config.load(root).image("health", tag))["Created"]
    assert created == "1970-01-01T00:00:00Z"  # no SOURCE_DATE_EPOCH: the epoch itself
    return image_ids(engine, root, tag)


def test_building_twice_from_nothing_gives_the_same_image_ids(built_example, docker_engine, tmp_path):
    """Last in this file: it removes the session's example images, and builds them again at the end."""
    root, _ = built_example
    first = build_from_nothing(docker_engine, root, tmp_path / "one" / "backend", f"{TEST_TAG}-one")
    second = build_from_nothing(docker_engine, root, tmp_path / "two" / "backend", f"{TEST_TAG}-two")
    assert len(first) == 8 and second == first
    again = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)  # the session's images, back
    assert again.returncode == 0, again.stdout + again.stderr
    assert image_ids(docker_engine, root, TEST_TAG) == first  # from the cache: the same images
    remove_images(docker_engine, tmp_path / "two" / "backend", f"{TEST_TAG}-two")
