"""What both kinds of tests use: the repository's paths, running the CLI as a user does, copies of the examples."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from builder.local.sandbox import SANDBOX_USER
from builder.measure import check

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SAM_FIXTURES = FIXTURES / "sam"  # small SAM templates
EXAMPLE = REPO / "examples" / "backend"
SAM_APP = REPO / "examples" / "sam-app"
SAM_APP_FUNCTIONS = ("format-date", "get-order", "hello-world", "legacy-export", "parse-config", "search-orders",
                     "token-authorizer")  # fmt: skip
BASE_IMAGE = "builder-lambda-python:3.11"
TEST_TAG = f"pytest-{os.getpid()}"  # per session: parallel sessions never remove each other's images


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m builder`` as a user would; capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


def run_python(engine, image: str, code: str, *args: str) -> dict:
    """Run ``code`` as on Lambda (read-only root, writable /tmp, non-root, no network); its last line is JSON."""
    status, output = engine.run_once(
        image,
        ["-c", code, *args],
        entrypoint=["python3"],
        read_only=True,
        tmpfs={"/tmp": "rw,size=64m"},
        user=SANDBOX_USER,
        network_disabled=True,
    )
    assert status == 0, output
    return json.loads(output.strip().splitlines()[-1])


def tool(path: str) -> str:
    """The path of a program the tests need (scripts/setup installs it); the test fails without it."""
    import pytest

    found = shutil.which(path)
    if not found:
        pytest.fail(f"{path} is required by this test and is not installed; scripts/setup installs it.", pytrace=False)
    return found


def sam_cli() -> str:
    """The SAM CLI that scripts/setup installs in a virtual environment of its own."""
    import pytest

    for candidate in (os.environ.get("BUILDER_SAM"), "/opt/builder-sam/bin/sam", shutil.which("sam")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("The SAM CLI is required and not installed: scripts/setup installs it in /opt/builder-sam.", pytrace=False)


def run_sam(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``sam ARGS`` in the project ``root``, as a user runs it (no telemetry)."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run([sam_cli(), *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def skopeo(*args: str) -> str:
    """Run skopeo (which reads a registry as Lambda would); its output."""
    result = subprocess.run([tool("skopeo"), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def built_copy(source: Path, dest: Path, engine, tag: str = TEST_TAG):
    """A generator for module fixtures: ``source`` copied to ``dest`` and every function built
    (``tag``); yields the copy, and removes its images afterwards."""
    from builder.project import config

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    result = run_cli("--project", str(dest), "build", "--all", "--tag", tag)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield dest
    finally:
        cfg = config.load(dest)
        for fn in cfg.functions:
            engine.remove_image(cfg.image(fn.name, tag))


def interruptible() -> None:
    """``preexec_fn`` for a builder a test will interrupt: SIGINT's default action, as for a command
    typed in a terminal, even when this test run was started with it ignored (a shell's
    background job), which the child and its own children would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate ``process``; kill it if it has not ended after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def copy_example(dest: Path) -> Path:
    """A private copy of the bundled example backend (without any wheelhouse)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    return dest


def copy_with_wheels(source: Path, dest: Path) -> Path:
    """A private copy of a built example (``source``) that reuses its wheelhouse: no download."""
    from builder.core.paths import WHEELHOUSE

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__", ".aws-sam", "image-uris.json"))
    shutil.copytree(source / WHEELHOUSE, dest / WHEELHOUSE)
    return dest


def image_ids(engine, root: Path, tag: str) -> dict[str, str]:
    """Each function of the project at ``root`` -> the ID of its local image ``tag``."""
    from builder.project import config

    cfg = config.load(root)
    return {fn.name: engine.image_info(cfg.image(fn.name, tag)).id for fn in cfg.functions}


def copy_sam_app(dest: Path) -> Path:
    """A private copy of the second bundled example, SAM's usual layout (without any wheelhouse)."""
    shutil.copytree(SAM_APP, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__", ".aws-sam"))
    return dest


# Rules left out of the lint, and why:
# - E2533: runtime deprecation by today's date; the bundled example uses python3.11, which
#   cfn-lint flags after its end of support whatever builder does.
# - W8001: "condition not used": a condition used only inside a migrated function's Layers is
#   kept (rollback needs it) but unused while the function is an image; harmless to deploy.
IGNORED_RULES = "E2533,W8001"


def lint(tmp_path: Path, **texts: str) -> None:
    """cfn-lint every text (as files named after the keys); fail with its report if any is flagged."""
    beside = Path(sys.executable).with_name("cfn-lint")
    exe = str(beside) if beside.exists() else shutil.which("cfn-lint")
    assert exe, "cfn-lint is not installed (pip install cfn-lint)"
    paths = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(str(path))
    result = subprocess.run(
        [exe, "--ignore-checks", IGNORED_RULES, "--", *paths], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def table(markdown: str) -> list[list[str]]:
    """The rows of the first markdown table, as cells (the separator row included)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def assert_markdown_table(markdown: str, functions: list[str]) -> list[list[str]]:
    """``check``'s markdown summary: a header, one row per function in order, then the total."""
    rows = table(markdown)
    assert rows[0] == ["Function", "Baseline", "Now", "Delta", "%"]
    assert rows[1] == ["---", "---:", "---:", "---:", "---:"]
    assert [r[0] for r in rows[2:]] == functions + [f"**{check.TOTAL}**"]
    assert all(len(r) == 5 for r in rows)
    return rows


def assert_clean_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """A failed command as a user should see it: ``code``, no traceback, each of ``needles`` on stderr."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr
