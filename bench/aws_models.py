"""Benchmark: what shipping only the service models a function uses saves, per boto3 function.

For each bundled example (examples/backend, examples/sam-app), on a private copy (its wheels
copied when it has them): the functions whose image holds botocore are built three times with
``python -m builder build --json``: with the models builder finds in the code, with those and
``[strip] sources = false`` (the dependencies' bytecode without their sources), and with
``aws-services = "off"`` (every model, as before); the table gives the bytes above the base of
each, the services shipped and the ratio of the first to the last. Goal (issue 16): ``orders-api`` at most 15 MB above the base.

    python bench/aws_models.py                 # writes bench/results/aws-models.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from peers import without_sources  # noqa: E402  (bench/peers.py, beside this script)
from size import copy_backend, table  # noqa: E402

from builder import pipeline  # noqa: E402
from builder.core.files import write_atomic  # noqa: E402
from builder.engine.docker_engine import DockerEngine  # noqa: E402
from builder.project import config  # noqa: E402

EXAMPLES = ("backend", "sam-app")
TAG = "aws-models-bench"
GOAL = ("backend", "orders-api", 15_000_000)


def build(root: Path, functions: list[str], tag: str) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-m", "builder", "--project", str(root), "build", "--json", "--tag", tag]
    argv += [f"--function={name}" for name in functions]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"builder build failed:\n{result.stdout}{result.stderr}")
    return {built["function"]: built["above_base"] for built in json.loads(result.stdout)}


def all_models(root: Path) -> None:
    """``aws-services = "off"`` at the top of builder.toml (keys go before the tables)."""
    path = root / "builder.toml"
    text = path.read_text() if path.is_file() else ""
    path.write_text('aws-services = "off"\n' + text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "aws-models.json")
    args = parser.parse_args(argv)
    engine = DockerEngine()
    engine.check()
    work = Path(tempfile.mkdtemp(prefix="aws-models-bench-"))
    result: dict[str, dict] = {}
    made: list[str] = []
    try:
        for example in EXAMPLES:
            root = copy_backend(REPO / "examples" / example, work / example, wheelhouse=True)
            cfg = config.load(root)
            analysis = pipeline.analyse(cfg)
            services = {name: found.services for name, found in sorted(analysis.services.items())}
            result[example] = {}
            if not services:
                continue
            names = sorted(services)
            now = build(root, names, TAG)
            original = (root / "builder.toml").read_text() if (root / "builder.toml").is_file() else None
            without_sources(root)
            bytecode = build(root, names, TAG + "-nosrc")
            if original is None:
                (root / "builder.toml").unlink()
            else:
                (root / "builder.toml").write_text(original)
            all_models(root)
            before = build(root, names, TAG + "-all")
            made += [config.load(root).image(n, t) for n in names for t in (TAG, TAG + "-all", TAG + "-nosrc")]
            for name in names:
                result[example][name] = {"all_models": before[name], "detected": now[name], "no_sources": bytecode[name],
                                         "services": list(services[name]) if services[name] is not None else None}  # fmt: skip
    finally:
        for image in made:
            engine.remove_image(image)
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for example, per in result.items():
        if not per:
            rows.append((f"{example}: no function ships botocore", "", "", "", "", ""))
        for name, row in per.items():
            rows.append((f"{example} {name}", f"{row['all_models'] / 1e6:.1f} MB", f"{row['detected'] / 1e6:.1f} MB",
                         ", ".join(row["services"] or ["all"]), f"{row['detected'] / row['all_models']:.0%}",
                         f"{row['no_sources'] / 1e6:.1f} MB"))  # fmt: skip
    print(table(("function", "every model", "models found", "services", "ratio", "found, sources = false"), rows))
    example, name, limit = GOAL
    got, bytecode = result[example][name]["detected"], result[example][name]["no_sources"]
    met = got <= limit
    print(f"goal: {example} {name} <= {limit / 1e6:.0f} MB above the base: {got / 1e6:.1f} MB, {'met' if met else 'MISSED'}"
          f" ({bytecode / 1e6:.1f} MB with [strip] sources = false: {'met' if bytecode <= limit else 'missed'})")
    write_atomic(args.json_out, json.dumps({"functions": result, "goal_met": met, "goal_met_without_sources": bytecode <= limit},
                                           indent=2, sort_keys=True) + "\n")  # fmt: skip
    print(f"wrote {args.json_out}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
