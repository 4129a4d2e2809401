"""Benchmark: how long the everyday commands take on the bundled example, warm.

On a private copy of the backend (its downloaded wheels copied, nothing fetched), after a
first ``build --all``:

- ``build --all`` after a one-line change in shared code (``shared/records.py``), with
  ``--jobs 1`` (one image after another) and ``--jobs 4`` (the default), N rounds interleaved,
  median: the wall time a user waits, as ``python -m builder`` runs it;
- measuring the eight images as ``report --all`` and ``check`` do: one ``docker save`` of all
  of them (each shared layer once), against one save per image, median of N;
- what making an image's config reproducible costs each build (``pipeline.fix_times``): with
  another ``SOURCE_DATE_EPOCH`` each round, so the config is made and loaded every time.

    python bench/commands.py                # writes bench/results/commands.json
    python bench/commands.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from size import copy_backend, run_builder, table  # noqa: E402  (bench/size.py, beside this script)

from builder import pipeline  # noqa: E402
from builder.core.files import write_atomic  # noqa: E402
from builder.engine.docker_engine import DockerEngine
from builder.measure import sizes
from builder.project import config

engine = DockerEngine()  # the engine these tests or benchmarks talk to

TAG = "commands-bench"
EDITED = "shared/records.py"
RUN_ID = uuid.uuid4().hex[:12]


def edit(root: Path, round_: int) -> None:
    """A one-line change in shared code, unique per run (BuildKit's cache outlives a run)."""
    path = root / EDITED
    path.write_text(path.read_text() + f"\nBENCH_EDIT = '{RUN_ID}-{round_}'\n")


def measure_saves(refs: list[str]) -> tuple[float, float]:
    """Seconds to measure ``refs``: one archive of all, and one archive per image."""
    started = time.perf_counter()
    together = sizes.analyse_images(engine.save(*refs), refs)
    one_save = time.perf_counter() - started
    started = time.perf_counter()
    apart = [sizes.analyse_image(engine.save(ref), ref=ref) for ref in refs]
    per_image = time.perf_counter() - started
    if together != apart:
        raise SystemExit("measuring from one archive gave other figures than one archive per image")
    return one_save, per_image


def measure_fix_times(refs: list[str], round_: int) -> float:
    """Median seconds per image to give each of ``refs`` a new reproducible config (and load it)."""
    seconds = []
    for ref in refs:
        started = time.perf_counter()
        pipeline.fix_times(engine, ref, 1_700_000_000 + round_)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO / "examples" / "backend", help="the backend (default: the bundled example)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (median reported)")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "commands.json")
    args = parser.parse_args(argv)

    engine.check()
    work = Path(tempfile.mkdtemp(prefix="commands-bench-"))
    root = copy_backend(args.project, work / "backend", wheelhouse=True)  # its wheels: no download
    cfg = config.load(root)
    refs = [cfg.image(fn.name, TAG) for fn in cfg.functions]
    try:
        print(f"first build of {len(refs)} images in {root} ...", flush=True)
        run_builder(root, "build", "--all", "--tag", TAG)
        builds: dict[str, list[float]] = {"1": [], "4": []}
        for round_ in range(args.rounds):
            for jobs in builds:
                edit(root, f"{round_}-{jobs}")
                builds[jobs].append(run_builder(root, "build", "--all", "--tag", TAG, "--jobs", jobs)[0])
        saves = [measure_saves(refs) for _ in range(args.rounds)]
        fixes = [measure_fix_times(refs, round_) for round_ in range(args.rounds)]
    finally:
        for ref in refs:
            engine.remove_image(ref)
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "build_all_after_edit_s": {f"jobs_{j}": {"runs": t, "median": statistics.median(t)} for j, t in builds.items()},
        "measure_all_s": {
            "one_save": statistics.median(s[0] for s in saves),
            "save_per_image": statistics.median(s[1] for s in saves),
            "runs": saves,
        },
        "fix_times_per_image_s": {"runs": fixes, "median": statistics.median(fixes)},
        "images": len(refs),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "docker": engine.client().version().get("Version")},
    }
    b, m = result["build_all_after_edit_s"], result["measure_all_s"]
    rows = [
        (f"build --all after a one-line change in {EDITED}", f"{b['jobs_1']['median']:.2f} s", f"{b['jobs_4']['median']:.2f} s"),
        (f"measure all {len(refs)} images (report --all, check)", f"{m['save_per_image']:.2f} s", f"{m['one_save']:.2f} s"),
    ]
    print()
    print(table((f"median of {args.rounds}", "before: --jobs 1 / a save per image", "now: --jobs 4 / one save"), rows))
    print(f"\nreproducible config per image (pipeline.fix_times, config made and loaded): "
          f"{result['fix_times_per_image_s']['median'] * 1000:.0f} ms")
    write_atomic(args.json_out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
