"""``run``'s front: one invoke endpoint on the host before up to N execution environments.

Lambda serves concurrent invokes with more execution environments, each with its own cold
start, and freezes an environment while it has no invoke. The front does both: it listens on
the host port, hands each invoke to an idle environment (a container), starts another one
(cold) when all are busy and fewer than ``concurrency`` exist, else queues the invoke until
one is free; it thaws the container before the invoke and freezes it after (the engine's
pause, the cgroup freezer). An ``Event`` invoke is answered 202 at once and run when an
environment is free. Never prints: what happens goes to ``on_line`` (log lines, in order per
environment) and ``on_notice``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType

from ..core.errors import ConfigError
from ..engine import Container
from ..engine.docker_engine import DockerEngine
from . import runner
from . import sandbox as local

FORWARDED = ("Content-Type", "X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
REQUEST_ID_HEADER = "X-Builder-Request-Id"  # the emulator takes the ID the front answered 202 with


@dataclass(eq=False)
class Environment:
    """One execution environment: its container and the host port of its invoke endpoint."""

    number: int
    container: Container
    port: int
    spec: local.ContainerSpec
    busy: bool = False
    frozen: bool = False
    retired: bool = False  # its image was replaced (run --watch): removed once its invoke ends


class Front:
    """The pool of environments behind one host port (see the module's docstring)."""

    def __init__(self, engine: DockerEngine, spec: local.ContainerSpec, *, concurrency: int = 1, freeze: bool = True,
                 on_line: Callable[[str], None] = lambda line: None,
                 on_notice: Callable[[str], None] = lambda text: None) -> None:
        if not 1 <= concurrency <= 64:
            raise ConfigError(f"--concurrency {concurrency} is out of range; use 1 to 64 environments.")
        self.engine, self.spec, self.concurrency, self.freeze = engine, spec, concurrency, freeze
        self.on_line, self.on_notice = on_line, on_notice
        self.port = spec.ports[local.CONTAINER_PORT]
        self._cv = threading.Condition()
        self._envs: list[Environment] = []  # the environments invokes go to
        self._alive: list[Environment] = []  # and those whose containers still exist (retired ones too)
        self._starting = 0
        self._started = 0  # environments started so far (their numbers)
        self._closed = False
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._serving = threading.Event()
        self.freeze_seconds: list[float] = []  # what each freeze cost
        self.thaw_seconds: list[float] = []  # and each thaw

    # -- environments -----------------------------------------------------------------------

    def _start(self, number: int) -> Environment:
        base = self.spec
        name = base.name if number == 1 else f"{base.name}-{number}"
        spec = replace(base, name=name, ports=MappingProxyType({local.CONTAINER_PORT: _free_port()}))
        container = runner.start(self.engine, spec)
        env = Environment(number, container, spec.ports[local.CONTAINER_PORT], base)
        with self._cv:
            self._alive.append(env)
        threading.Thread(target=self._follow, args=(env,), daemon=True).start()
        self.on_notice(f"environment {number} started ({container.name}); its first invoke is a cold start")
        return env

    def _follow(self, env: Environment) -> None:
        try:
            for line in self.engine.logs(env.container, follow=True):
                self.on_line(line)
        except Exception:  # the container was removed: its log stream ends
            pass

    def acquire(self) -> Environment:
        """An idle environment (marked busy and thawed), started if needed; waits while all N are busy."""
        with self._cv:
            while True:
                if self._closed:
                    raise ConfigError("The front is stopping.")
                idle = next((env for env in self._envs if not env.busy), None)
                if idle is not None:
                    idle.busy = True
                    break
                if len(self._envs) + self._starting < self.concurrency:
                    self._starting += 1
                    self._started += 1
                    number = self._started  # never reused: a retired environment may still be ending
                    idle = None
                    break
                self._cv.wait()
        if idle is None:
            try:
                idle = self._start(number)
            finally:
                with self._cv:
                    self._starting -= 1
            idle.busy = True
            with self._cv:
                if idle.spec is self.spec:
                    self._envs.append(idle)
                    self._envs.sort(key=lambda env: env.number)
                else:  # restarted meanwhile: this one serves its invoke, then goes
                    idle.retired = True
        if idle.frozen:
            began = time.perf_counter()
            self.engine.unpause(idle.container)
            idle.frozen = False
            self.thaw_seconds.append(time.perf_counter() - began)
        return idle

    def release(self, env: Environment) -> None:
        """Freeze the environment (unless told not to) and hand it to the next invoke."""
        if env.retired:
            self._stop(env)
            return
        if self.freeze and not self._closed:
            began = time.perf_counter()
            try:
                self.engine.pause(env.container)
                env.frozen = True
            except Exception as exc:  # e.g. the container died: the next invoke reports it
                self.on_notice(f"environment {env.number} could not be frozen: {exc}")
            self.freeze_seconds.append(time.perf_counter() - began)
        with self._cv:
            env.busy = False
            self._cv.notify_all()

    def restart(self, spec: local.ContainerSpec) -> None:
        """Serve ``spec`` (a new image) from now on: idle environments go now, busy ones when their
        invoke ends; one fresh environment is started at once (its first invoke is cold)."""
        with self._cv:
            self.spec = spec
            idle = [env for env in self._envs if not env.busy]
            for env in self._envs:
                env.retired = True
            self._envs = []
            self._cv.notify_all()
        for env in idle:
            self._stop(env)
        self.release(self.acquire())  # the new image's first environment, started now rather than by an invoke

    def _stop(self, env: Environment) -> None:
        with self._cv:
            if env not in self._alive:
                return
            self._alive.remove(env)
            self._cv.notify_all()
        runner.stop(self.engine, env.container)

    def environments(self) -> int:
        with self._cv:
            return len(self._envs)

    # -- serving ----------------------------------------------------------------------------

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one invoke to an environment and return its answer (status, headers, body)."""
        env = self.acquire()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=runner.client_timeout(self.spec))
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.getheaders(), response.read()
            except (OSError, http.client.HTTPException):
                env.retired = True  # its container died: removed, and the next invoke starts another
                with self._cv:
                    if env in self._envs:
                        self._envs.remove(env)
                self.on_notice(f"environment {env.number} stopped answering; it is replaced")
                raise
            finally:
                conn.close()
        finally:
            self.release(env)

    def serve(self, ready: Callable[[], None] = lambda: None) -> None:
        """Start the first environment, then serve on the host port until interrupted; removes everything."""
        local.check_port(self.port)
        try:
            self.release(self.acquire())  # the first environment, idle (frozen) until the first invoke
            self._server = _Server(("127.0.0.1", self.port), _handler(self))
            if self._stopping.is_set():
                return
            ready()
            self._serving.set()
            self._server.serve_forever()
        finally:
            self.close()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            envs, self._envs = list(self._alive), []
            self._cv.notify_all()
        if self._server is not None:
            self._server.server_close()
        for env in envs:
            self._stop(env)

    def shutdown(self) -> None:
        """Stop serving (from another thread); the serving thread then removes every container."""
        self._stopping.set()
        if self._serving.is_set() and self._server is not None:
            self._server.shutdown()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _handler(front: Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # readiness probes get the emulator's own answer (404)
            self._send(404, [("Content-Type", "application/json")], b'{"errorType":"ResourceNotFound"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key: self.headers[key] for key in FORWARDED if self.headers.get(key)}
            if headers.get("X-Amz-Invocation-Type") == "Event":  # answered now, run when an environment is free
                request_id = str(uuid.uuid4())
                headers.update({"X-Amz-Invocation-Type": "RequestResponse", REQUEST_ID_HEADER: request_id})
                threading.Thread(target=self._quietly, args=(body, headers), daemon=True).start()
                self._send(202, [("X-Amzn-RequestId", request_id)], b"")
                return
            try:
                status, answer_headers, answer = front.forward(self.path, body, headers)
            except (OSError, http.client.HTTPException, ConfigError) as exc:
                error = {"errorType": "ServiceException", "errorMessage": f"The environment did not answer: {exc}"}
                self._send(502, [("Content-Type", "application/json")], json.dumps(error).encode())
                return
            kept = [(k, v) for k, v in answer_headers if k.lower() not in ("content-length", "connection", "date",
                                                                           "server", "transfer-encoding")]
            self._send(status, kept, answer)

        def _quietly(self, body: bytes, headers: dict[str, str]) -> None:
            try:
                front.forward(local.INVOKE_PATH, body, headers)
            except (OSError, http.client.HTTPException, ConfigError) as exc:
                front.on_notice(f"an Event invoke failed: {exc}")

        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
