"""Unit tests: no network, no Docker, nothing written outside tmp.

Each test runs with the engine pointed nowhere (``DOCKER_HOST``) and pip told not to use an index,
for the CLI subprocesses some tests start, and a socket guard in this process; a test that writes
into the checkout (a ``.builder/`` folder, a cache) fails. What needs PyPI, an engine, a registry or
containers is an acceptance test (``tests/acceptance/``).
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from builder.measure import sizes
from builder.project import config
from tests.helpers import REPO
from tests.unit.archives import BASE, DIR, FUNCTION, LABELS, NUMPY, diff_id, image, layer, save_legacy
from tests.unit.sam_projects import LAYERED, LAYERED_FILES, project

LOOPBACK = ("127.0.0.1", "::1", "localhost")

# hypothesis keeps its examples and a cache of constants in ./.hypothesis; outside the checkout here,
# and gone when the run ends
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="builder-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)


def _checkout_state() -> str:
    """Every file git does not track (ignored ones too): a unit test must add none."""
    done = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout if done.returncode == 0 else ""  # not a git checkout: nothing to compare


@pytest.fixture(scope="session")
def checkout_before() -> str:
    return _checkout_state()


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, checkout_before):
    """No engine, no index, no connection beyond loopback; and the checkout as it was."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/unit-tests-use-no-docker.sock")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    connect = socket.socket.connect

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            raise AssertionError(f"unit tests use no network: a connection to {address} was attempted")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    yield
    assert _checkout_state() == checkout_before, "a unit test wrote into the checkout (see git status --ignored)"


@pytest.fixture
def layered(tmp_path) -> config.Config:
    """A SAM project with layers (built with BuildMethod and as folders) and modules beside handlers."""
    return config.load(project(tmp_path / "app", LAYERED, LAYERED_FILES))


@pytest.fixture
def demo(tmp_path) -> sizes.ImageSizes:
    archive = save_legacy(tmp_path / "image.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS))
    return sizes.analyse_image(archive, base_layers=[diff_id(t) for t in BASE])


@pytest.fixture
def two_images(tmp_path) -> list[sizes.ImageSizes]:
    base = [diff_id(t) for t in BASE]
    other = layer({"var/task": DIR, "var/task/other.py": b"o" * 300})
    labels = {**LABELS, "builder.function": "other"}
    return [
        sizes.analyse_image(save_legacy(tmp_path / "a.tar", image([*BASE, NUMPY, FUNCTION], labels=LABELS)), base_layers=base),
        sizes.analyse_image(save_legacy(tmp_path / "b.tar", image([*BASE, NUMPY, other], labels=labels)), base_layers=base),
    ]
