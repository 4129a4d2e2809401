"""Benchmark: a code-only rebuild of one function against the floor, with builder's own work apart.

On a private copy of the bundled example (its wheels copied when it has them), after a first
``build --function ml-score``, each round:

- **floor**: the same ``docker build`` that builder runs (its BuildKit client, the same
  Dockerfile on stdin, ``--target ml-score``) with nothing to do;
- **rebuild**: a one-line change in ml-score's handler, then ``python -m builder build
  --function ml-score`` as a user runs it (a fresh interpreter, builder's bytecode cached),
  wall time; the run is timed from inside too (``bench/_timed.py`` wraps the engine), so the
  table splits it into the ``docker build`` it ran, its other engine calls (inspect, the
  reproducible config's load) and builder's own work (start-up, imports, closure, plan, the
  build context), which is the wall time less both.

Then, 12 times each, **start-up**: a fresh interpreter with nothing to do, and one that imports
builder and parses a ``build`` command (what every run pays before any work).

Goals (issue 16): the rebuild at most 3x the floor; builder's own work at most 0.10 s.

    python bench/rebuild.py                  # writes bench/results/rebuild.json
    python bench/rebuild.py --rounds 7
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from size import copy_backend, table  # noqa: E402  (bench/size.py, beside this script)

from builder.core.files import write_atomic  # noqa: E402
from builder.engine.docker_engine import DockerEngine  # noqa: E402
from builder.project import config  # noqa: E402

FUNCTION = "ml-score"
EDITED = "functions/ml/score.py"
TAG = "rebuild-bench"
RUN_ID = uuid.uuid4().hex[:12]
GOALS = {"rebuild_over_floor": 3.0, "own_work_s": 0.10}
TIMED = Path(__file__).with_name("_timed.py")


def edit(root: Path, round_: int) -> None:
    """A one-line change in the handler, unique per run (BuildKit's cache outlives a run)."""
    path = root / EDITED
    text = path.read_text()
    path.write_text(text.rstrip("\n").rsplit("\nBENCH_EDIT = ", 1)[0] + f"\nBENCH_EDIT = '{RUN_ID}-{round_}'\n")


def user_env() -> dict[str, str]:
    # As on a user's machine, where Python caches builder's own bytecode.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def rebuild(root: Path, timings: Path) -> dict[str, float]:
    """One ``build --function`` run as a user runs it: wall time, and its engine time from inside."""
    argv = [sys.executable, str(TIMED), str(timings), "--project", str(root), "build", "--function", FUNCTION, "--tag", TAG]
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False, env=user_env())
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"builder build failed:\n{result.stdout}{result.stderr}")
    inside = json.loads(timings.read_text())
    engine_calls = inside["engine_calls"] - inside["sdk_import"]  # importing the SDK is builder's own start-up
    return {"wall": wall, "docker_build": inside["docker_build"], "engine_calls": engine_calls,
            "sdk_import": inside["sdk_import"], "own": wall - inside["docker_build"] - engine_calls}  # fmt: skip


def floor(root: Path, engine: DockerEngine, dockerfile: str) -> float:
    """builder's own ``docker build`` of the target, with nothing to do."""
    argv = [engine.buildkit_client(), "build", "--progress=plain", "-f", "-", "-t", f"example-{FUNCTION}:{TAG}",
            "--target", FUNCTION, str(root)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, input=dockerfile.encode(), capture_output=True, check=True, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    return time.perf_counter() - started


def start_up(code: str, runs: int) -> float:
    """Median wall time of a fresh interpreter running ``code`` (builder's bytecode cached)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env=user_env())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


PARSED_BUILD = "from builder import cli; cli.parser(cli.command_modules(['build', '--function', 'ml-score']))"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO / "examples" / "backend")
    parser.add_argument("--rounds", type=int, default=5, help="rebuilds timed (medians reported)")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "rebuild.json")
    args = parser.parse_args(argv)
    compileall.compile_dir(REPO / "builder", quiet=1)  # builder as installed: its bytecode written (scripts/setup)
    engine = DockerEngine()
    engine.check()
    work = Path(tempfile.mkdtemp(prefix="rebuild-bench-"))
    root = copy_backend(args.project, work / "backend", wheelhouse=True)
    timings = work / "timings.json"
    image = config.load(root).image(FUNCTION, TAG)
    try:
        rebuild(root, timings)  # the first build (and the wheelhouse, when the example had none)
        rebuild(root, timings)  # warm every cache builder keeps
        floors, runs = [], []
        for k in range(args.rounds):
            dockerfile = subprocess.run([sys.executable, "-m", "builder", "--project", str(root), "dockerfile", "-o", "-"],
                                        cwd=REPO, capture_output=True, text=True, check=True, env=user_env()).stdout  # fmt: skip
            floors.append(floor(root, engine, dockerfile))
            edit(root, k)
            runs.append(rebuild(root, timings))
    finally:
        engine.remove_image(image)
        shutil.rmtree(work, ignore_errors=True)
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    started = {"python": start_up("pass", 12), "parsed_build": start_up(PARSED_BUILD, 12)}
    result = {
        "start_up_s": started,
        "floor_s": statistics.median(floors),
        "rebuild_s": med,
        "runs": runs,
        "floors": floors,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "docker": engine.client().version().get("Version")},
    }
    ratio = med["wall"] / result["floor_s"]
    result["goals"] = {"rebuild_over_floor": ratio <= GOALS["rebuild_over_floor"], "own_work_s": med["own"] <= GOALS["own_work_s"]}
    rows = [
        ("floor: docker build with nothing to do", f"{result['floor_s']:.3f} s", "", ""),
        (f"rebuild {FUNCTION} after a one-line change (wall)", f"{med['wall']:.3f} s",
         f"<= 3x the floor: {ratio:.1f}x", "yes" if result["goals"]["rebuild_over_floor"] else "NO"),
        ("... its docker build", f"{med['docker_build']:.3f} s", "", ""),
        ("... its other engine calls", f"{med['engine_calls']:.3f} s", "", ""),
        ("... builder's own work", f"{med['own']:.3f} s", "<= 0.10 s",
         "yes" if result["goals"]["own_work_s"] else "NO"),
        ("... of which importing the Docker SDK", f"{med['sdk_import']:.3f} s", "", ""),
        ("start-up: Python, nothing else (median of 12)", f"{started['python']:.3f} s", "", ""),
        ("start-up: builder up to a parsed build command (median of 12)", f"{started['parsed_build']:.3f} s", "", ""),
    ]  # fmt: skip
    print(table(("measure", f"median of {args.rounds}", "goal", "met"), rows))
    write_atomic(args.json_out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json_out}")
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
