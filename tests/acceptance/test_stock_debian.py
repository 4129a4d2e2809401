"""scripts/setup-python on a stock Debian 12 python3 (no pip, no venv, marked externally managed by
PEP 668), in a chroot of the Debian root the base image is made from, with the host's network.

The rest of scripts/setup (the Docker engine, debootstrap, skopeo) is Debian's own packages and
runs as root on the machine itself; this checks the part a distribution's Python changes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder import __version__
from tests.helpers import REPO

pytestmark = pytest.mark.docker

DEBIAN = "builder-debian:bookworm"  # what `base --bootstrap` made with debootstrap
SKIPPED = shutil.ignore_patterns(".git", ".builder", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache",
                                 ".pytest_cache", ".aws-sam")  # fmt: skip


def _debian_root(engine, dest: Path) -> Path:
    container = engine.client().containers.create(DEBIAN, "true")
    try:
        stream = io.BytesIO(b"".join(container.export()))
    finally:
        container.remove()
    with tarfile.open(fileobj=stream) as tar:
        tar.extractall(dest, filter="fully_trusted")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8), ("urandom", 1, 9)):
        node = dest / "dev" / name
        node.unlink(missing_ok=True)
        os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))  # character devices, not the host's /dev
        node.chmod(0o666)  # whatever the umask: apt writes /dev/null as its own user
    shutil.copy("/etc/resolv.conf", dest / "etc" / "resolv.conf")
    (dest / "etc" / "ssl" / "certs").mkdir(parents=True, exist_ok=True)  # stock: no ca-certificates yet
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", dest / "etc" / "ssl" / "certs" / "host-ca.crt")  # the host's trust
    return dest


def test_setup_python_installs_builder_into_a_stock_debian_python3(base_image, docker_engine, tmp_path):
    root = _debian_root(docker_engine, tmp_path / "debian")
    assert (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").is_file()  # stock: PEP 668 applies
    shutil.copytree(REPO, root / "repo", ignore=SKIPPED, symlinks=True)
    (root / "proc").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        script = ("cd /repo && python3 -m pip --version; scripts/setup-python && cd / && python3 -m builder --version"
                  " && python3 -m builder --project /repo/examples/sam-app functions --json"
                  " && /opt/builder-sam/bin/sam --version")  # fmt: skip
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
               "PIP_CERT=/etc/ssl/certs/host-ca.crt"]  # fmt: skip
        done = subprocess.run(["chroot", str(root), "/usr/bin/env", "-i", *env, "/bin/bash", "-c", script],
                              capture_output=True, text=True, timeout=1200)  # fmt: skip
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "No module named pip" in done.stdout + done.stderr  # stock: no pip until setup installs it
    assert f"builder {__version__}" in done.stdout and '"name": "format-date"' in done.stdout
    assert "SAM CLI, version" in done.stdout
