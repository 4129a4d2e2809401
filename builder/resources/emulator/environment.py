"""The execution environment: the function's settings, its runtime process, and platform log lines."""

from __future__ import annotations

import fcntl
import json
import math
import os
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

ACCOUNT = "012345678912"  # the RIE's placeholder account in function ARNs

_print_lock = threading.Lock()
_capture: list[str] | None = None  # the log lines of the invocation in progress (for X-Amz-Log-Type: Tail)
# Variables only the emulator reads (RIE reads AWS_LAMBDA_FUNCTION_TIMEOUT too): the function never sees them.
PRIVATE = ("AWS_LAMBDA_FUNCTION_TIMEOUT", "BUILDER_RUNTIME_COMMAND", "BUILDER_EMULATOR_PORT", "BUILDER_RUNTIME_API_PORT",
           "BUILDER_EMULATOR")
JSON_LOGS = "JSON"
SAMPLE_S = 0.05  # how often the runtime's peak memory is read


def log(line: str) -> None:
    """Write one log line to stdout (the platform's or the runtime's), and to the invocation's capture."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if _capture is not None:
            _capture.append(line)


def capture(lines: list[str] | None) -> None:
    """Collect every line logged from now on into ``lines`` (None: stop collecting)."""
    global _capture
    with _print_lock:
        _capture = lines


def platform(record_type: str, text: str, record: dict[str, object], json_logs: bool) -> None:
    """A platform line (START, END, REPORT, INIT_REPORT): text, or Lambda's JSON record with a JSON log format."""
    if json_logs:
        log(json.dumps({"time": timestamp(), "type": f"platform.{record_type}", "record": record}))
    else:
        log(text)


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
    json_logs: bool = False

    @classmethod
    def load(cls, argv: list[str], env: dict[str, str]) -> Config:
        if len(argv) != 1 or not argv[0]:
            raise ValueError("the handler (e.g. app.handler) must be the one argument")
        command = shlex.split(env.get("BUILDER_RUNTIME_COMMAND", "")) or [sys.executable, "-u", "-m", "awslambdaric"]
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
            json_logs=env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == JSON_LOGS,
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
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "LANG": "en_US.UTF-8",
        }
        for key, value in defaults.items():
            env.setdefault(key, value)
        for key in PRIVATE:
            env.pop(key, None)
        env["_HANDLER"] = self.handler
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.runtime_port}"
        return env


def timestamp() -> str:
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
        # Its output passes through the emulator, so an invocation's lines can be returned (Tail).
        self._relaying = threading.Lock()
        self.proc = subprocess.Popen(
            config.runtime_command, cwd=config.task_root, env=config.runtime_env(dict(os.environ)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        threading.Thread(target=self._relay, daemon=True).start()
        threading.Thread(target=self._sample_until_exit, daemon=True).start()
        try:  # so the kernel's OOM killer picks the function, not the emulator
            with open(f"/proc/{self.proc.pid}/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        threading.Thread(target=lambda: on_exit(self, self.proc.wait()), daemon=True).start()

    def _relay(self) -> None:
        # Reads happen only under the lock, so drain() can tell when everything written was logged.
        assert self.proc.stdout is not None
        fd, pending = self.proc.stdout.fileno(), b""
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            with self._relaying:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    log(line.decode("utf-8", "replace"))
        if pending:
            log(pending.decode("utf-8", "replace"))

    def drain(self, timeout: float = 0.5) -> None:
        """Wait until what the runtime has written so far is logged (before END and REPORT, as on Lambda)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._relaying:
                try:
                    waiting = struct.unpack("i", fcntl.ioctl(self.proc.stdout.fileno(), termios.FIONREAD, b"\0" * 4))[0]
                except OSError:  # closed: the runtime is gone and its output read
                    return
                if waiting == 0:
                    return
            time.sleep(0.001)

    def _sample_until_exit(self) -> None:
        # The peak must be read while the process lives: a runtime that exits (sys.exit) has none after.
        while self.exit_status is None and self.proc.poll() is None:
            self.sample_memory()
            time.sleep(SAMPLE_S)

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
