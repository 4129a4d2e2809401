"""Shared fixtures. Tests marked ``docker`` use a real engine and FAIL when there is none."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "backend"
SAM_APP = REPO / "examples" / "sam-app"
SAM_APP_FUNCTIONS = ("format-date", "get-order", "hello-world", "legacy-export", "parse-config", "search-orders",
                     "token-authorizer")  # fmt: skip
BASE_IMAGE = "builder-lambda-python:3.11"
TEST_TAG = f"pytest-{os.getpid()}"  # per session: parallel sessions never remove each other's images


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m builder`` as a user would; capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


def run_python(engine, image: str, code: str, *args: str) -> dict:
    """Run ``code`` as on Lambda (read-only root, writable /tmp, non-root, no network); its last line is JSON."""
    status, output = engine.run_once(
        image,
        ["-c", code, *args],
        entrypoint=["python3"],
        read_only=True,
        tmpfs={"/tmp": "rw,size=64m"},
        user="993:993",
        network_disabled=True,
    )
    assert status == 0, output
    return json.loads(output.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_example(dest: Path) -> Path:
    """A private copy of the bundled example backend (without any wheelhouse)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    return dest


def copy_sam_app(dest: Path) -> Path:
    """A private copy of the second bundled example, SAM's usual layout (without any wheelhouse)."""
    shutil.copytree(SAM_APP, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__", ".aws-sam"))
    return dest


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
