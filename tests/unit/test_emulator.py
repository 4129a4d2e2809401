"""The local Lambda emulator, run as a real process on the host with the real runtime client.

Each test starts ``builder/resources/emulator`` (the package folder) on free ports with
``tests/fixtures/handlers`` as the task root and talks to it over HTTP, as a user's
``curl`` would (invoke endpoint) and as ``awslambdaric`` does (Runtime API). The planning and
parsing halves of ``builder.local`` are unit-tested at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.core.errors import ConfigError, InvokeError
from builder.local import sandbox as local
from tests.helpers import FIXTURES, REPO, free_port

RESOURCES = REPO / "builder" / "resources"
EMULATOR = RESOURCES / "emulator"
ENTRYPOINT = RESOURCES / "lambda-entrypoint.sh"
HANDLERS = FIXTURES / "handlers"
MAX = 6 * 1024 * 1024
IDLE_RUNTIME = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(60)'"


class Emulator:
    """One emulator process; ``invoke`` goes through ``builder.local`` like the CLI does."""

    def __init__(self, handler: str, task_root: Path, log_path: Path, argv=None, **env: str) -> None:
        self.port, self.runtime_port = free_port(), free_port()
        self.log_path = log_path
        environ = {
            **os.environ,
            "BUILDER_EMULATOR_PORT": str(self.port),
            "BUILDER_RUNTIME_API_PORT": str(self.runtime_port),
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_FUNCTION_NAME": "test-fn",
            **env,
        }
        environ.pop("AWS_LAMBDA_RUNTIME_API", None)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(argv or [sys.executable, str(EMULATOR), handler],
                                         cwd=task_root, env=environ, stdout=log, stderr=subprocess.STDOUT)
        local.wait_ready(self.port, timeout=10)

    def invoke(self, event: object = None, timeout: float = 30) -> local.Invocation:
        return local.invoke(self.port, json.dumps(event or {}).encode(), timeout=timeout)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def reports(self) -> list[local.Report]:
        return local.parse_report(self.logs())

    def runtime_api(self, method: str, path: str, body: bytes | None = None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.runtime_port, timeout=10)
        try:
            conn.request(method, "/2018-06-01/runtime/" + path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture(scope="module")
def task_root(tmp_path_factory) -> Path:
    """The fixture handlers plus a module with a syntax error (kept out of the repo for linters)."""
    root = tmp_path_factory.mktemp("task") / "task"
    shutil.copytree(HANDLERS, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "broken_syntax.py").write_text("def handler(event, context)\n    return 1\n")
    return root


@pytest.fixture
def start(task_root, tmp_path):
    """Start emulators (stopped at the end whatever happens): ``start(handler, **env)``."""
    started: list[Emulator] = []

    def _start(handler: str, argv=None, **env: str) -> Emulator:
        emulator = Emulator(handler, task_root, tmp_path / f"emulator{len(started)}.log", argv, **env)
        started.append(emulator)
        return emulator

    yield _start
    for emulator in started:
        emulator.stop()


def error_of(result: local.Invocation) -> dict:
    assert result.status == 200
    assert result.function_error == "Unhandled", result.body
    return json.loads(result.body)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purposes
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


# -- invocations through the real runtime client ----------------------------------------------


def test_result_logs_and_cold_then_warm(start):
    emulator = start("app.echo")
    first, second = emulator.invoke({"a": 1}), emulator.invoke({"b": 2})
    assert first.ok and second.ok
    assert json.loads(first.body)["event"] == {"a": 1}
    assert json.loads(second.body)["request_id"] == second.request_id
    logs = emulator.logs()
    assert f"START RequestId: {first.request_id} Version: $LATEST" in logs
    assert f"END RequestId: {first.request_id}" in logs
    reports = emulator.reports()
    assert [r.request_id for r in reports] == [first.request_id, second.request_id]
    assert reports[0].init_duration_ms is not None and reports[0].init_duration_ms > 0
    assert reports[1].init_duration_ms is None
    assert reports[0].memory_size_mb == 128 and reports[0].max_memory_used_mb > 5
    assert reports[1].billed_duration_ms >= reports[1].duration_ms


def test_runtime_sees_lambda_environment_and_context(start, task_root):
    emulator = start("app.env", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_TIMEOUT="7")
    seen = json.loads(emulator.invoke().body)
    env = seen["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "test-fn" == seen["function_name"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" == seen["memory_limit_in_mb"]
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/test-fn"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", seen["log_stream_name"])
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == os.environ.get("AWS_REGION", "us-east-1")
    assert env["_HANDLER"] == "app.env" and env["TZ"] == os.environ.get("TZ", "UTC")
    assert env["AWS_LAMBDA_RUNTIME_API"] == f"127.0.0.1:{emulator.runtime_port}"
    assert env["LAMBDA_TASK_ROOT"] == str(task_root) == seen["cwd"]
    assert seen["invoked_function_arn"].endswith(":function:test-fn")
    assert 5000 < seen["remaining_ms"] <= 7000
    assert emulator.reports()[0].memory_size_mb == 256


def test_handler_path_with_slashes(start):
    result = start("functions/health/ping.handler").invoke()
    assert result.ok and json.loads(result.body) == {"pong": True}


def test_function_error(start):
    emulator = start("app.fail")
    error = error_of(emulator.invoke())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "the handler failed on purpose"
    assert emulator.invoke().function_error == "Unhandled"  # the environment survives
    assert emulator.reports()[1].init_duration_ms is None


def test_timeout_kills_and_next_invoke_is_cold(start):
    emulator = start("app.echo", AWS_LAMBDA_FUNCTION_TIMEOUT="1")
    began = time.monotonic()
    slow = emulator.invoke({"sleep": 20})
    assert time.monotonic() - began < 5
    error = error_of(slow)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"] == f"RequestId: {slow.request_id} Error: Task timed out after 1.00 seconds"
    after = emulator.invoke({"again": True})
    assert after.ok and json.loads(after.body)["event"] == {"again": True}
    timed_out, cold = emulator.reports()
    assert timed_out.status == "timeout" and 1000 <= timed_out.duration_ms < 2000
    assert cold.init_duration_ms is not None


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("no_such_module.handler", "Runtime.ImportModuleError", "Unable to import module 'no_such_module'"),
    ("broken_syntax.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken_syntax'"),
    ("app.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing on module 'app'"),
])
def test_init_errors_answer_at_once(start, handler, error_type, message):
    emulator = start(handler)
    for _ in range(2):  # each invoke retries the init, like Lambda after a failed init
        began = time.monotonic()
        answer = emulator.invoke(timeout=10)
        error = error_of(answer)
        assert time.monotonic() - began < 5
        assert error["errorType"] == error_type and message in error["errorMessage"]
        assert error["requestId"] == answer.request_id  # Lambda names the invoke the init failed for
    assert [r.error_type for r in emulator.reports()] == [error_type, error_type]
    init_reports = [line for line in emulator.logs().splitlines() if line.startswith("INIT_REPORT")]
    assert len(init_reports) == 2 and all(f"Status: error\tError Type: {error_type}" in r for r in init_reports)


@pytest.mark.parametrize(("handler", "how"), [
    ("app.exit3", "exit status 3"),
    ("app.killed", "signal: killed"),
    ("crash_on_import.handler", "exit status 4"),
])
def test_runtime_exit(start, handler, how):
    emulator = start(handler)
    result = emulator.invoke(timeout=10)
    error = error_of(result)
    assert error == {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: {how}"}
    assert error_of(emulator.invoke(timeout=10))["errorType"] == "Runtime.ExitError"  # and again, cold
    assert [r.status for r in emulator.reports()] == ["error", "error"]


def test_oversized_response(start):
    emulator = start("app.big")
    error = error_of(emulator.invoke(timeout=10))
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert f"exceeded maximum allowed payload size ({MAX + 100} bytes)" in error["errorMessage"]  # 6291556
    # awslambdaric dies on the refused response; the next invoke gets a fresh environment, not its exit.
    after = emulator.invoke({"small": True}, timeout=10)
    assert after.ok and json.loads(after.body) == "small"
    assert emulator.reports()[1].init_duration_ms is not None
    at_limit = emulator.invoke({"size": MAX + 98}, timeout=10)  # 6291556 bytes with its quotes: allowed
    assert at_limit.ok and len(at_limit.body) == MAX + 100


def test_oversized_request(start):
    emulator = start("app.echo")
    result = local.invoke(emulator.port, b"x" * (MAX + 1), timeout=10)
    assert result.status == 413 and json.loads(result.body)["errorType"] == "RequestEntityTooLargeException"
    assert emulator.invoke({"still": "fine"}).ok


def test_max_memory_used_is_measured(start):
    emulator = start("app.hog")
    emulator.invoke({"mb": 1})
    emulator.invoke({"mb": 64})
    small, large = emulator.reports()
    assert large.max_memory_used_mb >= small.max_memory_used_mb + 60


def test_fifty_sequential_invokes(start):
    emulator = start("app.echo")
    for n in range(50):
        result = emulator.invoke({"n": n})
        assert result.ok and json.loads(result.body)["event"] == {"n": n}
    reports = emulator.reports()
    assert len(reports) == 50
    assert reports[0].init_duration_ms is not None
    assert all(r.init_duration_ms is None for r in reports[1:])


def test_concurrent_invokes_are_queued(start):
    emulator = start("app.echo")
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda n: emulator.invoke({"n": n, "sleep": 0.05}), range(10)))
    for n, result in enumerate(results):
        assert result.ok and json.loads(result.body)["event"]["n"] == n
        assert json.loads(result.body)["request_id"] == result.request_id
    assert len({json.loads(r.body)["pid"] for r in results}) == 1  # one environment, no crash
    platform_lines = [line.split()[0] for line in emulator.logs().splitlines()
                      if line.startswith(("START ", "END "))]
    assert platform_lines == ["START", "END"] * 10  # one at a time, never interleaved


def test_sigterm_stops_emulator_and_runtime(start):
    emulator = start("app.echo")
    pid = json.loads(emulator.invoke().body)["pid"]
    assert pid_alive(pid)
    assert emulator.stop() == 0
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_unknown_path_is_404(start):
    emulator = start("app.echo")
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    conn.request("POST", "/nope", body=b"{}")
    response = conn.getresponse()
    assert response.status == 404 and json.loads(response.read())["errorType"]


def test_entrypoint_runs_emulator_then_runtime_client(start):
    # Outside Lambda the entrypoint starts the emulator; the emulator starts the runtime
    # through the same entrypoint, which (AWS_LAMBDA_RUNTIME_API now set) execs awslambdaric.
    emulator = start("app.echo", argv=["sh", str(ENTRYPOINT), "app.echo"],
                     BUILDER_EMULATOR=str(EMULATOR), BUILDER_RUNTIME_COMMAND=f"sh {shlex.quote(str(ENTRYPOINT))}")
    result = emulator.invoke({"via": "entrypoint"})
    assert result.ok and json.loads(result.body)["event"] == {"via": "entrypoint"}


def test_entrypoint_requires_one_handler():
    result = subprocess.run(["sh", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 142 and "handler" in result.stderr


# -- the Runtime API contract, with the test playing the runtime ------------------------------


def invoke_in_background(emulator: Emulator, event: object) -> tuple[threading.Thread, list]:
    answers: list[local.Invocation] = []
    thread = threading.Thread(target=lambda: answers.append(emulator.invoke(event)), daemon=True)
    thread.start()
    return thread, answers


def test_runtime_api_contract(start):
    emulator = start("app.echo", BUILDER_RUNTIME_COMMAND=IDLE_RUNTIME, AWS_LAMBDA_FUNCTION_TIMEOUT="30")
    status, _, body = emulator.runtime_api("POST", "invocation/some-id/response", b"{}")
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"

    # 1: the event and its headers; wrong id 400; oversized 413.
    thread, answers = invoke_in_background(emulator, {"n": 1})
    status, headers, body = emulator.runtime_api("GET", "invocation/next")
    assert status == 200 and json.loads(body) == {"n": 1}
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    assert 25_000 < int(headers["Lambda-Runtime-Deadline-Ms"]) - time.time() * 1000 <= 30_000
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:test-fn")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    status, _, body = emulator.runtime_api("POST", "init/error", b"{}")
    assert status == 403  # init is over once the runtime asked for an event
    status, _, body = emulator.runtime_api("POST", "invocation/not-this-one/response", b"{}")
    assert status == 400 and json.loads(body) == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    status, _, body = emulator.runtime_api("POST", f"invocation/{request_id}/response", b"x" * (MAX + 101))
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    thread.join(10)
    assert error_of(answers[0])["errorType"] == "Function.ResponseSizeTooLarge"
    status, _, _ = emulator.runtime_api("POST", f"invocation/{request_id}/response", b"{}")
    assert status == 403  # no longer in flight

    # 2: an error report, passed through with its body.
    thread, answers = invoke_in_background(emulator, {"n": 2})
    _, headers, _ = emulator.runtime_api("GET", "invocation/next")
    failure = {"errorMessage": "bad", "errorType": "KeyError", "stackTrace": []}
    status, _, body = emulator.runtime_api(
        "POST", f"invocation/{headers['Lambda-Runtime-Aws-Request-Id']}/error", json.dumps(failure).encode(),
        {"Lambda-Runtime-Function-Error-Type": "KeyError", "Content-Type": "application/json"})
    assert status == 202 and json.loads(body) == {"status": "OK"}
    thread.join(10)
    assert error_of(answers[0]) == failure

    # 3: a result exactly at the limit is accepted and returned byte for byte.
    thread, answers = invoke_in_background(emulator, {"n": 3})
    _, headers, _ = emulator.runtime_api("GET", "invocation/next")
    payload = b'"' + b"y" * (MAX - 2) + b'"'
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    status, _, _ = emulator.runtime_api("POST", f"invocation/{request_id}/response", payload)
    assert status == 202
    thread.join(10)
    assert answers[0].ok and answers[0].body == payload
    assert [r.init_duration_ms is None for r in emulator.reports()] == [False, True, True]


def test_runtime_api_init_error(start):
    emulator = start("app.echo", BUILDER_RUNTIME_COMMAND=IDLE_RUNTIME, AWS_LAMBDA_FUNCTION_TIMEOUT="30")
    thread, answers = invoke_in_background(emulator, {})
    deadline = time.monotonic() + 5
    failure = {"errorMessage": "Unable to import module 'x'", "errorType": "Runtime.ImportModuleError"}
    while True:  # the runtime process may not be spawned yet the first time round
        status, _, body = emulator.runtime_api("POST", "init/error", json.dumps(failure).encode(),
                                               {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
        if status == 202 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 202
    thread.join(10)
    assert error_of(answers[0]) == failure


# -- builder.local: planning, parsing and the client's errors ---------------------------------


def test_sandbox_spec_is_lambda_like():
    spec = local.sandbox_spec("img:1", "orders/create", "functions/orders/create.handler", port=9000,
                              memory_mb=256, timeout_s=10, env={"AWS_REGION": "eu-west-1", "TABLE": "t"})
    assert spec.image == "img:1" and spec.command == ("functions/orders/create.handler",)
    assert spec.read_only and spec.tmpfs == {"/tmp": "rw,exec,size=512m"}
    assert spec.user == "993:990" and spec.cap_drop == ("ALL",) and spec.security_opt == ("no-new-privileges",)
    assert spec.mem_limit == spec.memswap_limit == "256m"
    assert spec.ports == {8080: 9000}
    assert spec.environment["AWS_LAMBDA_FUNCTION_NAME"] == "orders/create"
    assert spec.environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert spec.environment["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert spec.environment["AWS_REGION"] == "eu-west-1" and spec.environment["TABLE"] == "t"
    assert spec.environment["TZ"] == "UTC" and spec.environment["LAMBDA_TASK_ROOT"] == "/var/task"
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", spec.name)
    kwargs = spec.docker_run_kwargs()
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 9000)}
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == "256m" and kwargs["pids_limit"] == 1024
    assert kwargs["ulimits"] == [{"name": "nofile", "soft": 1024, "hard": 1024}]


def test_sandbox_spec_mounts_a_tmp_folder_instead_of_a_tmpfs():
    spec = local.sandbox_spec("img", "fn", "app.handler", port=9000, tmp_mb=2048, tmp_dir="/scratch/fn/tmp")
    assert spec.tmpfs == {} and spec.mounts == {"/scratch/fn/tmp": "/tmp"} and spec.tmp_mb == 2048
    assert spec.docker_run_kwargs()["volumes"] == {"/scratch/fn/tmp": {"bind": "/tmp", "mode": "rw"}}


def test_scratch_says_why_it_cannot_mount(monkeypatch):
    from builder.local import scratch

    assert "not on this machine" in scratch.available("tcp://10.0.0.5:2376")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert scratch.available("unix:///var/run/docker.sock") == "mounting a file system needs root"


def test_sandbox_spec_arguments_win_and_runtime_api_is_dropped():
    spec = local.sandbox_spec("img", "fn", "app.handler", port=9000,
                              env={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096", "AWS_LAMBDA_RUNTIME_API": "x"})
    assert spec.environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert "AWS_LAMBDA_RUNTIME_API" not in spec.environment
    with pytest.raises(TypeError):
        spec.environment["X"] = "y"  # type: ignore[index]


def test_sandbox_spec_relaxed():
    spec = local.sandbox_spec("img", "fn", "app.handler", port=9000, sandbox=False)
    assert not spec.read_only and spec.user is None and spec.mem_limit is None and spec.cap_drop == ()
    kwargs = spec.docker_run_kwargs()
    assert "user" not in kwargs and "mem_limit" not in kwargs and kwargs["read_only"] is False
    assert kwargs["environment"]["_HANDLER"] == "app.handler"


@pytest.mark.parametrize("bad", [dict(memory_mb=64), dict(timeout_s=901), dict(port=0), dict(handler="app")])
def test_sandbox_spec_rejects_what_lambda_would(bad):
    args = {"handler": "app.handler", "port": 9000, **bad}
    with pytest.raises(ConfigError):
        local.sandbox_spec("img", "fn", args.pop("handler"), **args)


def test_parse_report():
    text = "\n".join([
        "emulator: handler app.echo",
        "START RequestId: a Version: $LATEST",
        "REPORT RequestId: a\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 45 MB\tInit Duration: 123.45 ms\t",
        "2024-01-01T00:00:00.000000000Z REPORT RequestId: b  Duration: 3000.51 ms  Billed Duration: 3001 ms"
        "  Memory Size: 256 MB  Max Memory Used: 50 MB  Status: timeout  Error Type: Sandbox.Timedout",
        "REPORT RequestId: c\tDuration: 1.00 ms",  # incomplete: skipped
    ])
    assert local.parse_report(text) == [
        local.Report("a", 12.34, 13, 128, 45, 123.45),
        local.Report("b", 3000.51, 3001, 256, 50, None, "timeout", "Sandbox.Timedout"),
    ]
    assert local.parse_report("") == []


def test_invoke_and_wait_ready_say_what_to_do_when_nothing_listens():
    port = free_port()
    with pytest.raises(InvokeError, match="Cannot reach the function"):
        local.invoke(port, b"{}", timeout=2)
    with pytest.raises(InvokeError, match="did not start within"):
        local.wait_ready(port, timeout=0.3)


def test_invoke_client_timeout_is_an_invoke_error(start):
    emulator = start("app.echo")
    with pytest.raises(InvokeError, match="within 0.5 s"):
        local.invoke(emulator.port, b'{"sleep": 2}', timeout=0.5)
    assert emulator.invoke({"after": 1}).ok  # the emulator keeps serving after a client gave up
