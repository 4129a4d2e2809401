"""Benchmark: cold start and warm invoke latency of the example's eight images, in the sandbox.

For each function of the backend (default: examples/backend, images ``example-<fn>:latest``,
built first with ``python -m builder build --all`` when one is missing), through the same
sandbox as ``python -m builder invoke`` (read-only root, non-root, ``--memory`` enforced):

- cold start: from the container's start (``engine.start``, i.e. ``docker run``) to the first
  response of the sample event, the runtime's init included (N=5 fresh containers, median), with
  the part ``docker run`` itself takes and the REPORT line's Init Duration;
- warm invoke: the client's round trip (HTTP POST to the answer) on one warm container (N=50
  after one cold invoke, median and p95), with the REPORT's Duration and Max Memory Used;
- freeze/thaw: what freezing an idle environment costs per invoke (the engine's unpause before
  it, its pause after, as ``run`` and ``invoke --keep-warm`` do), N=50 on one warm container;
- edit -> answer (once for the backend, on a copy of ``tests/fixtures/lambdalike``): from saving
  an edit to the first answer that has it, with ``run --watch`` (rebuild, restart, cold start)
  and with a plain ``invoke`` after the edit (which builds the stale image first).

    python bench/invoke.py                         # writes bench/results/invoke.json
    python bench/invoke.py --functions health ml-score --cold-runs 3 --warm-runs 20 --edit-runs 0
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder import pipeline
from builder.core.errors import InvokeError
from builder.core.files import write_atomic
from builder.engine import Container
from builder.engine.docker_engine import DockerEngine
from builder.local import runner
from builder.local import sandbox as local
from builder.project import config
from tests.acceptance import fidelity_probes as probes

engine = DockerEngine()  # the engine these tests or benchmarks talk to

REPO = Path(__file__).resolve().parent.parent
FIRST_RESPONSE_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def ensure_images(cfg: config.Config, tag: str) -> None:
    """Build the backend's images with the CLI, as its README says, when one is missing."""
    missing = [fn.name for fn in cfg.functions if not engine.image_exists(cfg.image(fn.name, tag))]
    if missing:
        print(f"building (missing: {', '.join(missing)})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "builder", "--project", str(cfg.root), "build", "--all", "--tag", tag],
                       cwd=REPO, check=True)


def first_response(port: int, event: bytes) -> local.Invocation:
    """POST until the emulator answers. A refused POST never reached it, so it never ran twice."""
    deadline = time.monotonic() + FIRST_RESPONSE_TIMEOUT
    while True:
        try:
            return local.invoke(port, event, timeout=FIRST_RESPONSE_TIMEOUT)
        except InvokeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def reports_of(container: Container, count: int) -> list[local.Report]:
    """The container's REPORT lines, waiting (briefly) for the last one to trail its response."""
    deadline = time.monotonic() + runner.LOG_WAIT
    while True:
        reports = local.parse_report("\n".join(engine.logs(container)))
        if len(reports) >= count or time.monotonic() > deadline:
            return reports
        time.sleep(0.05)


def check(answer: local.Invocation, function: str) -> None:
    if not answer.ok:
        raise SystemExit(f"{function} failed ({answer.function_error or answer.status}): {answer.body[:500]!r}")


def cold_starts(cfg: config.Config, function: str, event: bytes, runs: int, **spec_args) -> list[dict]:
    out = []
    for _ in range(runs):
        spec = runner.spec_for(engine, cfg, function, port=free_port(), **spec_args)
        t0 = time.perf_counter()
        container = engine.start(spec)
        started = time.perf_counter() - t0
        try:
            answer = first_response(spec.ports[local.CONTAINER_PORT], event)
            elapsed = time.perf_counter() - t0
            check(answer, function)
            [report] = reports_of(container, 1)
        finally:
            engine.remove(container)
        out.append({"cold_start_ms": round(elapsed * 1000, 1), "engine_start_ms": round(started * 1000, 1),
                    "init_duration_ms": report.init_duration_ms,
                    "duration_ms": report.duration_ms, "max_memory_used_mb": report.max_memory_used_mb})
    return out


def warm_invokes(cfg: config.Config, function: str, event: bytes, runs: int, **spec_args) -> dict:
    spec = runner.spec_for(engine, cfg, function, port=free_port(), **spec_args)
    port = spec.ports[local.CONTAINER_PORT]
    container = runner.start(engine, spec)
    try:
        check(local.invoke(port, event, timeout=FIRST_RESPONSE_TIMEOUT), function)  # the cold one, not counted
        latencies = []
        for _ in range(runs):
            t0 = time.perf_counter()
            answer = local.invoke(port, event, timeout=FIRST_RESPONSE_TIMEOUT)
            latencies.append((time.perf_counter() - t0) * 1000)
            check(answer, function)
        reports = reports_of(container, runs + 1)
    finally:
        engine.remove(container)
    warm = reports[1:]
    if len(warm) != runs or any(r.init_duration_ms is not None for r in warm):
        raise SystemExit(f"{function}: expected {runs} warm REPORT lines without Init Duration, got {warm}")
    return {
        "latency_ms": [round(v, 2) for v in latencies],
        "report_duration_ms": [r.duration_ms for r in warm],
        "max_memory_used_mb": max(r.max_memory_used_mb for r in reports),
    }


def freeze_costs(cfg: config.Config, function: str, event: bytes, runs: int, **spec_args) -> dict:
    """Per invoke: thaw (unpause), the invoke, freeze (pause), on one warm container."""
    spec = runner.spec_for(engine, cfg, function, port=free_port(), **spec_args)
    port = spec.ports[local.CONTAINER_PORT]
    container = runner.start(engine, spec)
    thaw, invoke, freeze = [], [], []
    try:
        check(local.invoke(port, event, timeout=FIRST_RESPONSE_TIMEOUT), function)
        engine.pause(container)
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.unpause(container)
            t1 = time.perf_counter()
            check(local.invoke(port, event, timeout=FIRST_RESPONSE_TIMEOUT), function)
            t2 = time.perf_counter()
            engine.pause(container)
            t3 = time.perf_counter()
            thaw.append((t1 - t0) * 1000)
            invoke.append((t2 - t1) * 1000)
            freeze.append((t3 - t2) * 1000)
    finally:
        runner.stop(engine, container)
    return {"thaw_ms_median": round(statistics.median(thaw), 2), "freeze_ms_median": round(statistics.median(freeze), 2),
            "frozen_invoke_ms_median": round(statistics.median(a + b + c for a, b, c in zip(thaw, invoke, freeze)), 2),
            "thaw_ms_p95": round(p95(thaw), 2), "freeze_ms_p95": round(p95(freeze), 2)}




def _environment(port: int) -> str:
    try:
        answer = local.invoke(port, b'{"do": "sleep"}', timeout=30)
    except InvokeError:
        return ""
    return json.loads(answer.body).get("environment", "") if answer.ok else ""


def edit_to_answer(runs: int, tag: str) -> dict:
    """Seconds from an edit to the first answer that has it: under ``run --watch``, and by ``invoke``."""
    watch, invoke, exits = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lambdalike"
        shutil.copytree(REPO / "tests" / "fixtures" / "lambdalike", root, ignore=shutil.ignore_patterns(".builder"))
        cfg = config.load(root)
        subprocess.run([sys.executable, "-m", "builder", "--project", str(root), "build", "--function", "probe",
                        "--tag", tag], cwd=REPO, check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "builder", "--project", str(root), "run", "--function", "probe",
                                 "--tag", tag, "--port", str(port), "--watch"], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            local.wait_ready(port, 60)
            _environment(port)
            for run in range(runs):
                marker = f"watch{run}"
                probes.edit_probe(root, marker)
                t0 = time.perf_counter()
                while not _environment(port).startswith(marker):
                    if time.perf_counter() - t0 > 60:
                        raise SystemExit("run --watch did not serve the edit within 60 s")
                    time.sleep(0.05)
                watch.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(30)
        for run in range(runs):
            marker = f"invoke{run}"
            probes.edit_probe(root, marker)
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "builder", "--project", str(root), "invoke", "--function",
                                     "probe", "--tag", tag, "--port", str(free_port()), "--event", "-"], cwd=REPO,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            proc.stdin.write(b'{"do": "sleep"}')
            proc.stdin.close()
            answer = proc.stdout.readline()  # printed before the container is removed
            invoke.append(time.perf_counter() - t0)
            if proc.wait(60) != 0:
                raise SystemExit(f"invoke failed: {answer!r}")
            exits.append(time.perf_counter() - t0)
            assert json.loads(answer)["environment"].startswith(marker), answer
        engine.remove_image(cfg.image("probe", tag))
    return {"watch_s": [round(v, 2) for v in watch], "watch_s_median": round(statistics.median(watch), 2),
            "invoke_s": [round(v, 2) for v in invoke], "invoke_s_median": round(statistics.median(invoke), 2),
            "invoke_exit_s_median": round(statistics.median(exits), 2)}


def measure(cfg: config.Config, function: str, args: argparse.Namespace) -> dict:
    event = pipeline.event_path(cfg, function).read_bytes()
    spec_args = {"tag": args.tag, "memory_mb": args.memory, "timeout_s": args.timeout}
    cold = cold_starts(cfg, function, event, args.cold_runs, **spec_args)
    warm = warm_invokes(cfg, function, event, args.warm_runs, **spec_args)
    frozen = freeze_costs(cfg, function, event, args.warm_runs, **spec_args)
    inits = [c["init_duration_ms"] for c in cold if c["init_duration_ms"] is not None]
    return {
        "image": cfg.image(function, args.tag),
        "image_mb": round(engine.image_info(cfg.image(function, args.tag)).size / 1e6, 1),
        "cold_start_ms_median": statistics.median(c["cold_start_ms"] for c in cold),
        "engine_start_ms_median": statistics.median(c["engine_start_ms"] for c in cold),
        "init_duration_ms_median": round(statistics.median(inits), 1) if inits else None,
        "warm_latency_ms_median": round(statistics.median(warm["latency_ms"]), 2),
        "warm_latency_ms_p95": round(p95(warm["latency_ms"]), 2),
        "warm_duration_ms_median": round(statistics.median(warm["report_duration_ms"]), 2),
        "max_memory_used_mb": max(warm["max_memory_used_mb"], *(c["max_memory_used_mb"] for c in cold)),
        **frozen,
        "cold_runs": cold,
        "warm": warm,
    }


COLUMNS = (
    ("function", None),
    ("image MB", "image_mb"),
    ("cold start, median", "cold_start_ms_median"),
    ("of which docker run", "engine_start_ms_median"),
    ("Init Duration, median", "init_duration_ms_median"),
    ("warm, median", "warm_latency_ms_median"),
    ("warm, p95", "warm_latency_ms_p95"),
    ("warm REPORT Duration, median", "warm_duration_ms_median"),
    ("Max Memory Used MB", "max_memory_used_mb"),
    ("thaw, median", "thaw_ms_median"),
    ("freeze, median", "freeze_ms_median"),
    ("frozen warm invoke, median", "frozen_invoke_ms_median"),
)


def table(results: dict[str, dict]) -> str:
    """A Markdown table, one row per function (times in ms)."""
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for function, row in results.items():
        cells = [function] + [f"{row[key]:g}" if row[key] is not None else "-" for _, key in COLUMNS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO / "examples" / "backend")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--functions", nargs="+", metavar="NAME", help="default: all of the backend's functions")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=50)
    parser.add_argument("--memory", type=int, default=128, metavar="MB", help="memory size (default: %(default)s)")
    parser.add_argument("--timeout", type=int, default=30, metavar="S", help="function timeout (default: %(default)s)")
    parser.add_argument("--edit-runs", type=int, default=3, help="edit -> answer measurements (0: none)")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "invoke.json")
    args = parser.parse_args(argv)
    compileall.compile_dir(REPO / "builder", quiet=1)  # builder as installed: its bytecode written (scripts/setup)

    cfg = config.load(args.project)
    ensure_images(cfg, args.tag)
    names = args.functions or [fn.name for fn in cfg.functions]
    results = {}
    for name in names:
        results[name] = measure(cfg, name, args)
        print(f"{name}: cold {results[name]['cold_start_ms_median']:g} ms, "
              f"warm {results[name]['warm_latency_ms_median']:g} ms", file=sys.stderr)
    edits = edit_to_answer(args.edit_runs, "bench-edit") if args.edit_runs else None
    if edits:
        print(f"edit -> answer: run --watch {edits['watch_s_median']:g} s, invoke {edits['invoke_s_median']:g} s "
              f"(its exit {edits['invoke_exit_s_median']:g} s; median of {args.edit_runs})", file=sys.stderr)
    report = {
        "edit_to_answer": edits,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "system": platform.platform(),
                    "docker": engine.client().version().get("Version")},
        "settings": {"cold_runs": args.cold_runs, "warm_runs": args.warm_runs, "memory_mb": args.memory,
                     "timeout_s": args.timeout, "sandbox": True, "tag": args.tag},
        "functions": results,
    }
    print(table(results))
    write_atomic(args.json_out, json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
