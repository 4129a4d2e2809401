"""Benchmark: the example's eight images built for x86_64 and for arm64 on this x86_64 machine, and
the same arm64 images built the emulated way, in one run.

Each build starts from an empty build cache (``docker builder prune --all``) with the wheels
already downloaded, so it measures building, not downloading:

* ``x86_64``: ``build --all`` of a copy of the example as it is;
* ``arm64``: ``build --all`` of a copy whose template says ``Architectures: [arm64]`` for every
  function: builder stages run on the build machine's platform (pip installs the aarch64 wheels
  with ``--platform``, bytecode compiles natively), production stages only COPY onto the arm64 base;
* ``arm64, emulated``: the same Dockerfile with the builder stages FROM the arm64 base, so pip and
  the bytecode compiler run under qemu, as a Dockerfile without ``--platform=$BUILDPLATFORM`` would.

The cache is emptied: run it on an engine of its own, e.g. a second dockerd
(``DOCKER_HOST=unix:///run/docker3.sock``) holding both base images.

    python bench/arm64.py                      # prints the table, writes bench/results/arm64.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from builder import pipeline  # noqa: E402
from builder.core.files import write_atomic  # noqa: E402
from builder.engine.docker_engine import DockerEngine  # noqa: E402
from builder.project import config  # noqa: E402

EXAMPLE = REPO / "examples" / "backend"
GOAL = 1.3  # arm64 build time at most this times the x86_64 one
HEAD = "    Type: AWS::Serverless::Function\n    Properties:\n"


def copy(dest: Path, arm64: bool) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    if arm64:
        template = dest / "template.yaml"
        text = template.read_text().replace("    Architectures:\n      - x86_64\n", "", 1)
        template.write_text(text.replace(HEAD, HEAD + "      Architectures: [arm64]\n"))
    return dest


def empty_cache(engine: DockerEngine) -> None:
    subprocess.run([engine.buildkit_client(), "builder", "prune", "--all", "--force"], check=True, capture_output=True)


def cli_build(root: Path, tag: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "builder", "--project", str(root), "build", "--all", "--tag", tag],
                   check=True, capture_output=True, text=True)  # fmt: skip
    return time.monotonic() - started


def emulated_build(engine: DockerEngine, root: Path, tag: str) -> float:
    """The arm64 images with every builder stage on the arm64 base: pip and compileall under qemu."""
    cfg = config.load(root)
    analysis = pipeline.analyse(cfg)
    cfg = pipeline.with_base(cfg, engine)
    text = pipeline.prepare(cfg, replace(pipeline.plan(cfg, analysis), base_image=cfg.base_image))
    text = text.replace("FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} ", "FROM ${BASE_IMAGE_ARM64} ")
    names = [fn.name for fn in cfg.functions]
    started = time.monotonic()
    pipeline.build_many(cfg, engine, text, names, tag=tag)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out", type=Path, default=REPO / "bench" / "results" / "arm64.json")
    args = parser.parse_args()
    engine = DockerEngine()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-arm64-") as tmp:
        x86, arm = copy(Path(tmp) / "x86" / "backend", False), copy(Path(tmp) / "arm" / "backend", True)
        for root in (x86, arm):  # the wheels, downloaded before any timing
            subprocess.run([sys.executable, "-m", "builder", "--project", str(root), "dockerfile", "--output", "-"],
                           check=True, capture_output=True)  # fmt: skip
        for name, run in (("x86_64", lambda: cli_build(x86, "bench-x86")), ("arm64", lambda: cli_build(arm, "bench-arm")),
                          ("arm64, emulated", lambda: emulated_build(engine, arm, "bench-emulated"))):  # fmt: skip
            empty_cache(engine)
            rows[name] = run()
        cfg = config.load(arm)
        platforms = {engine.image_info(cfg.image(fn.name, "bench-arm")).platform for fn in cfg.functions}
        for tag in ("bench-x86", "bench-arm", "bench-emulated"):
            for fn in cfg.functions:
                engine.remove_image(cfg.image(fn.name, tag))
    ratio = rows["arm64"] / rows["x86_64"]
    print(f"{'build --all, empty cache':<28}{'seconds':>9}{'x x86_64':>10}")
    for name, seconds in rows.items():
        print(f"{name:<28}{seconds:>9.1f}{seconds / rows['x86_64']:>10.2f}")
    verdict = "met" if ratio <= GOAL else "missed"
    print(f"goal: arm64 at most {GOAL}x x86_64: {ratio:.2f}x, {verdict}; arm64 images: {', '.join(sorted(platforms))}")
    result = {"seconds": rows, "arm64_over_x86_64": round(ratio, 3), "goal": GOAL, "met": ratio <= GOAL,
              "arm64_platforms": sorted(platforms)}  # fmt: skip
    write_atomic(args.json_out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
