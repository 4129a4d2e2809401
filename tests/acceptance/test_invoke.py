"""Acceptance of local invocation (issue 6) with real containers.

Every example function answers its sample event through ``python -m builder invoke`` (the
sandbox) and through the plain ``docker run -p`` + HTTP POST flow, with the same result. The
``tests/fixtures/faulty`` backend then fails the ways Lambda functions fail: a raised exception,
a timeout, a write outside ``/tmp``, memory past ``--memory``, a missing module. One warm
container answers 50 sequential and 10 concurrent invokes; ``run`` serves until Ctrl-C and
removes its container. The CLI is driven as a user would (a subprocess); the SDK is used only to
start the plain containers and to check that nothing is left behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.core.errors import InvokeError
from builder.engine.docker_engine import DockerEngine
from builder.local import runner
from builder.local import sandbox as local
from builder.project import config
from builder.sam import template as sam
from tests.acceptance.example_cases import FUNCTIONS, check_result, sample_event
from tests.helpers import FIXTURES, REPO, TEST_TAG, built_copy, free_port, interruptible, run_cli

engine = DockerEngine()  # the engine these tests or benchmarks talk to

pytestmark = pytest.mark.docker

FAULTY = FIXTURES / "faulty"
INVOKE_ERROR = InvokeError.exit_code  # 7


@dataclass(frozen=True)
class CliInvoke:
    """What ``python -m builder invoke`` did: exit code, stdout as JSON, stderr and its REPORTs."""

    code: int
    body: dict
    stderr: str
    reports: list[local.Report]


def invoke_cli(root: Path, function: str, *args: str, port: int | None = None, stdin: str | None = None) -> CliInvoke:
    argv = ["--project", str(root), "invoke", "--function", function, "--tag", TEST_TAG,
            "--port", str(port or free_port()), *args]
    if stdin is None:
        done = run_cli(*argv)
    else:  # `--event -`: the event on stdin
        done = subprocess.run([sys.executable, "-m", "builder", *argv], cwd=REPO, input=stdin,
                              capture_output=True, text=True, check=False)
    assert done.stdout.count("\n") == 1, f"stdout must be the response body alone:\n{done.stdout}\n{done.stderr}"
    return CliInvoke(done.returncode, json.loads(done.stdout), done.stderr, local.parse_report(done.stderr))


def post(port: int, event: dict, timeout: float = 30) -> tuple[int, dict, dict]:
    """POST an event to the invoke endpoint the way curl would: status, headers, JSON body."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{local.INVOKE_PATH}", data=json.dumps(event).encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def containers_named(docker_engine, name: str) -> list:
    return [c for c in docker_engine.client().containers.list(all=True, filters={"name": name}) if c.name == name]


@pytest.fixture
def cleanup(docker_engine):
    """Names of containers a test may leave behind when it fails; removed at teardown."""
    names: list[str] = []
    yield names
    for name in names:
        for container in containers_named(docker_engine, name):
            container.remove(force=True)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, base_image, docker_engine):
    """tests/fixtures/faulty, copied and built (tag ``pytest``); its images are removed afterwards."""
    yield from built_copy(FAULTY, tmp_path_factory.mktemp("faulty") / "backend", docker_engine)


def _one_report(outcome: CliInvoke) -> local.Report:
    assert len(outcome.reports) == 1, outcome.stderr
    return outcome.reports[0]


# -- the eight example functions --------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_invoke_and_plain_docker_run_answer_the_sample_event_alike(built_example, docker_engine, cleanup, function):
    root, _ = built_example
    port = free_port()
    cleanup.append(f"builder-{function}-{port}")
    outcome = invoke_cli(root, function, port=port)
    assert outcome.code == 0, outcome.stderr
    check_result(function, outcome.body)
    lines = [line for line in outcome.stderr.splitlines() if line.startswith(("START", "END", "REPORT"))]
    assert [line.split()[0] for line in lines] == ["START", "END", "REPORT"], outcome.stderr
    report = _one_report(outcome)
    assert all(report.request_id in line for line in lines), outcome.stderr
    assert report.init_duration_ms is not None and report.init_duration_ms > 0, report  # a cold start
    # the memory size the template gives the function (Globals' 256 MB, or its own)
    memory = sam.effective_properties(sam.load_template(root / "template.yaml").data,
                                      config.load(root).function(function).logical_id).get("MemorySize", 128)  # fmt: skip
    assert report.memory_size_mb == memory and 0 < report.max_memory_used_mb <= memory, report
    assert report.status is None, report
    assert not containers_named(docker_engine, f"builder-{function}-{port}"), "invoke left its container"

    # The seed's flow: `docker run -p PORT:8080 IMAGE`, then POST the event.
    image = config.load(root).image(function, TEST_TAG)
    plain_port = free_port()
    container = docker_engine.client().containers.run(image, detach=True, ports={"8080/tcp": ("127.0.0.1", plain_port)})
    try:
        local.wait_ready(plain_port, 30)
        status, headers, body = post(plain_port, sample_event(function))
    finally:
        container.remove(force=True)
    assert status == 200 and "X-Amz-Function-Error" not in headers, (headers, body)
    check_result(function, body)
    assert body == outcome.body


# -- failures, as Lambda has them -------------------------------------------------------------


def test_a_raising_handler_answers_its_error_with_the_header_and_exits_non_zero(faulty, docker_engine):
    outcome = invoke_cli(faulty, "raises")
    assert outcome.code == INVOKE_ERROR, outcome.stderr
    assert outcome.body["errorType"] == "PaymentDeclined", outcome.body
    assert outcome.body["errorMessage"] == "card 4242 declined", outcome.body
    assert any("raises.py" in frame for frame in outcome.body["stackTrace"]), outcome.body
    assert "raises failed (Unhandled)" in outcome.stderr
    report = _one_report(outcome)
    assert report.init_duration_ms is not None, report
    assert "[ERROR] PaymentDeclined: card 4242 declined" in outcome.stderr  # the runtime's log line

    # The header itself, over plain HTTP against the plain `docker run -p` container.
    port = free_port()
    image = config.load(faulty).image("raises", TEST_TAG)
    container = docker_engine.client().containers.run(image, detach=True, ports={"8080/tcp": ("127.0.0.1", port)})
    try:
        local.wait_ready(port, 30)
        status, headers, body = post(port, {"card": "0000"})
    finally:
        container.remove(force=True)
    assert status == 200 and headers["X-Amz-Function-Error"] == "Unhandled", headers
    assert (body["errorType"], body["errorMessage"]) == ("PaymentDeclined", "card 0000 declined"), body


def test_a_handler_slower_than_its_timeout_is_stopped(faulty):
    started = time.monotonic()
    outcome = invoke_cli(faulty, "slow", "--timeout", "1")  # the handler sleeps 30 s
    assert time.monotonic() - started < 20
    assert outcome.code == INVOKE_ERROR, outcome.stderr
    assert outcome.body["errorType"] == "Sandbox.Timedout", outcome.body
    assert outcome.body["errorMessage"].endswith("Task timed out after 1.00 seconds"), outcome.body
    report = _one_report(outcome)
    assert (report.status, report.error_type) == ("timeout", "Sandbox.Timedout"), report
    assert 1000 <= report.duration_ms < 2500, report


def test_after_a_timeout_the_warm_container_starts_a_fresh_environment(faulty, cleanup):
    spec = runner.spec_for(engine, config.load(faulty), "slow", tag=TEST_TAG, port=free_port(), timeout_s=1)
    cleanup.append(spec.name)
    timed_out = runner.invoke(engine, spec, b'{"seconds": 30}', keep_warm=True)
    after = runner.invoke(engine, spec, b'{"seconds": 0}', keep_warm=True)
    assert timed_out.invocation.function_error == "Unhandled" and not timed_out.reused
    assert after.invocation.ok and after.reused, after
    assert json.loads(after.invocation.body) == {"slept": True}
    [report] = local.parse_report("\n".join(after.logs))
    assert report.init_duration_ms is not None, after.logs  # cold again: Lambda discards a timed-out sandbox


def test_writing_outside_tmp_fails_in_the_sandbox_and_works_without_it(faulty):
    denied = invoke_cli(faulty, "writer")  # writes /var/task/output.txt
    assert denied.code == INVOKE_ERROR, denied.stderr
    assert denied.body["errorType"] == "OSError", denied.body
    assert "Read-only file system: '/var/task/output.txt'" in denied.body["errorMessage"], denied.body

    in_tmp = invoke_cli(faulty, "writer", "--event", "-", stdin='{"path": "/tmp/output.txt"}')
    assert in_tmp.code == 0, in_tmp.stderr
    assert in_tmp.body == {"path": "/tmp/output.txt", "bytes": 8, "uid": 993}

    relaxed = invoke_cli(faulty, "writer", "--no-sandbox")
    assert relaxed.code == 0, relaxed.stderr
    assert relaxed.body == {"path": "/var/task/output.txt", "bytes": 8, "uid": 0}


def test_allocating_past_the_memory_size_kills_the_runtime(faulty, tmp_path):
    outcome = invoke_cli(faulty, "hog", "--memory", "128", "--timeout", "30")  # allocates 1024 MB
    assert outcome.code == INVOKE_ERROR, outcome.stderr
    # Lambda answers a killed runtime with Runtime.ExitError; the REPORT names the cause.
    assert outcome.body["errorType"] == "Runtime.ExitError", outcome.body
    assert outcome.body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed"), outcome.body
    report = _one_report(outcome)
    assert (report.status, report.error_type) == ("error", "Runtime.OutOfMemory"), report
    assert report.max_memory_used_mb == report.memory_size_mb == 128, report

    event = tmp_path / "small.json"
    event.write_text('{"mb": 200}')
    roomy = invoke_cli(faulty, "hog", "--memory", "512", "--timeout", "30", "--event", str(event))
    assert roomy.code == 0, roomy.stderr
    assert roomy.body == {"allocated_mb": 200}
    assert 200 <= _one_report(roomy).max_memory_used_mb <= 512


def test_a_missing_module_is_an_init_error(faulty):
    outcome = invoke_cli(faulty, "missing")
    assert outcome.code == INVOKE_ERROR, outcome.stderr
    assert outcome.body["errorType"] == "Runtime.ImportModuleError", outcome.body
    assert "No module named 'faulty_plugins'" in outcome.body["errorMessage"], outcome.body
    report = _one_report(outcome)
    assert (report.status, report.error_type) == ("error", "Runtime.ImportModuleError"), report

    # The same image with the plugin name pointed at a module that exists: --env reaches the init.
    fixed = invoke_cli(faulty, "missing", "--env", "FAULTY_PLUGIN=json")
    assert fixed.code == 0, fixed.stderr
    assert fixed.body == {"plugin": "json"}


# -- the sandbox ------------------------------------------------------------------------------


def test_the_sandbox_is_lambdas_by_default(faulty):
    outcome = invoke_cli(faulty, "probe", "--memory", "256", "--timeout", "7", "--env", "GREETING=hi")
    assert outcome.code == 0, outcome.stderr
    probe = outcome.body
    assert (probe["uid"], probe["gid"]) == (993, 990), probe  # Lambda's sbx_user1051, with its name and home
    assert (probe["user"], probe["home"]) == ("sbx_user1051", "/home/sbx_user1051"), probe
    assert probe["cap_eff"] == "0000000000000000" and probe["no_new_privs"] == "1", probe
    assert probe["nofile"] == [1024, 1024], probe
    assert probe["memory_limit"] == str(256 * 1024 * 1024), probe  # --memory, enforced by the cgroup
    assert 512 * 1024 * 1024 <= probe["tmp_bytes"] < 1.05 * 512 * 1024 * 1024, probe  # a file system of 512 MB
    assert probe["root_writable"] is False, probe
    assert probe["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": None,  # the emulator's, not a Lambda variable
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": "/var/task",
        "_HANDLER": "functions/faults/probe.handler",
        "GREETING": "hi",
    }, probe
    assert probe["context"]["function_name"] == "probe" and probe["context"]["memory_limit_in_mb"] == 256, probe
    assert 5000 < probe["context"]["remaining_ms"] <= 7000, probe
    assert _one_report(outcome).memory_size_mb == 256


def test_no_sandbox_relaxes_it(faulty):
    outcome = invoke_cli(faulty, "probe", "--no-sandbox")
    assert outcome.code == 0, outcome.stderr
    probe = outcome.body
    assert probe["uid"] == 0 and probe["root_writable"] is True, probe
    assert probe["cap_eff"] != "0000000000000000" and probe["no_new_privs"] == "0", probe
    assert probe["memory_limit"] not in ("134217728", None), probe  # no --memory limit
    assert probe["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "probe", probe  # Lambda's variables stay


# -- warm containers --------------------------------------------------------------------------


def test_50_sequential_invokes_on_one_warm_container(built_example, cleanup):
    root, _ = built_example
    function = "orders-api"
    spec = runner.spec_for(engine, config.load(root), function, tag=TEST_TAG, port=free_port())
    cleanup.append(spec.name)
    event = json.dumps(sample_event(function)).encode()
    results = [runner.invoke(engine, spec, event, keep_warm=True) for _ in range(50)]  # the fixture removes it
    container = engine.find_running(spec.name)
    assert container is not None
    all_logs = "\n".join(engine.logs(container))
    assert [r.reused for r in results] == [False] + [True] * 49
    ids = []
    for result in results:
        assert result.invocation.ok, result.invocation
        check_result(function, json.loads(result.invocation.body))
        [report] = local.parse_report("\n".join(result.logs))  # each result carries its own REPORT
        assert report.request_id == result.invocation.request_id
        ids.append(report.request_id)
    assert len(set(ids)) == 50
    reports = local.parse_report(all_logs)  # one container, one environment: init once
    assert [r.request_id for r in reports] == ids
    assert reports[0].init_duration_ms is not None
    assert all(r.init_duration_ms is None for r in reports[1:]), [r for r in reports if r.init_duration_ms]


def test_10_concurrent_invokes_are_all_answered(built_example, cleanup):
    root, _ = built_example
    function = "user-auth"
    spec = runner.spec_for(engine, config.load(root), function, tag=TEST_TAG, port=free_port())
    cleanup.append(spec.name)
    container = runner.start(engine, spec)
    try:
        event = json.dumps(sample_event(function)).encode()
        port = spec.ports[local.CONTAINER_PORT]
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: local.invoke(port, event, timeout=60), range(10)))
        deadline = time.monotonic() + 5  # the last REPORT may trail its response a little
        reports = local.parse_report("\n".join(engine.logs(container)))
        while len(reports) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
            reports = local.parse_report("\n".join(engine.logs(container)))
    finally:
        engine.remove(container)
    for answer in answers:
        assert answer.ok, answer
        check_result(function, json.loads(answer.body))
    assert len({a.request_id for a in answers}) == 10
    assert sorted(r.request_id for r in reports) == sorted(a.request_id for a in answers)
    assert sum(r.init_duration_ms is not None for r in reports) == 1  # queued on one environment


def test_keep_warm_reuses_the_container_between_cli_invokes(built_example, docker_engine, cleanup):
    root, _ = built_example
    port = free_port()
    name = f"builder-health-{port}"
    cleanup.append(name)
    first = invoke_cli(root, "health", "--keep-warm", port=port)
    assert containers_named(docker_engine, name), "--keep-warm must leave the container running"
    second = invoke_cli(root, "health", "--keep-warm", port=port)
    for outcome in (first, second):
        assert outcome.code == 0, outcome.stderr
        check_result("health", outcome.body)
    assert _one_report(first).init_duration_ms is not None
    assert _one_report(second).init_duration_ms is None, second.stderr  # warm, and only its own lines
    assert _one_report(first).request_id != _one_report(second).request_id


# -- run ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_serves_until_stopped_and_removes_its_container(built_example, docker_engine, cleanup, stop):
    root, _ = built_example
    port = free_port()
    name = f"builder-health-{port}"
    cleanup.append(name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "builder", "--project", str(root), "run", "--function", "health", "--tag", TEST_TAG,
         "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible,
    )
    streamed: list[str] = []
    reported = threading.Event()

    def follow() -> None:
        for line in proc.stdout:
            streamed.append(line)
            if line.startswith("REPORT"):
                reported.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    try:
        local.wait_ready(port, 60)
        status, _, body = post(port, sample_event("health"))
        assert status == 200
        check_result("health", body)
        assert reported.wait(10), "the logs are not streamed: " + "".join(streamed)
        assert containers_named(docker_engine, name)
        proc.send_signal(stop)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert f'curl -XPOST "http://localhost:{port}{local.INVOKE_PATH}"' in stderr
    assert [r.init_duration_ms is not None for r in local.parse_report("".join(streamed))] == [True]
    assert not containers_named(docker_engine, name), "run left its container behind"
