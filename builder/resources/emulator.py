"""A local AWS Lambda emulator that runs inside function images (Python 3.11, stdlib only).

It stands in for AWS's Runtime Interface Emulator (RIE) when ``AWS_LAMBDA_RUNTIME_API`` is
unset. Two HTTP servers share one execution environment:

* the Lambda Runtime API on 127.0.0.1 (``BUILDER_RUNTIME_API_PORT``, default 9001), which the
  real runtime client (``python3 -m awslambdaric HANDLER``) polls, with the real API's status
  codes and error bodies;
* the RIE's invoke endpoint on 0.0.0.0 (``BUILDER_EMULATOR_PORT``, default 8080):
  ``POST /2015-03-31/functions/function/invocations``.

Like Lambda: the runtime starts on the first invoke (cold start); invokes run one at a time,
queued in arrival order; a timeout or a crash answers an error body with
``X-Amz-Function-Error: Unhandled`` and resets the environment (the next invoke is cold); the
logs carry START, END and REPORT lines with measured durations and memory.

Usage: ``python3 emulator.py HANDLER`` (``BUILDER_RUNTIME_COMMAND`` replaces the runtime's
``python3 -m awslambdaric`` prefix; the handler is appended).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous request and response limit (6291456)
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit; a slow init then runs into the invoke timeout
KILL_WAIT_S = 5.0
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
RUNTIME_PATH = re.compile(
    r"^/2018-06-01/runtime/(?:invocation/(?P<id>[^/]+)/(?P<kind>response|error)|(?P<op>invocation/next|init/error))$"
)
ACCOUNT = "012345678912"  # the RIE's placeholder account in function ARNs

_print_lock = threading.Lock()


def log(line: str) -> None:
    """Write one platform log line (START, END, REPORT) to stdout, in order with the runtime's."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass(frozen=True)
class Config:
    """The function's settings, read once from the environment and argv."""

    handler: str
    function_name: str
    memory_mb: int
    timeout_s: float
    region: str
    invoke_port: int
    runtime_port: int
    task_root: str
    runtime_command: tuple[str, ...]

    @classmethod
    def load(cls, argv: list[str], env: dict[str, str]) -> Config:
        if len(argv) != 1 or not argv[0]:
            raise ValueError("the handler (e.g. app.handler) must be the one argument")
        command = shlex.split(env.get("BUILDER_RUNTIME_COMMAND", "")) or [sys.executable, "-m", "awslambdaric"]
        return cls(
            handler=argv[0],
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", "function"),
            memory_mb=int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            timeout_s=float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
            invoke_port=int(env.get("BUILDER_EMULATOR_PORT", "8080")),
            runtime_port=int(env.get("BUILDER_RUNTIME_API_PORT", "9001")),
            task_root=env.get("LAMBDA_TASK_ROOT", "/var/task"),
            runtime_command=(*command, argv[0]),
        )

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.function_name}"

    def runtime_env(self, base: dict[str, str]) -> dict[str, str]:
        """The runtime's environment: Lambda's variables where the container does not set them."""
        env = dict(base)
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + "/[$LATEST]" + uuid.uuid4().hex
        defaults = {
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "LAMBDA_TASK_ROOT": self.task_root,
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": "UTC",
        }
        for key, value in defaults.items():
            env.setdefault(key, value)
        env["_HANDLER"] = self.handler
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.runtime_port}"
        return env


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def describe_exit(returncode: int) -> str:
    """Lambda's wording (Go's) for how a process ended: 'exit status 3', 'signal: killed'."""
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {name.lower()}"


def tree_peak_kb(root: int) -> int:
    """Sum of the peak RSS (VmHWM) of ``root`` and its descendants, in KiB.

    The runtime's own tree, not the container's cgroup: in Lambda the platform's agent is not
    counted, so neither is this emulator.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
        except (OSError, ValueError):
            pass
        stack.extend(children.get(pid, ()))
    return total


def oom_kills() -> int:
    """How many processes the kernel's OOM killer ended in this container's cgroup (v2 or v1)."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), 0)
        except (OSError, ValueError, IndexError):
            continue
    return 0


class Runtime:
    """One runtime process (one execution environment) and a thread that waits for its end."""

    def __init__(self, config: Config, on_exit: Callable[[Runtime, int], None]) -> None:
        self.started = time.monotonic()
        self.ready_at: float | None = None  # first /next: the end of init
        self.exit_status: int | None = None
        self.peak_kb = 0
        self.oom_kills_before = oom_kills()
        # Its own session, so a kill reaches everything the handler spawned.
        self.proc = subprocess.Popen(
            config.runtime_command, cwd=config.task_root, env=config.runtime_env(dict(os.environ)),
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:  # so the kernel's OOM killer picks the function, not the emulator
            with open(f"/proc/{self.proc.pid}/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        threading.Thread(target=lambda: on_exit(self, self.proc.wait()), daemon=True).start()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def sample_memory(self) -> int:
        """Update and return the environment's peak memory in MB (Lambda's is monotonic too)."""
        if self.exit_status is None:
            self.peak_kb = max(self.peak_kb, tree_peak_kb(self.proc.pid))
        return math.ceil(self.peak_kb / 1024)


@dataclass
class Outcome:
    """How an invocation ended: what the invoker gets and what the REPORT line says."""

    body: bytes
    content_type: str = "application/json"
    function_error: bool = False
    status: str | None = None  # REPORT's Status field: timeout or error
    error_type: str | None = None
    reset: bool = False  # the environment must be thrown away

    @classmethod
    def failure(cls, error_type: str, message: str, status: str = "error", report_type: str = "") -> Outcome:
        """A failed invocation; ``report_type`` is the REPORT's Error Type when it differs from the body's."""
        body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        return cls(body, function_error=True, status=status, error_type=report_type or error_type, reset=True)


class Invocation:
    """One invoke on its way through the environment, from the invoke API to the runtime and back."""

    def __init__(self, event: bytes, client_context: str | None) -> None:
        self.id = str(uuid.uuid4())
        self.event = event
        self.client_context = client_context
        self.created = time.monotonic()
        self.dispatched_at: float | None = None
        self.outcome: Outcome | None = None
        self.started_logged = False

    def log_start(self) -> None:
        if not self.started_logged:
            self.started_logged = True
            log(f"START RequestId: {self.id} Version: $LATEST")


class FifoLock:
    """A lock that admits waiters in arrival order, so queued invokes are answered in turn."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._issued = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cv:
            ticket, self._issued = self._issued, self._issued + 1
            self._cv.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._cv:
            self._serving += 1
            self._cv.notify_all()


class ApiError(Exception):
    """A Runtime API refusal, rendered like Lambda's: a JSON body with errorType and errorMessage."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def _not_allowed(state: str, target: str) -> ApiError:
    message = f"State transition from {state} to {target} failed for runtime. Error: State transition is not allowed"
    return ApiError(403, "InvalidStateTransition", message)


class Emulator:
    """The execution environment's state machine, shared by both servers under one condition."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._cv = threading.Condition()
        self._turns = FifoLock()
        self._runtime: Runtime | None = None
        self._generation = 0  # bumped when an environment is thrown away, to free stale /next polls
        self._pending: Invocation | None = None
        self._in_flight: Invocation | None = None
        self._init_error: Outcome | None = None

    # -- the invoke side ------------------------------------------------------------------

    def invoke(self, event: bytes, client_context: str | None = None) -> tuple[Invocation, Outcome]:
        """Run one invocation to its end (result, error, timeout or crash); never hangs."""
        with self._turns:
            inv = Invocation(event, client_context)
            with self._cv:
                self._pending = inv
                self._cv.notify_all()
                outcome, runtime, cold = self._await(inv)
                self._pending = self._in_flight = None
            self._finish(inv, runtime, cold)
            if outcome.reset and runtime is not None:
                self._retire(runtime)
            return inv, outcome

    def _await(self, inv: Invocation) -> tuple[Outcome, Runtime | None, bool]:
        """Wait for ``inv`` to end; returns how, in which environment, and whether it was cold."""
        timeout = self.config.timeout_s
        runtime, cold = self._runtime, False
        while inv.outcome is None:
            if runtime is None or (runtime.exit_status is not None and inv.dispatched_at is None and not cold):
                # No environment, or the last one died after its invocation (e.g. a runtime that
                # crashes on a refused response): a fresh one, as in Lambda. Not this invoke's fault.
                self._drop_runtime()
                try:
                    runtime, cold = Runtime(self.config, self._on_exit), True
                except OSError as exc:
                    inv.outcome = Outcome.failure("Runtime.InvalidEntrypoint", f"RequestId: {inv.id} Error: {exc}")
                    return inv.outcome, None, False
                self._runtime = runtime
            elif self._init_error is not None:
                inv.outcome = self._init_error
            elif runtime.exit_status is not None:
                message = f"RequestId: {inv.id} Error: Runtime exited with error: {describe_exit(runtime.exit_status)}"
                out_of_memory = runtime.exit_status == -signal.SIGKILL and oom_kills() > runtime.oom_kills_before
                if out_of_memory:  # Lambda then reports the whole memory size as used
                    runtime.peak_kb = self.config.memory_mb * 1024
                # Lambda answers a killed runtime with Runtime.ExitError; its REPORT names the cause.
                report_type = "Runtime.OutOfMemory" if out_of_memory else ""
                inv.outcome = Outcome.failure("Runtime.ExitError", message, report_type=report_type)
            else:
                if inv.dispatched_at is not None:
                    deadline = inv.dispatched_at + timeout
                else:  # still in init (cold) or waiting for the runtime's /next (warm)
                    deadline = max(runtime.started + INIT_TIMEOUT_S, inv.created) + timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    message = f"{_timestamp()} {inv.id} Task timed out after {timeout:.2f} seconds"
                    inv.log_start()
                    log(message)
                    inv.outcome = Outcome.failure("Sandbox.Timedout", message, status="timeout")
                else:
                    self._cv.wait(remaining)
        return inv.outcome, runtime, cold

    def _finish(self, inv: Invocation, runtime: Runtime | None, cold: bool) -> None:
        """Log END and REPORT like Lambda; Init Duration only when this invoke started the runtime."""
        end = time.monotonic()
        outcome = inv.outcome
        assert outcome is not None
        inv.log_start()
        duration = (end - (inv.dispatched_at or inv.created)) * 1000
        fields = [
            f"REPORT RequestId: {inv.id}",
            f"Duration: {duration:.2f} ms",
            f"Billed Duration: {max(1, math.ceil(duration))} ms",
            f"Memory Size: {self.config.memory_mb} MB",
            f"Max Memory Used: {runtime.sample_memory() if runtime else 0} MB",
        ]
        if cold and runtime is not None and runtime.ready_at is not None:
            fields.append(f"Init Duration: {(runtime.ready_at - runtime.started) * 1000:.2f} ms")
        if outcome.status:
            fields.append(f"Status: {outcome.status}")
            fields.append(f"Error Type: {outcome.error_type}")
        log(f"END RequestId: {inv.id}")
        log("\t".join(fields))

    def _retire(self, runtime: Runtime) -> None:
        """Kill an environment and wait (bounded) until it is gone; the next invoke is cold."""
        runtime.kill()
        with self._cv:
            self._cv.wait_for(lambda: runtime.exit_status is not None, KILL_WAIT_S)
            if self._runtime is runtime:
                self._drop_runtime()

    def _drop_runtime(self) -> None:
        if self._runtime is None:
            return
        self._runtime.kill()  # also ends what a crashed runtime left in its session
        self._runtime = None
        self._generation += 1
        self._init_error = None
        self._cv.notify_all()

    def _on_exit(self, runtime: Runtime, status: int) -> None:
        with self._cv:
            runtime.exit_status = status
            self._cv.notify_all()

    def shutdown(self) -> None:
        with self._cv:
            if self._runtime is not None:
                self._runtime.kill()

    # -- the Runtime API side -------------------------------------------------------------

    def next_invocation(self) -> tuple[Invocation, dict[str, str]] | None:
        """Long-poll for the next event; None when the environment was thrown away meanwhile."""
        with self._cv:
            generation = self._generation
            self._mark_ready()
            self._cv.wait_for(lambda: self._pending is not None or self._generation != generation)
            if self._generation != generation:
                return None
            inv, self._pending = self._pending, None
            assert inv is not None
            self._mark_ready()  # in case this poll came before the runtime was started
            self._in_flight = inv
            inv.dispatched_at = time.monotonic()
            inv.log_start()
            self._cv.notify_all()
        deadline_ms = int((time.time() + self.config.timeout_s) * 1000)
        now = int(time.time())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.config.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{now:08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};"
            "Sampled=0",
            "Content-Type": "application/json",
        }
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        return inv, headers

    def _mark_ready(self) -> None:
        runtime = self._runtime
        if runtime is not None and runtime.ready_at is None:
            runtime.ready_at = time.monotonic()  # the first /next ends the init phase
            self._cv.notify_all()

    def complete(self, request_id: str, kind: str, body: bytes, size: int, content_type: str) -> None:
        """Accept a /response or /error for the invocation in flight, or raise ApiError."""
        with self._cv:
            inv = self._in_flight
            target = "InvocationResponse" if kind == "response" else "InvocationErrorResponse"
            if inv is None:
                state = "Started" if self._runtime is None or self._runtime.ready_at is None else "ResponseSent"
                raise _not_allowed(state, target)
            if inv.id != request_id:
                raise ApiError(400, "InvalidRequestID", "Invalid request ID")
            self._in_flight = None
            self._cv.notify_all()
            if size > MAX_PAYLOAD:
                limit = f"maximum allowed payload size ({MAX_PAYLOAD} bytes)."
                message = f"Response payload size ({size} bytes) exceeded {limit}"
                failed = Outcome.failure("Function.ResponseSizeTooLarge", message)
                inv.outcome = Outcome(failed.body, function_error=True)
                raise ApiError(413, "RequestEntityTooLarge", f"Exceeded {limit}")
            inv.outcome = Outcome(body, content_type or "application/json", function_error=kind == "error")

    def init_error(self, body: bytes, error_type: str) -> None:
        """Accept /init/error from a runtime that has not yet asked for an event."""
        with self._cv:
            runtime = self._runtime
            if runtime is None or runtime.ready_at is not None:
                raise _not_allowed("Started" if runtime is None else "Ready", "InitError")
            error_type = error_type or "Runtime.Unknown"
            self._init_error = Outcome(body, function_error=True, status="error", error_type=error_type, reset=True)
            self._cv.notify_all()


class _Handler(BaseHTTPRequestHandler):
    """Common plumbing: HTTP/1.1 keep-alive, body reading, JSON errors, no access log."""

    protocol_version = "HTTP/1.1"  # keep-alive for the runtime client, and Expect: 100-continue
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    emulator: Emulator

    def log_message(self, format: str, *args: object) -> None:
        pass  # Lambda's logs carry no access log

    def read_body(self, limit: int = MAX_PAYLOAD) -> tuple[bytes, int]:
        """Read the whole body; keep at most ``limit`` bytes and return them with the full size."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the unread body would be taken for the next request
            raise ApiError(411, "LengthRequired", "Send the body with a Content-Length header")
        kept, remaining = bytearray(), int(self.headers.get("Content-Length") or 0)
        size = remaining
        while remaining > 0:  # in chunks, so an oversized body is counted, not held
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionError("the client closed the connection in the middle of the body")
            remaining -= len(chunk)
            kept += chunk[: max(0, limit - len(kept))]
        return bytes(kept), size

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status: int, error_type: str, message: str) -> None:
        self.send(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode())

    def guarded(self, route) -> None:
        # Every failure ends as an HTTP answer, never a silent reset or a hung client.
        try:
            route()
        except ApiError as exc:
            self.send_error_json(exc.status, exc.error_type, exc.message)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send_error_json(500, "InternalServerError", "Internal Server Error")
            except OSError:
                pass

    def do_GET(self) -> None:
        self.guarded(lambda: self.route("GET"))

    def do_POST(self) -> None:
        self.guarded(lambda: self.route("POST"))

    def route(self, method: str) -> None:
        raise NotImplementedError


class InvokeHandler(_Handler):
    """The RIE's invoke endpoint."""

    def route(self, method: str) -> None:
        if not INVOKE_PATH.match(self.path.split("?")[0]):
            raise ApiError(404, "ResourceNotFound", f"No route for {method} {self.path}")
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "Invoke with POST")
        event, size = self.read_body()
        if size > MAX_PAYLOAD:
            message = f"Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation"
            raise ApiError(413, "RequestEntityTooLarge", message)
        client_context = _client_context(self.headers.get("X-Amz-Client-Context"))
        inv, outcome = self.emulator.invoke(event or b"{}", client_context)
        headers = {"Content-Type": outcome.content_type, "X-Amz-Executed-Version": "$LATEST",
                   "X-Amzn-RequestId": inv.id}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        self.send(200, outcome.body, headers)


def _client_context(header: str | None) -> str | None:
    # The invoke API takes it base64-encoded; the Runtime API hands the runtime the JSON.
    if not header:
        return None
    try:
        return base64.b64decode(header, validate=True).decode()
    except ValueError:
        return header


class RuntimeApiHandler(_Handler):
    """The Lambda Runtime API (2018-06-01) that the runtime client polls."""

    def route(self, method: str) -> None:
        match = RUNTIME_PATH.match(self.path.split("?")[0])
        if match is None:
            raise ApiError(404, "NotFound", f"No route for {method} {self.path}")
        op = match["op"]
        if (method == "GET") != (op == "invocation/next"):
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {self.path}")
        if op == "invocation/next":
            self.read_body()
            found = self.emulator.next_invocation()
            if found is None:
                raise ApiError(410, "EnvironmentReset", "The execution environment was reset")
            inv, headers = found
            self.send(200, inv.event, headers)
            return
        body, size = self.read_body()
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "")
        if op == "init/error":
            self.emulator.init_error(body, error_type)
        else:
            content_type = self.headers.get("Content-Type", "application/json")
            self.emulator.complete(match["id"], match["kind"], body, size, content_type)
        self.send(202, b'{"status":"OK"}')


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a burst of concurrent invokes must queue, not be refused


def _server(port: int, host: str, handler: type[_Handler], emulator: Emulator) -> _Server:
    return _Server((host, port), type(handler.__name__, (handler,), {"emulator": emulator}))


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve both APIs until SIGTERM or SIGINT; returns the exit code."""
    try:
        config = Config.load(sys.argv[1:] if argv is None else argv, dict(os.environ))
    except ValueError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(config)
    runtime_api = _server(config.runtime_port, "127.0.0.1", RuntimeApiHandler, emulator)
    invoke_api = _server(config.invoke_port, "0.0.0.0", InvokeHandler, emulator)
    threading.Thread(target=runtime_api.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, _stop)  # as PID 1 in a container there is no default action
    signal.signal(signal.SIGINT, _stop)
    print(f"emulator: handler {config.handler}, invoke at http://0.0.0.0:{config.invoke_port}"
          "/2015-03-31/functions/function/invocations", file=sys.stderr, flush=True)
    try:
        invoke_api.serve_forever()
    finally:
        emulator.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
