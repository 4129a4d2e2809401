"""Run a function image locally the way Lambda does: the sandbox plan and the invoke client.

Pure planning (:func:`sandbox_spec` returns a frozen :class:`ContainerSpec`; ``engine.py`` turns
it into Docker calls), an HTTP client for the emulator's invoke endpoint (:func:`invoke`,
:func:`wait_ready`), and a parser for the REPORT lines the emulator logs
(:func:`parse_report`). Nothing here prints, exits or talks to Docker.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..core.errors import ConfigError, InvokeError

CONTAINER_PORT = 8080  # the emulator's (and AWS's RIE's) invoke port inside the image
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
SANDBOX_USER = "993:990"  # Lambda runs functions as a non-root user: sbx_user1051, uid 993, group 990
PIDS_LIMIT = 1024  # Lambda's limit on processes and threads
NOFILE = 1024  # Lambda's limit on file descriptors
LABEL = "builder.function"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything ``engine.py`` needs to start one function container.

    Mappings are read-only views, so a spec cannot change after planning.
    """

    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    ports: Mapping[int, int]  # container port -> host port (bound to 127.0.0.1)
    name: str
    labels: Mapping[str, str]
    read_only: bool = True
    tmpfs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # host folder -> container path (":ro" at its end: read-only)
    mounts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    user: str | None = SANDBOX_USER
    mem_limit: str | None = None
    memswap_limit: str | None = None  # equal to mem_limit: no swap, so the limit is real
    cap_drop: tuple[str, ...] = ("ALL",)
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    pids_limit: int | None = PIDS_LIMIT
    ulimits: tuple[tuple[str, int, int], ...] = (("nofile", NOFILE, NOFILE),)
    init: bool = True  # tini as PID 1 reaps what a killed runtime orphans and forwards SIGTERM
    tmp_mb: int = 512  # the size of /tmp (a tmpfs above, or a file system of that size mounted at start)

    def docker_run_kwargs(self) -> dict[str, object]:
        """The keyword arguments of docker SDK's ``containers.run`` (add ``detach=True``)."""
        kwargs: dict[str, object] = {
            "image": self.image,
            "command": list(self.command),
            "environment": dict(self.environment),
            "ports": {f"{c}/tcp": ("127.0.0.1", h) for c, h in self.ports.items()},
            "name": self.name,
            "labels": dict(self.labels),
            "read_only": self.read_only,
            "tmpfs": dict(self.tmpfs),
            "volumes": {host: {"bind": path.removesuffix(":ro"), "mode": "ro" if path.endswith(":ro") else "rw"}
                        for host, path in self.mounts.items()},
            "cap_drop": list(self.cap_drop),
            "security_opt": list(self.security_opt),
            "ulimits": [{"name": n, "soft": s, "hard": h} for n, s, h in self.ulimits],
            "init": self.init,
        }
        optional = {"user": self.user, "mem_limit": self.mem_limit,
                    "memswap_limit": self.memswap_limit, "pids_limit": self.pids_limit}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        return kwargs


def sandbox_spec(
    image: str,
    function_name: str,
    handler: str,
    *,
    port: int,
    memory_mb: int = 128,
    timeout_s: int = 3,
    tmp_mb: int = 512,
    env: Mapping[str, str] = MappingProxyType({}),
    sandbox: bool = True,
    tmp_dir: str | None = None,
) -> ContainerSpec:
    """Plan a container that runs ``handler`` from ``image`` like Lambda would.

    The sandbox is Lambda's: read-only root with a ``tmp_mb`` MB ``/tmp`` (the host folder
    ``tmp_dir``, a file system of that size, else a tmpfs, which counts as memory), a non-root user, no
    capabilities, ``memory_mb`` of memory and no swap, 1024 processes and open files. The
    environment carries Lambda's variables; ``env`` (the function's own variables) may
    override the defaults (e.g. ``AWS_REGION``) but not what the arguments set. With
    ``sandbox=False`` only the environment and the port remain (for debugging).
    """
    if not 128 <= memory_mb <= 10240:
        raise ConfigError(f"Memory size {memory_mb} MB is outside Lambda's range; use 128 to 10240.")
    if not 1 <= timeout_s <= 900:
        raise ConfigError(f"Timeout {timeout_s} s is outside Lambda's range; use 1 to 900.")
    if not 512 <= tmp_mb <= 10240:
        raise ConfigError(f"Ephemeral storage {tmp_mb} MB is outside Lambda's range; use 512 to 10240.")
    if not 1 <= port <= 65535:
        raise ConfigError(f"Port {port} is not a TCP port; use 1 to 65535 (e.g. 9000).")
    if not handler or "." not in handler:
        raise ConfigError(f"Handler {handler!r} is not MODULE.FUNCTION; use e.g. app.handler.")
    environment = {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": "UTC",
        **env,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
        "_HANDLER": handler,
    }
    environment.pop("AWS_LAMBDA_RUNTIME_API", None)  # set, it would skip the emulator
    safe_name = re.sub(r"[^a-zA-Z0-9_.-]", "-", function_name).strip("-.") or "function"
    spec = ContainerSpec(
        image=image,
        command=(handler,),
        environment=MappingProxyType(dict(sorted(environment.items()))),
        ports=MappingProxyType({CONTAINER_PORT: port}),
        name=f"builder-{safe_name}-{port}",
        labels=MappingProxyType({LABEL: function_name, "builder.handler": handler}),
        tmp_mb=tmp_mb,
    )
    if not sandbox:
        return replace(spec, read_only=False, user=None, cap_drop=(), security_opt=(), pids_limit=None, ulimits=())
    memory = f"{memory_mb}m"
    spec = replace(spec, mem_limit=memory, memswap_limit=memory)
    if tmp_dir is not None:
        return replace(spec, mounts=MappingProxyType({tmp_dir: "/tmp"}))
    # Docker's tmpfs is noexec unless told: Lambda runs programs from /tmp (ffmpeg, headless browsers).
    return replace(spec, tmpfs=MappingProxyType({"/tmp": f"rw,exec,size={tmp_mb}m"}))


def with_debugger(spec: ContainerSpec, port: int, debugpy_dir: str) -> ContainerSpec:
    """``spec`` with the runtime under debugpy (``debugpy_dir`` mounted read-only), listening on the host's
    ``port``; the invoke waits for a debugger, and a paused one never times it out (900 s, Lambda's longest)."""
    from . import debugger

    if not 1 <= port <= 65535 or port == spec.ports.get(CONTAINER_PORT):
        raise ConfigError(f"Debug port {port} is not a free TCP port beside the invoke port; use e.g. 5678.")
    environment = {**spec.environment, "BUILDER_RUNTIME_COMMAND": debugger.RUNTIME_COMMAND,
                   "AWS_LAMBDA_FUNCTION_TIMEOUT": str(debugger.DEBUG_TIMEOUT_S)}
    return replace(
        spec,
        environment=MappingProxyType(dict(sorted(environment.items()))),
        ports=MappingProxyType({**spec.ports, debugger.CONTAINER_PORT: port}),
        mounts=MappingProxyType({**spec.mounts, debugpy_dir: f"{debugger.CONTAINER_PATH}:ro"}),
    )


PROJECT_LABEL = "builder.project"
IMAGE_LABEL = "builder.image-id"  # the image a warm container runs: another image is another container


def check_port(port: int) -> None:
    """Refuse a host port something already listens on, before any container is made."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closing connection is no listener
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(f"Port {port} is in use on this machine ({exc.strerror}); pick another with --port.") from exc


def same_warm_container(labels: Mapping[str, str], spec: ContainerSpec) -> bool:
    """Whether a running container with ``labels`` runs this project's function from this very image."""
    return all(labels.get(key) == spec.labels.get(key) for key in (PROJECT_LABEL, LABEL, IMAGE_LABEL))


@dataclass(frozen=True)
class Invocation:
    """The emulator's answer: HTTP status, body, and ``X-Amz-Function-Error`` if any."""

    status: int
    body: bytes
    function_error: str | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.function_error is None


def invoke(port: int, event: bytes, *, timeout: float, host: str = "127.0.0.1") -> Invocation:
    """POST ``event`` to the invoke endpoint on ``host:port`` and return the answer.

    Function errors, timeouts and crashes are answers (see ``function_error``); only a failure
    to talk to the emulator at all raises :class:`InvokeError`.
    """
    url = f"http://{host}:{port}{INVOKE_PATH}"
    request = urllib.request.Request(url, data=event, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _answer(response.status, response.read(), response.headers)
    except urllib.error.HTTPError as exc:  # the emulator answered, with an error status
        with exc:
            return _answer(exc.code, exc.read(), exc.headers)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise InvokeError(
                f"No answer from {url} within {timeout:g} s. Raise the client timeout above the "
                "function's timeout, or check the container's logs for a stuck start."
            ) from exc
        raise InvokeError(
            f"Cannot reach the function at {url}: {reason}. Check that its container is running "
            "and publishes port 8080 on that port (`docker ps`), then read its logs."
        ) from exc


def _answer(status: int, body: bytes, headers) -> Invocation:
    return Invocation(status, body, headers.get("X-Amz-Function-Error"), headers.get("X-Amzn-RequestId"))


def wait_ready(port: int, timeout: float, *, host: str = "127.0.0.1") -> None:
    """Wait until the emulator on ``host:port`` answers HTTP; raise :class:`InvokeError` if not.

    A TCP connect is not enough: Docker's port proxy accepts connections before the
    container listens. Any HTTP answer (the probe gets a 404) means the server is up; it does
    not start the function.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            last = exc
            time.sleep(0.01)
    raise InvokeError(
        f"The function on {host}:{port} did not start within {timeout:g} s ({last}). "
        "Read the container's logs (`docker logs`) for the reason."
    )


@dataclass(frozen=True)
class Report:
    """One REPORT line: Lambda's measurements of an invocation."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None
    status: str | None = None  # "timeout" or "error" when the invocation failed
    error_type: str | None = None


_REPORT = re.compile(r"REPORT RequestId: (\S+)(.*)$")
_FIELD = re.compile(r"(Init Duration|Billed Duration|Max Memory Used|Memory Size|Duration|Status|Error Type): (\S+)")


def parse_report(log_text: str) -> list[Report]:
    """Extract the REPORT lines from logs, in order; lines missing a measurement are skipped.

    Tolerates prefixes (``docker logs --timestamps``) and tabs or spaces between fields.
    """
    reports = []
    for line in log_text.splitlines():
        match = _REPORT.search(line)
        if match is None:
            continue
        fields = dict(_FIELD.findall(match[2]))
        try:
            init = fields.get("Init Duration")
            reports.append(Report(
                request_id=match[1],
                duration_ms=float(fields["Duration"]),
                billed_duration_ms=int(fields["Billed Duration"]),
                memory_size_mb=int(fields["Memory Size"]),
                max_memory_used_mb=int(fields["Max Memory Used"]),
                init_duration_ms=float(init) if init is not None else None,
                status=fields.get("Status"),
                error_type=fields.get("Error Type"),
            ))
        except (KeyError, ValueError):
            continue
    return reports
