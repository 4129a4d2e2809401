"""The probes of docs/fidelity.md: one per Lambda behaviour, run against any invoke endpoint.

Each probe sends what a user would send to an endpoint (a ``Target``: builder's ``run``, or
AWS's Runtime Interface Emulator running the same image) and returns what it observed, and
whether that is what Lambda does. ``tests/acceptance/test_fidelity.py`` runs every probe
against builder and fails on any that does not match; ``bench/fidelity.py`` runs them against
both and writes the table. The function is ``tests/fixtures/lambdalike``'s probe.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import stop_process

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
LAMBDA_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LD_PATH = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
MAX_REQUEST = 6291456
MAX_RESPONSE = 6291556
DOCS = "https://docs.aws.amazon.com/lambda/latest/dg/"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Target:
    """An invoke endpoint on 127.0.0.1 and a way to read everything its function logged."""

    name: str
    port: int
    logs: Callable[[], str]
    stop: Callable[[], None]
    memory_mb: int = 128
    timeout_s: int = 10

    def post(self, body: bytes, headers: dict[str, str] | None = None, timeout: float = 60) -> Answer:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=body, method="POST",
                                         headers=headers or {})
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, dict(response.headers), response.read(), time.monotonic() - began)
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(exc.code, dict(exc.headers), exc.read(), time.monotonic() - began)

    def do(self, action: str, headers: dict[str, str] | None = None, **fields) -> Answer:
        return self.post(json.dumps({"do": action, **fields}).encode(), headers)

    def wait_logs(self, needle: str, seconds: float = 10) -> str:
        deadline = time.monotonic() + seconds
        while needle not in (text := self.logs()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return text


def edit_probe(root, marker: str) -> None:
    """Change what the lambdalike probe's environment ID starts with (an edit a user would make)."""
    path = root / "functions" / "probe.py"
    text = path.read_text()
    start = text.index("ENVIRONMENT_ID = ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f'ENVIRONMENT_ID = "{marker}-" + str(uuid.uuid4())' + text[end:])


def reports(text: str) -> list[dict[str, str]]:
    """The REPORT lines' fields."""
    found = []
    for line in text.splitlines():
        if "REPORT RequestId:" in line:
            found.append(dict(re.findall(r"([A-Z][A-Za-z ]+): ([^\t]+?)(?: ms| MB)?(?=\t|$)", line.split("REPORT ", 1)[1])))
    return found


Probe = Callable[[Target], tuple[str, bool]]


@dataclass(frozen=True)
class Behaviour:
    """One row of docs/fidelity.md."""

    key: str
    title: str
    lambda_does: str
    source: str
    setup: str  # which target the probe needs (see ``SETUPS``)
    probe: Probe
    tests: tuple[str, ...] = field(default=())


# -- the probes ---------------------------------------------------------------------------------


def tmp_exec(t: Target):
    out = t.do("fill_tmp", mb=1).json() or {}
    return f"program in /tmp: {out.get('exec', out)!r}", out.get("exec") == "ran from /tmp"


def tmp_not_memory(t: Target):
    answer = t.do("fill_tmp", mb=300)
    out = answer.json() or {}
    if answer.status == 200 and out.get("written_mb") == 300:
        return f"300 MB written at {t.memory_mb} MB memory: ok", True
    return f"300 MB at {t.memory_mb} MB memory: {out.get('errorType', answer.status)}", False


def tmp_size(size: int) -> Probe:
    def probe(t: Target):
        out = t.do("fill_tmp", mb=1).json() or {}
        total = out.get("tmp_mb", 0)
        return f"/tmp is {total} MB", size <= out.get("tmp_free_mb", 0) and total < size * 1.05
    return probe


def freeze(t: Target):
    first = (t.do("ticker").json() or {}).get("ticks", 0)
    time.sleep(2)
    ticks = (t.do("ticker").json() or {}).get("ticks", 0) - first
    return f"a 20 Hz thread ticked {ticks} times in 2 s idle", ticks <= 3


def tail(t: Target):
    answer = t.do("talk", {"X-Amz-Log-Type": "Tail"}, lines=2)
    result = answer.headers.get("X-Amz-Log-Result")
    if not result:
        return "no X-Amz-Log-Result", False
    text = base64.b64decode(result).decode(errors="replace")
    ok = "START RequestId" in text and "line 1 of the function's log" in text and "REPORT RequestId" in text
    return f"X-Amz-Log-Result: {len(text)} bytes of log", ok


def event(t: Target):
    answer = t.do("sleep", {"X-Amz-Invocation-Type": "Event"}, seconds=2)
    ok = answer.status == 202 and answer.seconds < 1 and not answer.body
    return f"HTTP {answer.status} after {answer.seconds:.1f} s", ok


def dry_run(t: Target):
    before = t.logs().count("START RequestId")
    answer = t.do("sleep", {"X-Amz-Invocation-Type": "DryRun"}, seconds=1)
    time.sleep(0.5)
    ran = t.logs().count("START RequestId") > before
    return f"HTTP {answer.status}, {'ran' if ran else 'not run'}", answer.status == 204 and not ran


def not_json(t: Target):
    before = t.logs().count("START RequestId")
    answer = t.post(b"not json {")
    kind = answer.headers.get("X-Amzn-ErrorType") or (answer.json() or {}).get("errorType")
    ran = t.logs().count("START RequestId") > before
    ok = answer.status == 400 and kind == "InvalidRequestContentException" and not ran
    return f"HTTP {answer.status} {kind}{', function ran' if ran else ''}", ok


def environment(t: Target):
    env = (t.do("environ").json() or {}).get("env", {})
    wrong = [k for k, v in {"LANG": "en_US.UTF-8", "PATH": LAMBDA_PATH, "LD_LIBRARY_PATH": LAMBDA_LD_PATH,
                            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "AWS_LAMBDA_FUNCTION_TIMEOUT": None}.items()
             if env.get(k) != v]
    return ("as Lambda's" if not wrong else "differs: " + ", ".join(f"{k}={env.get(k)}" for k in wrong)), not wrong


def concurrency(t: Target):
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: t.do("sleep", seconds=1.5), range(3)))
    environments = {(a.json() or {}).get("environment") for a in answers}
    return f"3 concurrent invokes ran in {len(environments)} environment(s)", len(environments) == 3


def timeout_body(t: Target):
    answer = t.do("sleep", seconds=5)
    message = (answer.json() or {}).get("errorMessage", "")
    ok = bool(re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", message))
    return (re.sub(r"RequestId: \S+", "RequestId: <id>", message) if message else f"HTTP {answer.status}"), ok


def timeout_ends(t: Target):
    answer = t.do("sleep", seconds=5)
    text = t.wait_logs("Status: timeout", 5)
    report = reports(text)[-1] if reports(text) else {}
    kind = (answer.json() or {}).get("errorType")
    ok = 1 <= answer.seconds < 2.5 and kind == "Sandbox.Timedout" and report.get("Status") == "timeout"
    return f"{kind} after {answer.seconds:.1f} s, REPORT Status: {report.get('Status')}", ok


def cold_after_timeout(t: Target):
    t.do("sleep", seconds=5)
    t.do("sleep", seconds=0)
    text = t.wait_logs("REPORT", 3)
    last = reports(text)[-1] if reports(text) else {}
    return f"next invoke {'cold' if 'Init Duration' in last else 'warm'}", "Init Duration" in last


def exit_status(t: Target):
    answer = t.do("exit", status=3)
    text = t.wait_logs("exit status 3\nRuntime.ExitError", 5)
    report = (reports(t.wait_logs("Status: error", 3)) or [{}])[-1]
    used = int(report.get("Max Memory Used", "0") or 0)
    ok = ((answer.json() or {}).get("errorType") == "Runtime.ExitError" and
          "Runtime exited with error: exit status 3\nRuntime.ExitError" in text and 0 < used < t.memory_mb)
    return f"{(answer.json() or {}).get('errorType')}, exit logged: {'exit status 3' in text}, Max Memory Used {used} MB", ok


def out_of_memory(t: Target):
    answer = t.do("alloc", mb=400)
    body = answer.json() or {}
    report = (reports(t.wait_logs("Error Type", 5)) or [{}])[-1]
    ok = (body.get("errorType") == "Runtime.ExitError" and body.get("errorMessage", "").endswith("signal: killed")
          and report.get("Error Type") == "Runtime.OutOfMemory")
    return f"body {body.get('errorType', answer.status)}, REPORT {report.get('Error Type')}", ok


def init_report(t: Target):
    t.do("environ")
    text = t.wait_logs("INIT_REPORT", 5)
    line = next((x for x in text.splitlines() if "INIT_REPORT" in x), "")
    ok = "Phase: init" in line and "Status: error" in line and "Error Type: " in line
    return (line.split("\t", 1)[-1][:60] if line else "no INIT_REPORT line"), ok


def handler_not_found(t: Target):
    answer = t.do("environ")
    body = answer.json() or {}
    ok = body.get("errorType") == "Runtime.HandlerNotFound" and body.get("requestId") == answer.headers.get(
        "X-Amzn-RequestId") and bool(body.get("requestId"))
    return f"{body.get('errorType')}, requestId {body.get('requestId')!r:.12}", ok


def request_limit(t: Target):
    answer = t.post(b'"' + b"x" * MAX_REQUEST + b'"')
    kind = (answer.json() or {}).get("errorType") or answer.headers.get("X-Amzn-ErrorType")
    return f"HTTP {answer.status} {kind}", answer.status == 413 and kind == "RequestEntityTooLargeException"


def response_limit(t: Target):
    at_limit = t.do("big", size=MAX_RESPONSE - 2)
    over = t.do("big", size=MAX_RESPONSE - 1)
    body = over.json() if over.status == 200 else None
    message = (body or {}).get("errorMessage", "") if isinstance(body, dict) else ""
    ok = (at_limit.status == 200 and len(at_limit.body) == MAX_RESPONSE and isinstance(body, dict)
          and body.get("errorType") == "Function.ResponseSizeTooLarge" and f"({MAX_RESPONSE} bytes)" in message)
    after = t.do("environ")
    ok = ok and after.status == 200
    return f"{MAX_RESPONSE} bytes: HTTP {at_limit.status}; one more: {(body or {}).get('errorType', over.status)}", ok


def json_logs(t: Target):
    t.do("environ")
    text = t.wait_logs("platform.report", 5)
    types = [json.loads(x)["type"] for x in text.splitlines() if x.startswith("{") and '"platform.' in x]
    ok = {"platform.start", "platform.report"} <= set(types)
    return (", ".join(dict.fromkeys(types)) or "START/REPORT as text"), ok


def function_error(t: Target):
    answer = t.do("fail", why="a test")
    body = answer.json() or {}
    ok = (answer.status == 200 and answer.headers.get("X-Amz-Function-Error") == "Unhandled"
          and body.get("errorType") == "ValueError" and isinstance(body.get("stackTrace"), list))
    return f"HTTP {answer.status}, {answer.headers.get('X-Amz-Function-Error')}, {body.get('errorType')}", ok


def init_once(t: Target):
    t.do("environ")
    t.do("environ")
    found = reports(t.wait_logs("REPORT", 3))[-2:]
    flags = ["Init Duration" in r for r in found]
    return f"Init Duration on invokes: {flags}", flags == [True, False]


def platform_lines(t: Target):
    t.do("environ")
    text = t.wait_logs("REPORT RequestId", 5)
    starts = re.findall(r"START RequestId: (\S+)", text)
    request_id = starts[-1] if starts else "?"
    found = [kind for kind in ("START", "END", "REPORT") if f"{kind} RequestId: {request_id}" in text]
    return f"{', '.join(found) or 'none'} with the request ID", len(found) == 3


def report_memory(t: Target):
    t.do("environ")
    report = (reports(t.wait_logs("REPORT", 3)) or [{}])[-1]
    size, used = int(report.get("Memory Size", 0)), int(report.get("Max Memory Used", 0))
    return f"Memory Size {size} MB, Max Memory Used {used} MB", size == t.memory_mb and 0 < used < size


def memory_enforced(t: Target):
    out = t.do("alloc", mb=t.memory_mb + 100).json() or {}
    refused = "allocated_mb" not in out
    return f"{t.memory_mb + 100} MB at {t.memory_mb} MB: {out.get('errorType') if refused else 'allowed'}", refused


def read_only(t: Target):
    out = t.do("context").json() or {}
    return f"/var/task writable: {out.get('root_writable')}", out.get("root_writable") is False


def non_root(t: Target):
    out = t.do("context").json() or {}
    uid, user = out.get("uid"), out.get("user")
    return f"uid {uid} ({user or 'no name'})", isinstance(uid, int) and uid != 0 and user == "sbx_user1051"


def context_fields(t: Target):
    out = t.do("context").json() or {}
    ok = (out.get("function_name") == "probe" and out.get("memory_limit_in_mb") == t.memory_mb
          and 0 < out.get("remaining_ms", 0) <= t.timeout_s * 1000)
    return f"name {out.get('function_name')}, {out.get('memory_limit_in_mb')} MB, {out.get('remaining_ms')} ms left", ok


def client_context(t: Target):
    header = base64.b64encode(json.dumps({"custom": {"tenant": "a"}, "env": {}, "client": {}}).encode()).decode()
    out = t.do("context", {"X-Amz-Client-Context": header}).json() or {}
    return f"context.client_context.custom = {out.get('client_custom')}", out.get("client_custom") == {"tenant": "a"}


def trace_and_arn(t: Target):
    out = t.do("context").json() or {}
    ok = bool(re.match(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", out.get("trace_id") or "")) and bool(
        re.fullmatch(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:probe", out.get("arn") or ""))
    return f"trace {str(out.get('trace_id'))[:22]}..., {out.get('arn')}", ok


def request_id_header(t: Target):
    answer = t.do("context")
    header, body = answer.headers.get("X-Amzn-RequestId"), answer.json() or {}
    return f"X-Amzn-RequestId {'=' if header == body.get('request_id') else '!='} context.aws_request_id", bool(
        header) and header == body.get("request_id")


def concurrent_answered(t: Target):
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: t.do("sleep", seconds=0.2), range(5)))
    ok = sum(a.status == 200 for a in answers)
    return f"{ok} of 5 concurrent invokes answered", ok == 5


def _d(page: str) -> str:
    return DOCS + page


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("tmp-exec", "/tmp is executable", "Functions may write programs to /tmp and run them",
              _d("configuration-ephemeral-storage.html"), "probe", tmp_exec, ("test_programs_run_from_tmp",)),
    Behaviour("tmp-not-memory", "/tmp is storage, not memory", "/tmp is ephemeral storage of its own, apart from "
              "the function's memory", _d("configuration-ephemeral-storage.html"), "probe", tmp_not_memory,
              ("test_tmp_is_storage_not_memory",)),
    Behaviour("tmp-size", "/tmp size is 512 MB by default", "512 MB of /tmp unless configured",
              _d("configuration-ephemeral-storage.html"), "probe", tmp_size(512),
              ("test_tmp_size_is_the_templates_ephemeral_storage_or_the_flag",)),
    Behaviour("tmp-configured", "EphemeralStorage sets /tmp's size", "512 to 10,240 MB, as configured",
              _d("configuration-ephemeral-storage.html"), "big-tmp", tmp_size(1024),
              ("test_tmp_size_is_the_templates_ephemeral_storage_or_the_flag",)),
    Behaviour("freeze", "An idle environment is frozen", "Between invokes the environment is frozen: background "
              "threads do not run", _d("lambda-runtime-environment.html"), "probe", freeze,
              ("test_a_warm_environment_is_frozen_between_invokes", "test_invoke_keep_warm_freezes_its_container")),
    Behaviour("log-tail", "X-Amz-Log-Type: Tail", "The last 4 KB of the invoke's log, base64, in X-Amz-Log-Result",
              "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", tail,
              ("test_log_type_tail_returns_the_last_4_kb_of_the_invokes_log",)),
    Behaviour("event", "InvocationType Event", "HTTP 202 at once; the function runs queued",
              "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", event,
              ("test_event_invocations_are_answered_at_once_and_dry_runs_not_run",)),
    Behaviour("dry-run", "InvocationType DryRun", "HTTP 204; the function does not run",
              "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", dry_run,
              ("test_event_invocations_are_answered_at_once_and_dry_runs_not_run",)),
    Behaviour("not-json", "A body that is not JSON", "HTTP 400 InvalidRequestContentException; the function "
              "does not run", "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", not_json,
              ("test_a_body_that_is_not_json_is_refused_and_the_function_does_not_run",)),
    Behaviour("environment", "Lambda's environment variables", "LANG=en_US.UTF-8, PATH and LD_LIBRARY_PATH with "
              "/opt and /var/task, AWS_EXECUTION_ENV; no AWS_LAMBDA_FUNCTION_TIMEOUT",
              _d("configuration-envvars.html#configuration-envvars-runtime"), "probe", environment,
              ("test_the_environment_is_lambdas", "test_a_layers_native_library_in_opt_lib_loads_as_on_lambda")),
    Behaviour("concurrency", "Concurrent invokes get more environments", "Each concurrent invoke has an "
              "environment of its own, each with a cold start", _d("lambda-concurrency.html"), "concurrency",
              concurrency, ("test_run_concurrency_serves_each_concurrent_invoke_in_its_own_environment",)),
    Behaviour("timeout-body", "Timeout answer", "errorMessage 'RequestId: <id> Error: Task timed out after 1.00 "
              "seconds'", _d("configuration-timeout.html"), "timeout", timeout_body,
              ("tests/unit/test_emulator.py::test_timeout_kills_and_next_invoke_is_cold",)),
    Behaviour("timeout-ends", "A timeout ends the invoke", "Sandbox.Timedout at the timeout; REPORT Status: "
              "timeout", _d("configuration-timeout.html"), "timeout", timeout_ends,
              ("test_invoke.py::test_a_handler_slower_than_its_timeout_is_stopped",)),
    Behaviour("cold-after-timeout", "After a timeout the environment is new", "The next invoke starts a fresh "
              "environment (Init Duration again)", _d("lambda-runtime-environment.html"), "timeout",
              cold_after_timeout, ("test_invoke.py::test_after_a_timeout_the_warm_container_starts_a_fresh_environment",)),
    Behaviour("exit-status", "A runtime that exits", "Runtime.ExitError; 'Runtime exited with error: exit status 3' "
              "logged; Max Memory Used measured", "https://github.com/aws/aws-lambda-dotnet/issues/480", "probe",
              exit_status, ("test_a_runtime_that_exits_is_logged_and_measured",)),
    Behaviour("out-of-memory", "Out of memory", "Body Runtime.ExitError 'signal: killed'; REPORT Error Type: "
              "Runtime.OutOfMemory", "https://github.com/awslabs/amazon-s3-find-and-forget/pull/283", "probe",
              out_of_memory, ("test_invoke.py::test_allocating_past_the_memory_size_kills_the_runtime",)),
    Behaviour("init-report", "A failed init logs INIT_REPORT", "'INIT_REPORT Init Duration: ... Phase: init "
              "Status: error Error Type: ...'", "https://github.com/DataDog/datadog-lambda-extension/issues/1237",
              "fail-init", init_report, ("test_a_failed_init_logs_init_report",)),
    Behaviour("handler-not-found", "Runtime.HandlerNotFound names the invoke", "The error's requestId is the "
              "invoke's", "https://github.com/serverless/dashboard/pull/464", "no-handler", handler_not_found,
              ("tests/unit/test_emulator.py::test_init_errors_answer_at_once",)),
    Behaviour("request-limit", "Request over 6 MB", "HTTP 413 RequestEntityTooLargeException over 6,291,456 bytes",
              _d("gettingstarted-limits.html"), "probe", request_limit,
              ("test_requests_over_6_mb_are_refused_with_413",)),
    Behaviour("response-limit", "Response over the limit", "Function.ResponseSizeTooLarge over 6,291,556 bytes; "
              "the function still answers after", _d("gettingstarted-limits.html"), "probe", response_limit,
              ("tests/unit/test_emulator.py::test_oversized_response",)),
    Behaviour("json-logs", "LogFormat JSON", "START, END and REPORT as JSON platform records",
              _d("monitoring-cloudwatchlogs-logformat.html"), "json-logs", json_logs,
              ("test_json_log_format_makes_platform_records_json",)),
    Behaviour("function-error", "A raised exception", "HTTP 200, X-Amz-Function-Error: Unhandled, errorType, "
              "errorMessage, stackTrace", _d("python-exceptions.html"), "probe", function_error,
              ("test_invoke.py::test_a_raising_handler_answers_its_error_with_the_header_and_exits_non_zero",)),
    Behaviour("init-once", "Init Duration on the cold start only", "REPORT has Init Duration on an environment's "
              "first invoke only", _d("lambda-runtime-environment.html"), "probe", init_once,
              ("test_invoke.py::test_50_sequential_invokes_on_one_warm_container",)),
    Behaviour("platform-lines", "START, END, REPORT", "Each invoke logs START, END and REPORT with its request ID",
              _d("python-logging.html"), "probe", platform_lines,
              ("test_invoke.py::test_invoke_and_plain_docker_run_answer_the_sample_event_alike",)),
    Behaviour("report-memory", "REPORT's memory", "Memory Size is the function's; Max Memory Used is measured",
              _d("python-logging.html"), "probe", report_memory,
              ("test_invoke.py::test_invoke_and_plain_docker_run_answer_the_sample_event_alike",)),
    Behaviour("memory-enforced", "Memory size is enforced", "A function cannot use more than its memory size",
              _d("configuration-memory.html"), "probe", memory_enforced,
              ("test_invoke.py::test_allocating_past_the_memory_size_kills_the_runtime",)),
    Behaviour("read-only", "Read-only file system outside /tmp", "Only /tmp is writable",
              _d("runtimes-context.html"), "probe", read_only,
              ("test_invoke.py::test_writing_outside_tmp_fails_in_the_sandbox_and_works_without_it",)),
    Behaviour("non-root", "Not root", "Functions run as a user without privileges, sbx_user1051 (uid 993)",
              _d("lambda-runtime-environment.html"), "probe", non_root,
              ("test_invoke.py::test_the_sandbox_is_lambdas_by_default",)),
    Behaviour("context", "The context object", "function_name, memory_limit_in_mb, remaining time under the timeout",
              _d("python-context.html"), "probe", context_fields, ("test_invoke.py::test_the_sandbox_is_lambdas_by_default",)),
    Behaviour("client-context", "X-Amz-Client-Context", "Base64 JSON on invoke; context.client_context in the "
              "function", "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", client_context,
              ("tests/unit/test_emulator.py::test_runtime_api_contract",)),
    Behaviour("trace-arn", "Trace ID and function ARN", "_X_AMZN_TRACE_ID (Root=1-...) and the invoked "
              "function's ARN", _d("runtimes-api.html"), "probe", trace_and_arn,
              ("tests/unit/test_emulator.py::test_runtime_sees_lambda_environment_and_context",)),
    Behaviour("request-id", "X-Amzn-RequestId", "The response names the invoke's request ID",
              "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html", "probe", request_id_header,
              ("test_invoke.py::test_50_sequential_invokes_on_one_warm_container",)),
    Behaviour("concurrent-answered", "Concurrent invokes are all answered", "None is dropped",
              _d("lambda-concurrency.html"), "probe", concurrent_answered,
              ("test_invoke.py::test_10_concurrent_invokes_are_all_answered",)),
)

# What each setup runs: the function, its memory and timeout, and what builder's run or the RIE gets.
SETUPS = {
    "probe": {"function": "probe", "memory": 128, "timeout": 10},
    "big-tmp": {"function": "big-tmp", "memory": 128, "timeout": 10, "rie_env": {}},
    "timeout": {"function": "probe", "memory": 128, "timeout": 1},
    "fail-init": {"function": "probe", "memory": 128, "timeout": 10, "env": {"PROBE_FAIL_INIT": "1"}},
    "no-handler": {"function": "probe", "memory": 128, "timeout": 10, "handler": "functions/probe.no_such_handler"},
    "json-logs": {"function": "json-logs", "memory": 128, "timeout": 10, "env": {"AWS_LAMBDA_LOG_FORMAT": "JSON"}},
    "concurrency": {"function": "probe", "memory": 128, "timeout": 10, "concurrency": 3},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers on port {port}")


def builder_target(root: Path, tag: str, setup: str, repo: Path, engine=None) -> Target:
    """``python -m builder run`` of the setup's function (or, for another handler, the image run plainly)."""
    spec = SETUPS[setup]
    port = free_port()
    if "handler" in spec:  # builder checks handlers when it builds: only a plain run can name a missing one
        from builder.project import config

        image = config.load(root).image(spec["function"], tag)
        container = engine.client().containers.run(image, [spec["handler"]], detach=True,
                                                   ports={"8080/tcp": ("127.0.0.1", port)})
        wait_http(port)
        return Target("builder", port, lambda: container.logs().decode(errors="replace"),
                      lambda: container.remove(force=True), spec["memory"], spec["timeout"])
    argv = [sys.executable, "-m", "builder", "--project", str(root), "run", "--function", spec["function"], "--tag",
            tag, "--port", str(port), "--memory", str(spec["memory"]), "--timeout", str(spec["timeout"]), "--no-build"]
    for key, value in spec.get("env", {}).items():
        if key != "AWS_LAMBDA_LOG_FORMAT":  # json-logs has it from its template
            argv += ["--env", f"{key}={value}"]
    if "concurrency" in spec:
        argv += ["--concurrency", str(spec["concurrency"])]
    proc = subprocess.Popen(argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    wait_http(port)

    def stop() -> None:
        stop_process(proc, 30)

    return Target("builder", port, lambda: "".join(lines), stop, spec["memory"], spec["timeout"])


def rie_target(image: str, handler: str, setup: str, rie: Path, engine) -> Target:
    """The image under AWS's RIE, run as `sam local invoke` runs it (memory limit, Lambda's variables)."""
    spec = SETUPS[setup]
    port = free_port()
    env = {"AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec["timeout"]), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory"]),
           "AWS_LAMBDA_FUNCTION_NAME": "probe", **spec.get("env", {})}
    container = engine.client().containers.run(
        image, ["python3", "-m", "awslambdaric", spec.get("handler", handler)], entrypoint=["/var/rapid/" + rie.name],
        detach=True, environment=env, mem_limit=f"{spec['memory']}m", memswap_limit=f"{spec['memory']}m",
        volumes={str(rie.parent): {"bind": "/var/rapid", "mode": "ro"}}, ports={"8080/tcp": ("127.0.0.1", port)})
    wait_http(port)
    return Target("rie", port, lambda: container.logs().decode(errors="replace"), lambda: container.remove(force=True),
                  spec["memory"], spec["timeout"])


def run_all(start: Callable[[str], Target], only: tuple[str, ...] = ()) -> dict[str, tuple[str, bool]]:
    """Every behaviour's probe (or ``only`` those), each setup's target started once, in a fresh one per probe
    when a probe leaves the environment changed (timeouts, kills)."""
    results: dict[str, tuple[str, bool]] = {}
    for behaviour in BEHAVIOURS:
        if only and behaviour.key not in only:
            continue
        target = start(behaviour.setup)
        try:
            results[behaviour.key] = behaviour.probe(target)
        except Exception as exc:  # a probe that cannot even ask is a mismatch, with the reason
            results[behaviour.key] = (f"probe failed: {type(exc).__name__}: {exc}"[:90], False)
        finally:
            target.stop()
    return results
