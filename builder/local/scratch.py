"""A function's /tmp as Lambda has it: separate storage of its own size, not the function's memory.

A tmpfs is memory: its pages are charged to the container's memory cgroup, so 300 MB written
to /tmp kill a 128 MB function, which Lambda does not (there /tmp is a disk of
``EphemeralStorage`` MB). So each local environment gets a small ext4 file system in a sparse
image file, loop-mounted on the host (``nosuid,nodev``, executable as on Lambda) and
bind-mounted at /tmp; its page cache can be reclaimed, so it never kills the function.

That needs root and an engine on this machine (a bind mount names a host path). Elsewhere
(:func:`available` says why not) the caller falls back to a tmpfs of the same size. Every
scratch is named after its container and removed with it; :func:`sweep` removes those whose
container is gone (a warm container removed by hand, a killed run). Never prints.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core import proc
from ..core.errors import BuildError, ConfigError

OVERHEAD = 1.04  # ext4's own metadata: the image is this much larger, so ``size_mb`` MB can be written
ROOT_ENV = "BUILDER_SCRATCH_DIR"
MOUNT_ATTEMPTS = 5
_mount_lock = threading.Lock()


def root() -> Path:
    """Where the image files and mount points live (``$BUILDER_SCRATCH_DIR``, else the host's temp folder),
    one folder per engine: a sweep asks its own engine which containers are gone, never another's."""
    engine = re.sub(r"[^A-Za-z0-9]+", "-", os.environ.get("DOCKER_HOST") or "default").strip("-")
    return Path(os.environ.get(ROOT_ENV) or Path(tempfile.gettempdir()) / "builder-scratch") / engine


def available(docker_host: str | None = None) -> str | None:
    """None when a disk-backed /tmp can be made here; else why not (for a notice)."""
    host = os.environ.get("DOCKER_HOST", "") if docker_host is None else docker_host
    if host and not host.startswith("unix://"):
        return f"the engine ({host}) is not on this machine, so it cannot mount a file system made here"
    if os.geteuid() != 0:
        return "mounting a file system needs root"
    missing = [tool for tool in ("mkfs.ext4", "mount", "umount") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    return None


def create(name: str, size_mb: int) -> Path:
    """Make and mount the scratch file system ``name`` of ``size_mb`` MB; returns the mounted folder.

    An earlier scratch of the same name (its container is being replaced) is removed first.
    """
    remove(name)
    base = root() / name
    image, mount = root() / f"{name}.img", base / "tmp"
    mount.mkdir(parents=True, exist_ok=True)
    try:
        with open(image, "wb") as f:  # sparse: only what is written takes disk space
            f.truncate(math.ceil(size_mb * OVERHEAD) * 1024 * 1024)
        proc.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(image)])
        _mount(image, mount)
        os.chmod(mount, 0o1777)  # the sandbox's user writes there, as in Lambda
    except (OSError, BuildError) as exc:
        remove(name)
        raise ConfigError(f"Cannot make the function's /tmp under {root()}: {exc}. Free disk space there, or "
                          f"set {ROOT_ENV} to a folder on another disk.") from exc
    return mount


def _mount(image: Path, mount: Path) -> None:
    # Two loop mounts at once can pick the same free loop device: one at a time here, and a retry
    # for another process's.
    for attempt in range(MOUNT_ATTEMPTS):
        with _mount_lock:
            done = proc.run(["mount", "-o", "loop,nosuid,nodev", str(image), str(mount)], check=False)
        if done.returncode == 0:
            return
        time.sleep(0.1 * (attempt + 1))
    raise BuildError(f"mount -o loop failed: {done.output.strip()}")


def remove(name: str) -> None:
    """Unmount and delete the scratch ``name`` (no error when there is none)."""
    base = root() / name
    mount = base / "tmp"
    if os.path.ismount(mount):
        proc.run(["umount", "-l", str(mount)], check=False)  # lazy: a container still exiting holds it
    shutil.rmtree(base, ignore_errors=True)
    (root() / f"{name}.img").unlink(missing_ok=True)


def sweep(in_use: Callable[[str], bool]) -> list[str]:
    """Remove every scratch whose container is gone (``in_use(name)`` is False); returns their names."""
    try:
        names = sorted({p.name.removesuffix(".img") for p in root().iterdir()})
    except OSError:
        return []
    gone = [name for name in names if not in_use(name)]
    for name in gone:
        remove(name)
    return gone
