"""The invocation state machine: invokes queued in turn, handed to the runtime, and their outcomes."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
import uuid
from dataclasses import dataclass

from . import environment
from .environment import Config, Runtime, describe_exit, log, oom_kills, platform, timestamp

MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous request limit (6291456)
MAX_RESPONSE = MAX_PAYLOAD + 100  # and its response limit (6291556), as RAPID has it
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit; a slow init then runs into the invoke timeout
KILL_WAIT_S = 5.0


@dataclass
class Outcome:
    """How an invocation ended: what the invoker gets and what the REPORT line says."""

    body: bytes
    content_type: str = "application/json"
    function_error: bool = False
    status: str | None = None  # REPORT's Status field: timeout or error
    error_type: str | None = None
    reset: bool = False  # the environment must be thrown away

    def for_request(self, request_id: str) -> Outcome:
        """This outcome, with the runtime's empty ``requestId`` (an init error's) set, as Lambda answers it."""
        try:
            error = json.loads(self.body)
        except ValueError:
            return self
        if not isinstance(error, dict) or error.get("requestId") != "":
            return self
        body = json.dumps({**error, "requestId": request_id}).encode()
        return Outcome(body, self.content_type, self.function_error, self.status, self.error_type, self.reset)

    @classmethod
    def failure(cls, error_type: str, message: str, status: str = "error", report_type: str = "") -> Outcome:
        """A failed invocation; ``report_type`` is the REPORT's Error Type when it differs from the body's."""
        body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        return cls(body, function_error=True, status=status, error_type=report_type or error_type, reset=True)


class Invocation:
    """One invoke on its way through the environment, from the invoke API to the runtime and back."""

    def __init__(self, event: bytes, client_context: str | None, request_id: str | None = None,
                 json_logs: bool = False) -> None:
        self.id = request_id or str(uuid.uuid4())
        self.json_logs = json_logs
        self.lines: list[str] = []  # what was logged from START to REPORT
        self.event = event
        self.client_context = client_context
        self.created = time.monotonic()
        self.dispatched_at: float | None = None
        self.outcome: Outcome | None = None
        self.started_logged = False

    def log_start(self) -> None:
        if not self.started_logged:
            self.started_logged = True
            platform("start", f"START RequestId: {self.id} Version: $LATEST",
                     {"requestId": self.id, "version": "$LATEST"}, self.json_logs)


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

    def invoke(self, event: bytes, client_context: str | None = None,
               request_id: str | None = None) -> tuple[Invocation, Outcome]:
        """Run one invocation to its end (result, error, timeout or crash); never hangs.

        Its log lines, START to REPORT, are kept in ``Invocation.lines``.
        """
        with self._turns:
            inv = Invocation(event, client_context, request_id, self.config.json_logs)
            environment.capture(inv.lines)
            try:
                return self._run(inv)
            finally:
                environment.capture(None)

    def _run(self, inv: Invocation) -> tuple[Invocation, Outcome]:
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
                inv.outcome = self._init_error.for_request(inv.id)
            elif runtime.exit_status is not None:
                message = f"RequestId: {inv.id} Error: Runtime exited with error: {describe_exit(runtime.exit_status)}"
                inv.log_start()
                log(message)  # Lambda logs the exit, then the error type
                log("Runtime.ExitError")
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
                    message = f"Task timed out after {timeout:.2f} seconds"
                    inv.log_start()
                    log(f"{timestamp()} {inv.id} {message}")  # the log line has a time, the body not
                    inv.outcome = Outcome.failure("Sandbox.Timedout", f"RequestId: {inv.id} Error: {message}",
                                                  status="timeout")
                else:
                    self._cv.wait(remaining)
        return inv.outcome, runtime, cold

    def _finish(self, inv: Invocation, runtime: Runtime | None, cold: bool) -> None:
        """Log END and REPORT like Lambda; Init Duration only when this invoke started the runtime."""
        end = time.monotonic()
        outcome = inv.outcome
        assert outcome is not None
        if runtime is not None:
            runtime.drain()  # the function's last lines come before END, and are in its Tail
        inv.log_start()
        duration = (end - (inv.dispatched_at or inv.created)) * 1000
        used = runtime.sample_memory() if runtime else 0
        fields = [
            f"REPORT RequestId: {inv.id}",
            f"Duration: {duration:.2f} ms",
            f"Billed Duration: {max(1, math.ceil(duration))} ms",
            f"Memory Size: {self.config.memory_mb} MB",
            f"Max Memory Used: {used} MB",
        ]
        metrics: dict[str, object] = {"durationMs": round(duration, 2), "billedDurationMs": max(1, math.ceil(duration)),
                                      "memorySizeMB": self.config.memory_mb, "maxMemoryUsedMB": used}
        if cold and runtime is not None and runtime.ready_at is not None:
            init_ms = (runtime.ready_at - runtime.started) * 1000
            fields.append(f"Init Duration: {init_ms:.2f} ms")
            metrics["initDurationMs"] = round(init_ms, 2)
        record: dict[str, object] = {"requestId": inv.id, "metrics": metrics, "status": outcome.status or "success"}
        if outcome.status:
            fields.append(f"Status: {outcome.status}")
            fields.append(f"Error Type: {outcome.error_type}")
            record["errorType"] = outcome.error_type
        json_logs = self.config.json_logs
        platform("runtimeDone", f"END RequestId: {inv.id}", {"requestId": inv.id, "status": record["status"]}, json_logs)
        platform("report", "\t".join(fields), record, json_logs)

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
            runtime = self._runtime
        if runtime is not None:  # its memory after init, even if it exits before the sampler's next look
            runtime.sample_memory()
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
            if size > MAX_RESPONSE:
                limit = f"maximum allowed payload size ({MAX_RESPONSE} bytes)."
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
            init_ms = (time.monotonic() - runtime.started) * 1000
            text = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}"
            platform("initReport", text, {"initializationType": "on-demand", "phase": "init", "status": "error",
                                          "errorType": error_type, "metrics": {"durationMs": round(init_ms, 2)}},
                     self.config.json_logs)
            self._init_error = Outcome(body, function_error=True, status="error", error_type=error_type, reset=True)
            self._cv.notify_all()
