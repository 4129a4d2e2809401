"""The one subprocess helper: argv lists only, streamed output, full replay on failure."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError, CommandFailed

log = logging.getLogger("builder")


@dataclass(frozen=True)
class Result:
    """What a finished command printed (stdout and stderr interleaved) and its exit code."""

    argv: tuple[str, ...]
    returncode: int
    output: str


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    on_line: Callable[[str], None] | None = None,
    check: bool = True,
    hint: str = "",
) -> Result:
    """Run ``argv`` (never through a shell) and return what it printed.

    Each output line goes to ``on_line`` as it arrives (and to the debug log, so
    ``--verbose`` shows it). ``env`` is added to the current environment. With
    ``check`` a non-zero exit raises :class:`CommandFailed` carrying the whole
    output, so the CLI can replay it; ``hint`` says what the user can do.
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
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    lines: list[str] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        lines.append(line)
        log.debug("  %s", line)
        if on_line is not None:
            on_line(line)
    returncode = proc.wait()
    output = "\n".join(lines)
    if check and returncode != 0:
        raise CommandFailed(argv, returncode, output, hint)
    return Result(tuple(argv), returncode, output)
