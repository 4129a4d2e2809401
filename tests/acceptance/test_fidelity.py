"""Acceptance of Lambda's behaviours in local runs (issue 15), each checked in a real container.

``tests/fixtures/lambdalike`` has one handler that does what the event asks and reports what
it saw from inside: /tmp (size, memory, programs run from it), the environment, a background
thread's ticks (frozen or not), its environment's ID (one per cold start). The invoke API's
headers (invocation types, log tail, bad bodies) are checked on the plain ``docker run -p``
container, as a user's curl or SDK would see them; ``run`` (its front: freezing, N
environments) and ``invoke`` through the CLI, as a user runs them.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder.local import sandbox as local
from builder.local import scratch
from builder.project import config
from tests.acceptance import fidelity_probes as probes
from tests.helpers import FIXTURES, REPO, TEST_TAG, built_copy, free_port, run_cli

pytestmark = pytest.mark.docker

LAMBDALIKE = FIXTURES / "lambdalike"
INVOKE_ERROR = 7


@pytest.fixture(scope="module")
def lambdalike(tmp_path_factory, base_image, docker_engine):
    """tests/fixtures/lambdalike, copied and built; its images are removed afterwards."""
    yield from built_copy(LAMBDALIKE, tmp_path_factory.mktemp("lambdalike") / "backend", docker_engine)


def invoke(root: Path, function: str, event: dict, *args: str, port: int | None = None) -> tuple[int, dict, str]:
    """``python -m builder invoke`` with ``event`` on stdin: exit code, the body, stderr."""
    argv = ["--project", str(root), "invoke", "--function", function, "--tag", TEST_TAG, "--port",
            str(port or free_port()), "--event", "-", *args]
    done = subprocess.run([sys.executable, "-m", "builder", *argv], cwd=REPO, input=json.dumps(event),
                          capture_output=True, text=True, check=False)
    return done.returncode, json.loads(done.stdout), done.stderr


def post(port: int, body: bytes, headers: dict[str, str] | None = None, timeout: float = 60):
    """POST to the invoke endpoint: (status, headers, body), error statuses included."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{local.INVOKE_PATH}", data=body, method="POST",
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def do(port: int, action: str, headers: dict[str, str] | None = None, **fields) -> tuple[int, dict, bytes]:
    return post(port, json.dumps({"do": action, **fields}).encode(), headers)


@contextmanager
def plain_container(docker_engine, root: Path, function: str = "probe"):
    """The image run the seed's way, ``docker run -p PORT:8080``: yields (port, container)."""
    port = free_port()
    image = config.load(root).image(function, TEST_TAG)
    container = docker_engine.client().containers.run(image, detach=True, ports={"8080/tcp": ("127.0.0.1", port)})
    try:
        local.wait_ready(port, 30)
        yield port, container
    finally:
        container.remove(force=True)


def logs_of(container) -> str:
    return container.logs().decode("utf-8", "replace")


def wait_for(predicate, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


class Run:
    """``python -m builder run`` as a user starts it, its stdout (the logs) and stderr followed."""

    def __init__(self, root: Path, function: str, *args: str) -> None:
        self.port = free_port()
        self.name = f"builder-{function}-{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "builder", "--project", str(root), "run", "--function", function, "--tag", TEST_TAG,
             "--port", str(self.port), *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, l=lines: l.extend(iter(s.readline, "")), daemon=True).start()
        local.wait_ready(self.port, 60)

    def reports(self) -> list[local.Report]:
        return local.parse_report("".join(self.out))

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.2)
        return "".join(self.err)


@pytest.fixture
def runs(docker_engine):
    """Runs a test starts; stopped at teardown, and checked to leave no container or /tmp behind."""
    started: list[Run] = []
    yield lambda *args: started.append(Run(*args)) or started[-1]
    for run in started:
        run.stop()
        assert run.proc.returncode == 0, "".join(run.err)
        left = [c.name for c in docker_engine.client().containers.list(all=True) if c.name.startswith(run.name)]
        assert not left, f"run left {left}"
        assert not list(scratch.root().glob(f"{run.name}*")), "run left its /tmp file systems"


# -- /tmp ---------------------------------------------------------------------------------------


def test_programs_run_from_tmp(lambdalike):
    code, body, stderr = invoke(lambdalike, "probe", {"do": "fill_tmp", "mb": 1})
    assert code == 0, stderr
    assert body["exec"] == "ran from /tmp", body


def test_tmp_is_storage_not_memory(lambdalike):
    # 300 MB in /tmp of a 128 MB function: on Lambda /tmp is a disk of its own, not memory.
    port = free_port()
    code, body, stderr = invoke(lambdalike, "probe", {"do": "fill_tmp", "mb": 300}, "--memory", "128", port=port)
    assert code == 0, stderr
    assert body["written_mb"] == 300, body
    [report] = local.parse_report(stderr)
    assert report.memory_size_mb == 128 and report.max_memory_used_mb < 128, report
    assert not list(scratch.root().glob(f"builder-probe-{port}*")), "invoke left its /tmp file system"


def test_tmp_size_is_the_templates_ephemeral_storage_or_the_flag(lambdalike):
    for function, args, size in (("probe", (), 512), ("big-tmp", (), 1024), ("probe", ("--tmp", "2048"), 2048)):
        code, body, stderr = invoke(lambdalike, function, {"do": "fill_tmp", "mb": 1}, *args)
        assert code == 0, stderr
        assert size <= body["tmp_free_mb"] and body["tmp_mb"] < size * 1.05, (function, args, body)
    code, body, stderr = invoke(lambdalike, "big-tmp", {"do": "fill_tmp", "mb": 900})
    assert code == 0 and body["written_mb"] == 900, stderr
    code, body, stderr = invoke(lambdalike, "probe", {"do": "fill_tmp", "mb": 600})  # past 512 MB
    assert code == INVOKE_ERROR, stderr
    assert body["errorType"] == "OSError" and "No space left on device" in body["errorMessage"], body


# -- the environment ----------------------------------------------------------------------------


def test_the_environment_is_lambdas(lambdalike, docker_engine):
    code, body, stderr = invoke(lambdalike, "probe", {"do": "environ"}, "--timeout", "7")
    assert code == 0, stderr
    assert body["env"] == {
        "LANG": "en_US.UTF-8",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:"
                           "/opt/lib",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": None,  # not a Lambda variable
        "TZ": "UTC",
        "AWS_LAMBDA_LOG_FORMAT": None,
    }, body
    assert body["locale"] == "en_US.UTF-8" and body["encoding"] == "utf-8", body  # the locale exists
    assert body["distutils"] is True, body  # Python 3.11's whole standard library, as Lambda's
    with plain_container(docker_engine, lambdalike) as (port, _):  # the plain `docker run` too
        status, _, answer = do(port, "environ")
    assert status == 200 and json.loads(answer) == body


# -- freezing between invokes ---------------------------------------------------------------------


def test_a_warm_environment_is_frozen_between_invokes(lambdalike, runs):
    frozen = runs(lambdalike, "probe")
    thawed = runs(lambdalike, "probe", "--no-freeze")
    ticks = {}
    for name, run in (("frozen", frozen), ("thawed", thawed)):
        first = json.loads(do(run.port, "ticker")[2])["ticks"]  # starts a thread that ticks every 50 ms
        time.sleep(3)
        ticks[name] = json.loads(do(run.port, "ticker")[2])["ticks"] - first
    assert ticks["frozen"] <= 3, ticks  # Lambda: nothing runs while no invoke is in progress
    assert ticks["thawed"] >= 30, ticks
    assert "frozen between invokes" in "".join(frozen.err)


def test_invoke_keep_warm_freezes_its_container(lambdalike, docker_engine):
    port = free_port()
    name = f"builder-probe-{port}"
    argv = ["--project", str(lambdalike), "invoke", "--function", "probe", "--tag", TEST_TAG, "--port", str(port),
            "--keep-warm", "--event", "-"]
    try:
        def tick() -> int:
            done = subprocess.run([sys.executable, "-m", "builder", *argv], cwd=REPO, input='{"do": "ticker"}',
                                  capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)["ticks"]

        first = tick()
        assert docker_engine.client().containers.get(name).status == "paused"
        time.sleep(3)
        assert tick() - first <= 3
    finally:
        for container in docker_engine.client().containers.list(all=True, filters={"name": name}):
            container.remove(force=True)
        scratch.remove(name)


# -- the invoke API -------------------------------------------------------------------------------


def test_event_invocations_are_answered_at_once_and_dry_runs_not_run(lambdalike, docker_engine):
    with plain_container(docker_engine, lambdalike) as (port, container):
        began = time.monotonic()
        status, headers, body = do(port, "sleep", {"X-Amz-Invocation-Type": "Event"}, seconds=3)
        assert time.monotonic() - began < 1.5  # not after the function's 3 s
        assert (status, body) == (202, b""), (status, body)
        request_id = headers["X-Amzn-RequestId"]
        assert wait_for(lambda: f"REPORT RequestId: {request_id}" in logs_of(container), 15), logs_of(container)

        status, headers, body = do(port, "sleep", {"X-Amz-Invocation-Type": "DryRun"}, seconds=3)
        assert (status, body) == (204, b""), (status, body)
        time.sleep(0.5)
        assert headers["X-Amzn-RequestId"] not in logs_of(container)  # never ran
        assert logs_of(container).count("START RequestId") == 1


def test_a_body_that_is_not_json_is_refused_and_the_function_does_not_run(lambdalike, docker_engine):
    with plain_container(docker_engine, lambdalike) as (port, container):
        status, headers, body = post(port, b"not json {")
        assert status == 400, (status, body)
        assert headers["X-Amzn-ErrorType"] == "InvalidRequestContentException", headers
        assert json.loads(body)["message"].startswith("Could not parse request body into json"), body
        time.sleep(0.5)
        assert "START" not in logs_of(container), logs_of(container)


def test_log_type_tail_returns_the_last_4_kb_of_the_invokes_log(lambdalike, docker_engine):
    with plain_container(docker_engine, lambdalike) as (port, _):
        status, headers, body = do(port, "talk", {"X-Amz-Log-Type": "Tail"}, lines=3)
        assert status == 200 and json.loads(body) == {"printed": 3}
        tail = base64.b64decode(headers["X-Amz-Log-Result"]).decode()
        lines = tail.splitlines()
        request_id = headers["X-Amzn-RequestId"]
        assert lines[0] == f"START RequestId: {request_id} Version: $LATEST", tail
        assert lines[1:4] == [f"line {i} of the function's log" for i in range(3)], tail
        assert lines[-1].startswith(f"REPORT RequestId: {request_id}"), tail

        status, headers, _ = do(port, "talk", {"X-Amz-Log-Type": "Tail"}, lines=500)  # some 15 KB of log
        tail = base64.b64decode(headers["X-Amz-Log-Result"])
        assert len(tail) == 4096 and tail.decode().splitlines()[-1].startswith("REPORT RequestId:"), tail[-200:]
        status, headers, _ = do(port, "talk", lines=1)
        assert "X-Amz-Log-Result" not in headers  # only when asked


def test_requests_over_6_mb_are_refused_with_413(lambdalike, docker_engine):
    with plain_container(docker_engine, lambdalike) as (port, container):
        status, _, body = post(port, b'"' + b"x" * (6 * 1024 * 1024) + b'"')
        assert status == 413, status
        assert json.loads(body)["errorType"] == "RequestEntityTooLargeException", body
        assert "START" not in logs_of(container)


# -- concurrency ----------------------------------------------------------------------------------


def test_run_concurrency_serves_each_concurrent_invoke_in_its_own_environment(lambdalike, runs):
    run = runs(lambdalike, "probe", "--concurrency", "3")
    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: do(run.port, "sleep", seconds=2), range(3)))
    elapsed = time.monotonic() - began
    assert all(status == 200 for status, _, _ in answers), answers
    environments = {json.loads(body)["environment"] for _, _, body in answers}
    assert len(environments) == 3, answers  # three environments, not one queue
    assert elapsed < 6, elapsed  # side by side: one queue would take more than 6 s
    after = json.loads(do(run.port, "sleep")[2])["environment"]
    assert after in environments  # a warm one is reused: no fourth
    assert wait_for(lambda: len(run.reports()) == 4)
    assert sum(r.init_duration_ms is not None for r in run.reports()) == 3, run.reports()  # a cold start each
    assert "environment 3 started" in "".join(run.err)


def test_run_without_concurrency_queues_on_one_environment(lambdalike, runs):
    run = runs(lambdalike, "probe")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: do(run.port, "sleep", seconds=1), range(2)))
    assert len({json.loads(body)["environment"] for _, _, body in answers}) == 1, answers


# -- partial matches ------------------------------------------------------------------------------


def test_a_runtime_that_exits_is_logged_and_measured(lambdalike):
    code, body, stderr = invoke(lambdalike, "probe", {"do": "exit", "status": 3})
    assert code == INVOKE_ERROR, stderr
    request_id = body["errorMessage"].split()[1]
    assert body == {"errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3"}
    assert f"RequestId: {request_id} Error: Runtime exited with error: exit status 3\nRuntime.ExitError" in stderr
    [report] = local.parse_report(stderr)
    assert (report.status, report.error_type) == ("error", "Runtime.ExitError"), report
    assert report.max_memory_used_mb > 5, report  # measured while it lived


def test_a_failed_init_logs_init_report(lambdalike):
    code, body, stderr = invoke(lambdalike, "probe", {}, "--env", "PROBE_FAIL_INIT=1")
    assert code == INVOKE_ERROR, stderr
    line = next(line for line in stderr.splitlines() if line.startswith("INIT_REPORT"))
    assert line.startswith("INIT_REPORT Init Duration: ") and line.endswith(
        f"ms\tPhase: init\tStatus: error\tError Type: {body['errorType']}"), line


def test_json_log_format_makes_platform_records_json(lambdalike):
    code, body, stderr = invoke(lambdalike, "json-logs", {"do": "environ"})
    assert code == 0, stderr
    assert body["env"]["AWS_LAMBDA_LOG_FORMAT"] == "JSON"  # LoggingConfig: LogFormat: JSON in the template
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    types = [record["type"] for record in records if record["type"].startswith("platform.")]
    assert types == ["platform.start", "platform.runtimeDone", "platform.report"], stderr
    report = records[-1]["record"]
    assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128, report
    assert report["metrics"]["initDurationMs"] > 0, report


# -- the local loop -------------------------------------------------------------------------------


@pytest.fixture
def editable(tmp_path, base_image, docker_engine):
    """A copy of lambdalike of this test's own (its images too: edits must not reach the module's)."""
    root = tmp_path / "backend"
    shutil.copytree(LAMBDALIKE, root, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    (root / "builder.toml").write_text((root / "builder.toml").read_text().replace(
        'name = "lambdalike"', 'name = "editable"'))
    result = run_cli("--project", str(root), "build", "--function", "probe", "--tag", TEST_TAG)
    assert result.returncode == 0, result.stderr
    yield root
    docker_engine.remove_image(config.load(root).image("probe", TEST_TAG))




def test_invoke_builds_a_stale_image_first_and_says_so_with_no_build(editable):
    code, body, stderr = invoke(editable, "probe", {"do": "sleep"})
    assert code == 0 and "building" not in stderr, stderr  # just built: used as it is
    probes.edit_probe(editable, "first-edit")
    code, body, stderr = invoke(editable, "probe", {"do": "sleep"}, "--no-build")
    assert code == 0 and not body["environment"].startswith("first-edit"), body  # the image before the edit
    assert "warning: editable-probe:" in stderr and "is older than its sources" in stderr, stderr
    code, body, stderr = invoke(editable, "probe", {"do": "sleep"})
    assert code == 0 and body["environment"].startswith("first-edit-"), (body, stderr)
    assert "building probe first: " in stderr and "older than its sources" in stderr, stderr
    code, body, stderr = invoke(editable, "probe", {"do": "sleep"})
    assert code == 0 and body["environment"].startswith("first-edit-") and "building" not in stderr, stderr


def test_run_watch_serves_an_edit_within_seconds(editable, runs):
    run = runs(editable, "probe", "--watch")
    assert json.loads(do(run.port, "sleep")[2])["environment"]
    probes.edit_probe(editable, "watched")
    began = time.monotonic()
    seen = None
    while time.monotonic() - began < 30:
        status, _, body = do(run.port, "sleep")
        seen = json.loads(body).get("environment", "")
        if status == 200 and seen.startswith("watched-"):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - began
    assert seen and seen.startswith("watched-"), "".join(run.err)
    assert elapsed < 10, elapsed  # about a second or two here: the rebuild and a cold start
    assert "changed: functions/probe.py; rebuilding" in "".join(run.err)


class Dap:
    """The least of a Debug Adapter Protocol client (what an IDE speaks to debugpy)."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        """Connect and initialize; Docker's port proxy accepts (then resets) before debugpy listens, so retry."""
        deadline = time.monotonic() + timeout
        while True:
            self.seq, self.buffer = 0, b""
            self.sock = socket.socket()
            try:
                self.sock.settimeout(2)
                self.sock.connect(("127.0.0.1", port))
                self.sock.settimeout(timeout)
                self.request("initialize", clientID="test", adapterID="debugpy")
                self.until("response", "initialize")
                return
            except OSError:
                self.sock.close()
                assert time.monotonic() < deadline, f"no debugger answers on port {port}"
                time.sleep(0.3)

    def request(self, command: str, **arguments) -> None:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def until(self, kind: str, name: str) -> dict:
        """Read messages until a response to ``name`` or an event ``name`` (``kind``) arrives."""
        while True:
            while b"\r\n\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("debugpy closed the connection")
                self.buffer += chunk
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            size = int(head.split(b":")[1])
            while len(self.buffer) < size:
                self.buffer += self.sock.recv(65536)
            message, self.buffer = json.loads(self.buffer[:size]), self.buffer[size:]
            if message.get("type") == kind and name in (message.get("command"), message.get("event")):
                return message


def test_invoke_debug_port_waits_for_a_debugger_and_stops_at_its_breakpoint(lambdalike, docker_engine, tmp_path):
    debug_port, port = free_port(), free_port()
    event = tmp_path / "talk.json"
    event.write_text('{"do": "talk", "lines": 2}')
    argv = [sys.executable, "-m", "builder", "--project", str(lambdalike), "invoke", "--function", "probe", "--tag",
            TEST_TAG, "--port", str(port), "--debug-port", str(debug_port), "--event", str(event)]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        source = (LAMBDALIKE / "functions" / "probe.py").read_text().splitlines()
        line = next(i for i, text in enumerate(source, 1) if 'print(f"line {i}' in text)
        ide = Dap(debug_port)
        time.sleep(1)
        assert proc.poll() is None, proc.stderr.read()  # no answer while the debugger has not said go
        ide.request("attach", justMyCode=False)
        ide.until("event", "initialized")
        ide.request("setBreakpoints", source={"path": "/var/task/functions/probe.py"}, breakpoints=[{"line": line}])
        ide.until("response", "setBreakpoints")
        ide.request("configurationDone")
        stopped = ide.until("event", "stopped")
        assert stopped["body"]["reason"] == "breakpoint", stopped
        ide.request("continue", threadId=stopped["body"]["threadId"])
        stopped = ide.until("event", "stopped")  # the second line: the same breakpoint again
        ide.request("disconnect")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a killed invoke cannot remove its container: the test does
            proc.kill()
            proc.wait()
            for container in docker_engine.client().containers.list(all=True, filters={"name": f"builder-probe-{port}"}):
                container.remove(force=True)
            scratch.remove(f"builder-probe-{port}")
    assert proc.returncode == 0, err
    assert json.loads(out) == {"printed": 2}
    assert not docker_engine.client().containers.list(all=True, filters={"name": f"builder-probe-{port}"})
    assert f"waiting for a debugger: attach to 127.0.0.1:{debug_port}" in err


# -- every behaviour of docs/fidelity.md, probed as bench/fidelity.py probes it -------------------


@pytest.mark.parametrize("behaviour", probes.BEHAVIOURS, ids=[b.key for b in probes.BEHAVIOURS])
def test_builder_does_what_lambda_does(lambdalike, docker_engine, behaviour):
    target = probes.builder_target(lambdalike, TEST_TAG, behaviour.setup, REPO, docker_engine)
    try:
        observed, matches = behaviour.probe(target)
    finally:
        target.stop()
    assert matches, f"{behaviour.title}: Lambda: {behaviour.lambda_does}; builder: {observed}\n{target.logs()[-3000:]}"


def test_a_layers_native_library_in_opt_lib_loads_as_on_lambda(tmp_path, base_image, docker_engine):
    """A layer without python/ (native code) lands in /opt, as Lambda extracts it; its lib/ is on
    LD_LIBRARY_PATH, so the function loads a library by name. The library is the host's zlib, renamed."""
    root = tmp_path / "layered"
    shutil.copytree(LAMBDALIKE, root, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    (root / "builder.toml").write_text('name = "layered"\nbase-image = "builder-lambda-python:3.11"\n')
    zlib = next(p for p in (Path("/usr/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/aarch64-linux-gnu/libz.so.1"),
                            Path("/lib64/libz.so.1")) if p.is_file())
    (root / "native" / "lib").mkdir(parents=True)
    shutil.copy(zlib, root / "native" / "lib" / "libfidelity.so")
    template = root / "template.yaml"
    template.write_text(template.read_text().replace(
        "      Handler: functions/probe.handler\n  BigTmpFunction:",
        "      Handler: functions/probe.handler\n      Layers: [!Ref NativeLayer]\n"
        "  NativeLayer:\n    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: native/, CompatibleRuntimes: [python3.11]}\n  BigTmpFunction:", 1))
    try:
        code, body, stderr = invoke(root, "probe", {"do": "load", "lib": "libfidelity.so"})  # builds it first
        assert code == 0, stderr
        assert body["loaded"] == "libfidelity.so" and body["zlib"].startswith("1."), body
        code, body, stderr = invoke(root, "probe", {"do": "load", "lib": "libfidelity.so"},
                                    "--env", "LD_LIBRARY_PATH=/usr/lib")  # without /opt/lib: not found
        assert code == INVOKE_ERROR and body["errorType"] == "OSError" and "libfidelity.so" in body["errorMessage"]
    finally:
        docker_engine.remove_image(config.load(root).image("probe", TEST_TAG))
