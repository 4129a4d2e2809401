"""A missing engine or client, a lock that does not resolve and a failed build give one clear paragraph
and leave nothing half-made, on a real engine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from builder.project import config
from tests.helpers import (
    BASE_IMAGE,
    TEST_TAG,
    assert_clean_error,
    copy_example,
    copy_with_wheels,
    free_port,
    interruptible,
    run_cli,
)


@pytest.mark.docker
def test_no_engine(tmp_path):
    root = copy_example(tmp_path / "backend")
    result = run_cli("--project", str(root), "build", "--all", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert_clean_error(result, 3, "No Docker engine answers", "Start it")


@pytest.mark.docker
def test_base_from_an_image_takes_any_lambda_python_no_debian_release_needed(docker_engine):
    # Debian has no python3 3.12, so --bootstrap cannot make that base; --from an image that has it can,
    # and here the only thing wrong is the image, which is not there.
    missing = f"builder-test-missing:{TEST_TAG}"
    result = run_cli("base", "--from", missing, "--python-version", "3.12", "--tag", f"builder-test-base312:{TEST_TAG}")
    assert_clean_error(result, 2, f"Image {missing} is not available locally", "Pull it")
    assert "Debian release" not in result.stderr


def _fake_docker(folder: Path, version: str) -> None:
    """A docker CLI 28 without the buildx plugin: `buildx` fails, `version` answers."""
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = buildx ]; then echo "docker: \'buildx\' is not a docker command." >&2; exit 1; fi\n'
        f'if [ "$1" = version ]; then echo {version}; exit 0; fi\n'
        "exit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.docker
def test_no_buildkit_capable_client(tmp_path, docker_engine):
    root = copy_example(tmp_path / "backend")
    _fake_docker(tmp_path / "bin", "28.2.2")
    result = run_cli("--project", str(root), "build", "--all", env={"PATH": str(tmp_path / "bin")})
    assert_clean_error(result, 3, "No docker client that can build with BuildKit", "buildx")


@pytest.mark.docker
def test_lock_that_does_not_resolve_leaves_no_wheelhouse_and_no_tag(tmp_path, base_image, docker_engine):
    root = copy_example(tmp_path / "backend")
    lock = root / "requirements" / "functions.txt"
    # numpy 2.2.99 was never released: no wheel, and no sdist to build one from.
    lock.write_text(lock.read_text().replace("numpy==2.2.6", "numpy==2.2.99"))
    result = run_cli("--project", str(root), "build", "--function", "ml-score", "--tag", f"{TEST_TAG}-bad")
    assert_clean_error(result, 5, "no wheel for numpy==2.2.99, and no source distribution", "manylinux")
    assert not (root / ".builder" / "wheelhouse").exists()
    assert not list((root / ".builder").glob("wheelhouse.tmp-*"))
    assert not docker_engine.image_exists(f"example-ml-score:{TEST_TAG}-bad")


@pytest.mark.docker
def test_failed_build_leaves_no_half_built_tag(tmp_path, base_image, docker_engine):
    root = copy_example(tmp_path / "backend")
    # A base image with no shell and no Python: the dependency stage cannot run.
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "README").write_text("not a Python image\n")
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(tmp_path / "rootfs", arcname=".")
    docker_engine.import_rootfs(tmp_path / "rootfs.tar", f"builder-test-nopython:{TEST_TAG}")
    toml = root / "builder.toml"
    toml.write_text(toml.read_text().replace(f'base-image = "{BASE_IMAGE}"', f'base-image = "builder-test-nopython:{TEST_TAG}"'))
    try:
        result = run_cli("--project", str(root), "build", "--function", "ml-score", "--tag", f"{TEST_TAG}-bad")
        assert_clean_error(result, 4, f"docker build of example-ml-score:{TEST_TAG}-bad failed")
        assert not docker_engine.image_exists(f"example-ml-score:{TEST_TAG}-bad")
    finally:
        docker_engine.remove_image(f"builder-test-nopython:{TEST_TAG}")


@pytest.mark.docker
def test_invoke_never_removes_a_running_container_of_the_same_function(built_example, docker_engine):
    root, _ = built_example
    port = str(free_port())
    base = ("--project", str(root), "invoke", "--function", "health", "--tag", TEST_TAG, "--port", port)
    warm = run_cli(*base, "--keep-warm")
    assert warm.returncode == 0, warm.stderr
    name = f"builder-health-{port}"
    try:
        clash = run_cli(*base)
        assert_clean_error(clash, 3, f"A container named {name} is already running", "--keep-warm")
        assert docker_engine.find_running(name) is not None  # the warm container is untouched
        again = run_cli(*base, "--keep-warm")
        assert again.returncode == 0, again.stderr
    finally:
        docker_engine.client().containers.get(name).remove(force=True)


@pytest.mark.docker
def test_a_wheel_changed_after_its_download_fails_the_next_build_and_a_deleted_one_is_fetched_again(
    built_example, docker_engine, tmp_path
):
    root, _ = built_example
    work = copy_with_wheels(root, tmp_path / "backend")
    house = work / ".builder" / "wheelhouse"
    orders = ("--project", str(work), "build", "--function", "orders-api", "--tag", f"{TEST_TAG}-wheels")
    try:
        assert run_cli(*orders).returncode == 0
        wheel = next(house.glob("pydantic_core-*.whl"))
        with zipfile.ZipFile(wheel, "a") as zf:
            zf.writestr("pydantic_core/evil.py", "print('owned')\n")
        result = run_cli(*orders)
        message = assert_clean_error(result, 5, wheel.name, "it is not the file that was downloaded", "rm ")
        assert "Traceback" not in message
        wheel.unlink()  # what the message says to do
        again = run_cli(*orders)
        assert again.returncode == 0, again.stdout + again.stderr
        assert wheel.is_file()
    finally:
        docker_engine.remove_image(config.load(work).image("orders-api", f"{TEST_TAG}-wheels"))


def _status(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(json.loads(result.stdout)["body"])["status"]


@pytest.mark.docker
def test_keep_warm_never_answers_from_another_image_or_another_project(built_example, docker_engine, tmp_path):
    """A rebuilt image replaces its warm container; another project's warm container on the same
    function name and port is refused and left alone."""
    root, _ = built_example
    tag, port = f"{TEST_TAG}-warm", str(free_port())
    work = copy_with_wheels(root, tmp_path / "backend")
    other = copy_with_wheels(root, tmp_path / "other")
    toml = other / "builder.toml"
    toml.write_text(toml.read_text().replace('name = "example"', 'name = "other-project"'))
    name = f"builder-health-{port}"
    warm = ("invoke", "--function", "health", "--tag", tag, "--port", port, "--keep-warm")
    try:
        assert run_cli("--project", str(work), "build", "--function", "health", "--tag", tag).returncode == 0
        assert _status(run_cli("--project", str(work), *warm)) == "ok"
        handler = work / "functions" / "health" / "ping.py"
        handler.write_text(handler.read_text().replace('"status": "ok"', '"status": "edited"'))
        assert run_cli("--project", str(work), "build", "--function", "health", "--tag", tag).returncode == 0
        assert _status(run_cli("--project", str(work), *warm)) == "edited"  # not the old container's answer
        assert run_cli("--project", str(other), "build", "--function", "health", "--tag", tag).returncode == 0
        refused = run_cli("--project", str(other), *warm)
        assert_clean_error(refused, 2, f"{name} is a warm container of another project (example)", "--port")
        assert _status(run_cli("--project", str(work), *warm)) == "edited"  # untouched
    finally:
        with contextlib.suppress(Exception):
            docker_engine.client().containers.get(name).remove(force=True)
        for project in (work, other):
            docker_engine.remove_image(config.load(project).image("health", tag))


@pytest.mark.docker
def test_a_port_in_use_is_refused_before_any_container_is_made(built_example, docker_engine):
    root, _ = built_example
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        before = {c.id for c in docker_engine.client().containers.list(all=True)}
        for command in ("invoke", "run"):
            result = run_cli("--project", str(root), command, "--function", "health", "--tag", TEST_TAG, "--port", str(port))
            assert_clean_error(result, 2, f"Port {port} is in use", "pick another with --port")
        assert {c.id for c in docker_engine.client().containers.list(all=True)} == before  # nothing left behind


def _slow_docker(folder: Path) -> Path:
    """A docker CLI 20.10 whose `build` takes 30 s, says when it starts and when it is interrupted,
    and "tags" (writes a file) only when it ran to its end."""
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then echo 20.10.24; exit 0; fi\n'
        'if [ "$1" = buildx ]; then exit 1; fi\n'
        'trap \'touch "$MARK.interrupted"; exit 130\' INT TERM\n'
        'touch "$MARK.started"\n'
        "i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n"
        'touch "$MARK.tagged"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_builder_alone_stops_the_build_it_started_and_nothing_is_tagged_after(
    signum, built_example, docker_engine, tmp_path
):
    root, _ = built_example
    work = copy_with_wheels(root, tmp_path / "backend")
    _slow_docker(tmp_path / "bin")
    mark = tmp_path / "mark"
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "MARK": str(mark),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    builder = subprocess.Popen([sys.executable, "-m", "builder", "--project", str(work), "build", "--function", "health",
                                "--tag", f"{TEST_TAG}-signal"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=interruptible)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{mark}.started").exists():
            assert builder.poll() is None and time.monotonic() < deadline, builder.communicate()
            time.sleep(0.1)
        os.kill(builder.pid, signum)  # the builder process only, not its process group
        _, stderr = builder.communicate(timeout=30)
    finally:
        if builder.poll() is None:
            builder.kill()
    assert builder.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert Path(f"{mark}.interrupted").exists()  # the docker build was stopped
    time.sleep(1)
    assert not Path(f"{mark}.tagged").exists()  # and did not go on to tag anything
