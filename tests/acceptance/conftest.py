"""Acceptance fixtures: a real engine (these tests FAIL, never skip, without one), the base image
and the two bundled examples built once per session and shared by every test that needs them."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.helpers import (
    BASE_IMAGE,
    SAM_APP_FUNCTIONS,
    TEST_TAG,
    copy_example,
    copy_sam_app,
    free_port,
    run_cli,
    stop_process,
    tool,
)


@pytest.fixture(scope="session")
def docker_engine():
    """The engine must answer: these tests fail, never skip, without one."""
    from builder.engine.docker_engine import DockerEngine

    engine = DockerEngine()
    try:
        engine.check()
    except Exception as exc:
        pytest.fail(f"Docker engine required for this test and not usable: {exc}", pytrace=False)
    return engine


@pytest.fixture(scope="session")
def base_image(docker_engine):
    """The locally made Lambda base image (debootstrap + Dockerfile.base), made once per session.

    Always built (the Debian image is reused and the build is cached), so the tests run the
    current entrypoint and emulator, never a stale base.
    """
    result = run_cli("base", "--bootstrap")
    assert result.returncode == 0, result.stderr
    return BASE_IMAGE


@pytest.fixture(scope="session")
def built_example(tmp_path_factory, base_image, docker_engine):
    """All eight example functions built from a copy of the example, tagged ``pytest``."""
    root = copy_example(tmp_path_factory.mktemp("example") / "backend")
    result = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    assert result.returncode == 0, result.stdout + result.stderr
    yield root, result
    from builder.project import config
    for fn in config.load(root).functions:
        docker_engine.remove_image(config.load(root).image(fn.name, TEST_TAG))


@pytest.fixture(scope="session")
def sam_app(tmp_path_factory, base_image, docker_engine):
    """A copy of examples/sam-app with all its Python functions built with no configuration (tag per session)."""
    root = copy_sam_app(tmp_path_factory.mktemp("sam") / "sam-app")
    result = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    assert result.returncode == 0, result.stdout + result.stderr
    yield root, result
    for name in SAM_APP_FUNCTIONS:
        docker_engine.remove_image(f"sam-app-{name}:{TEST_TAG}")


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory):
    """Debian's docker-registry (distribution 2.8) on a free 127.0.0.1 port, which the engine treats as
    insecure (plain HTTP); its storage in a temp folder; stopped at the end of the module."""
    binary = tool("/usr/bin/docker-registry")
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    (folder / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    log = (folder / "registry.log").open("wb")
    server = subprocess.Popen([binary, "serve", str(folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start: {(folder / 'registry.log').read_text()}", pytrace=False)
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(server)
        log.close()


@pytest.fixture(scope="session", autouse=True)
def no_tmp_file_systems_left():
    """Tests remove containers directly (by name, through the SDK); their /tmp file systems go at the
    end, as the next `invoke` or `run` would sweep them. (No engine asked when there are none.)"""
    yield
    from builder.engine.docker_engine import DockerEngine
    from builder.local import scratch

    if scratch.root().is_dir() and any(scratch.root().iterdir()):
        scratch.sweep(DockerEngine().container_exists)
