"""Finding a docker CLI that can run BuildKit builds (the SDK cannot: docker/docker-py#2230).

Probing a client costs two subprocesses, so what each binary can do is cached by path, size and time.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core import cache as cachefile
from ..core import proc
from ..core.errors import EngineError


def _docker_clients() -> list[str]:
    """Every `docker` executable on PATH, in PATH order (like `type -a docker`)."""
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, "docker")
        real = os.path.realpath(candidate)
        if os.access(candidate, os.X_OK) and os.path.isfile(candidate) and real not in found:
            found.append(real)
    return found


# What each docker CLI binary can do, by path, size and time: probing costs two subprocesses.
_CLIENTS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "builder" / "docker-clients.json"


def _identity(path: str) -> str:
    stat = os.stat(path)
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _probe(client: str) -> tuple[bool, str]:
    """Whether ``client`` builds with BuildKit (buildx plugin, or built in before 23.0), and its version."""
    if proc.run([client, "buildx", "version"], check=False).returncode == 0:
        return True, "buildx"
    output = proc.run([client, "version", "--format", "{{.Client.Version}}"], check=False).output.strip()
    version = output.splitlines()[0] if output else ""
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) < 23, version


def find_buildkit_client() -> str:
    """The first docker CLI on PATH that builds with BuildKit, or an EngineError that says what to install."""
    known = cachefile.load(_CLIENTS_CACHE)
    tried, probed = [], False
    try:
        for client in _docker_clients():
            key = _identity(client)
            if key not in known:
                known[key], probed = _probe(client), True
            capable, version = known[key]
            if capable:
                return client
            tried.append(f"{client} ({version or 'unknown'})")
    finally:
        if probed:
            cachefile.save(_CLIENTS_CACHE, known)
    raise EngineError(
        "No docker client that can build with BuildKit was found on PATH "
        f"(tried: {', '.join(tried) or 'no docker on PATH'}). Install the buildx plugin "
        "(Debian: docker-buildx; Docker's repo: docker-buildx-plugin) or put a docker CLI "
        "older than 23.0, which has BuildKit built in, on PATH."
    )
