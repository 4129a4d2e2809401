"""The one subprocess helper: argv lists only, streamed output, full replay on failure.

Every line a command prints goes to the ``builder.output`` logger as it arrives: the one
progress sink. The CLI shows the latest line beside its progress bar (and, with
``--verbose``, every line); the library never prints.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import BuildError, CommandFailed

log = logging.getLogger("builder")
progress = logging.getLogger("builder.output")  # what commands print, line by line

_running: set[subprocess.Popen] = set()  # the commands started and not yet finished, for stop_all
_running_lock = threading.Lock()
STOP_GRACE = 10.0  # seconds a command has to stop on SIGINT before it is killed


@dataclass(frozen=True)
class Result:
    """What a finished command printed (stdout and stderr interleaved) and its exit code."""

    argv: tuple[str, ...]
    returncode: int
    output: str


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
    hint: str = "",
    timeout: float | None = None,
) -> Result:
    """Run ``argv`` (never through a shell) and return what it printed.

    Each output line goes to the ``builder.output`` log as it arrives. ``env`` is added
    to the current environment. With
    ``check`` a non-zero exit raises :class:`CommandFailed` carrying the whole
    output, so the CLI can replay it; ``hint`` says what the user can do. After
    ``timeout`` seconds the command is killed (``CommandFailed.timed_out``).
    """
    argv = [str(a) for a in argv]
    log.debug("$ %s", shlex.join(argv))
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError as exc:
        raise BuildError(f"`{argv[0]}` is not installed or not on PATH. {hint}".strip()) from exc
    with _running_lock:
        _running.add(proc)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    lines: list[str] = []
    assert proc.stdout is not None
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout is not None else None
    if timer is not None:
        timer.start()
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            progress.debug("  %s", line)
        returncode = proc.wait()
    except BaseException:  # Ctrl-C (or SIGTERM) while this thread waits: the command stops too
        _stop(proc)
        raise
    finally:
        if timer is not None:
            timer.cancel()
        with _running_lock:
            _running.discard(proc)
    timed_out = killed.is_set()
    output = "\n".join(lines)
    if timed_out or (check and returncode != 0):
        raise CommandFailed(argv, returncode, output, hint, timed_out=timed_out)
    return Result(tuple(argv), returncode, output)


def stop_all() -> None:
    """Stop every command still running (SIGINT, as Ctrl-C would, then SIGKILL after STOP_GRACE),
    so that nothing builder started goes on after it was interrupted: a ``docker build`` stopped
    this way cancels its build and tags nothing."""
    with _running_lock:
        running = list(_running)
    for proc in running:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass  # gone meanwhile
