"""``invoke --debug-port N``: debugpy in the function's container, for an IDE to attach to.

pip cannot reach an index from inside containers, and a function image should not carry a
debugger: the pure-Python debugpy wheel is downloaded on the host once (pinned, into the
backend's work folder), unpacked, and mounted read-only into the container only when asked.
The runtime then starts under ``debugpy --listen 0.0.0.0:5678 --wait-for-client`` (as
``sam local invoke -d`` does with its debugger), so the invoke waits for the IDE. Never prints.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from ..core import proc
from ..core.errors import BuildError, ConfigError
from ..core.paths import WORK_DIR

VERSION = "1.8.22"  # pure Python (py2.py3-none-any): the same wheel for every architecture
CONTAINER_PORT = 5678
CONTAINER_PATH = "/opt/builder/debugpy"  # holds the debugpy package folder
RUNTIME_COMMAND = (f"python3 -u -X frozen_modules=off {CONTAINER_PATH}/debugpy --listen 0.0.0.0:{CONTAINER_PORT} --wait-for-client "
                   "-m awslambdaric")
DEBUG_TIMEOUT_S = 900  # Lambda's longest: a paused debugger must not time the invoke out


def ensure(root: Path) -> Path:
    """The unpacked debugpy wheel under ``root``'s work folder (downloaded from PyPI the first time)."""
    lib = root / WORK_DIR / "debugpy" / VERSION
    if (lib / "debugpy" / "__main__.py").is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        try:
            proc.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
                      "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none",
                      "--dest", tmp, f"debugpy=={VERSION}"])
        except BuildError as exc:
            raise ConfigError(f"Cannot download debugpy {VERSION} for --debug-port: {exc} Check this machine's "
                              "access to PyPI (or pip's index settings), or invoke without --debug-port.") from exc
        wheel = next(Path(tmp).glob("debugpy-*.whl"))
        unpacked = Path(tmp) / "lib"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        shutil.rmtree(lib, ignore_errors=True)
        unpacked.rename(lib)  # whole or not at all
    return lib
