"""Benchmark: warm analysis of the bundled examples (nothing changed since the last run).

For each example (a private copy): one cold run (locks are committed; wheels are downloaded
into the copy's wheelhouse if pip's cache lacks them), then, warm, the median of N runs of

- ``load + analyse``: reading the template (and builder.toml), checking the locks, the
  wheelhouse and every closure, in this process;
- ``closure --json``: the same as a user runs it, a whole ``python -m builder`` process.

    python bench/analysis.py                  # writes bench/results/analysis.json
    python bench/analysis.py --repeat 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from builder import pipeline
from builder.project import config

EXAMPLES = ("sam-app", "backend")


def _median(seconds: list[float]) -> float:
    return statistics.median(seconds)


def measure(example: str, repeat: int, work: Path) -> dict:
    root = work / example
    shutil.copytree(REPO / "examples" / example, root, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    started = time.perf_counter()
    analysis = pipeline.analyse(config.load(root))
    cold = time.perf_counter() - started
    first = next(iter(analysis.closures))
    in_process, cli = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        pipeline.analyse(config.load(root))
        in_process.append(time.perf_counter() - started)
    argv = [sys.executable, "-m", "builder", "--project", str(root), "closure", "--function", first, "--json"]
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
        cli.append(time.perf_counter() - started)
    return {
        "example": example, "functions": len(analysis.closures), "cold_s": round(cold, 3),
        "warm_load_analyse_s": round(_median(in_process), 4), "warm_cli_closure_s": round(_median(cli), 4),
        "repeat": repeat,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="warm runs of each measurement (median reported)")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "analysis.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        rows = [measure(example, args.repeat, Path(tmp)) for example in EXAMPLES]
    print(f"{'example':<10} {'functions':>9} {'cold':>8} {'warm load+analyse':>18} {'warm CLI closure':>17}")
    for r in rows:
        print(f"{r['example']:<10} {r['functions']:>9} {r['cold_s']:>7.2f}s {r['warm_load_analyse_s']:>17.3f}s "
              f"{r['warm_cli_closure_s']:>16.3f}s")  # fmt: skip
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
