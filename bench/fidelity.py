"""Measure local Lambda fidelity: the same probes under builder and under AWS's RIE; write docs/fidelity.md.

Builds ``tests/fixtures/lambdalike`` (a copy, tag ``fidelity``), then runs every probe of
``tests/acceptance/fidelity_probes.py`` twice: against ``python -m builder run`` of the
function, and against the same image under AWS's Runtime Interface Emulator, run the way
``sam local invoke`` runs it (the RIE as entrypoint, a memory limit, Lambda's variables). The
RIE is the ``aws-lambda-rie`` binary that PyPI's ``aws-sam-cli`` wheel ships: downloaded on the
host (``pip download --no-deps aws-sam-cli``) unless ``--rie PATH`` names one.

    python bench/fidelity.py                    # writes docs/fidelity.md and bench/results/fidelity.json
    python bench/fidelity.py --only freeze event
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.core.files import write_atomic
from builder.engine.docker_engine import DockerEngine
from builder.project import config
from tests.acceptance import fidelity_probes as probes

REPO = Path(__file__).resolve().parent.parent
TAG = "fidelity"
CACHE = Path(tempfile.gettempdir()) / "builder-bench-rie"


def rie_binary(given: str | None) -> Path:
    """AWS's RIE for this machine's architecture, from the aws-sam-cli wheel (downloaded once)."""
    if given:
        return Path(given).resolve()
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    binary = CACHE / f"aws-lambda-rie-{arch}"
    if binary.is_file():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(CACHE), "aws-sam-cli"],
                   check=True, capture_output=True)
    wheel = max(CACHE.glob("aws_sam_cli-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        binary.write_bytes(archive.read(f"samcli/local/rapid/aws-lambda-rie-{arch}"))
    binary.chmod(0o755)
    return binary


def sam_version() -> str:
    wheels = sorted(CACHE.glob("aws_sam_cli-*.whl"))
    return wheels[-1].name.split("-")[1] if wheels else "?"


def build(dest: Path) -> Path:
    root = dest / "lambdalike"
    shutil.copytree(REPO / "tests" / "fixtures" / "lambdalike", root,
                    ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    subprocess.run([sys.executable, "-m", "builder", "--project", str(root), "build", "--all", "--tag", TAG],
                   cwd=REPO, check=True, capture_output=True)
    return root


def cell(text: str, ok: bool) -> str:
    return f"{'✅' if ok else '❌'} {text}".replace("|", "\\|")


def render(builder: dict, rie: dict, rie_version: str) -> str:
    rows = []
    for number, b in enumerate(probes.BEHAVIOURS, 1):
        if b.key not in builder:
            continue
        tests = ", ".join(f"`{t if '/' in t or '::' in t else 'test_fidelity.py::' + t}`" for t in b.tests)
        rows.append(f"| {number} | {b.title} | {b.lambda_does} ([source]({b.source})) | {cell(*rie[b.key])} | "
                    f"{cell(*builder[b.key])} | {tests}; `test_fidelity.py::test_builder_does_what_lambda_does[{b.key}]` |")
    matched_b = sum(ok for _, ok in builder.values())
    matched_r = sum(ok for _, ok in rie.values())
    return "\n".join([
        "# Local runs as faithful as Lambda",
        "",
        "One row per behaviour of AWS Lambda that a local run can have or miss. The Lambda column says",
        "what Lambda does, with its source (AWS's documentation where it says so; where it does not, a",
        "public report of what Lambda answered). The other two columns are **measured** by",
        "`python bench/fidelity.py`, which runs the same probe (`tests/acceptance/fidelity_probes.py`)",
        "against the same image (`tests/fixtures/lambdalike`) twice: under AWS's Runtime Interface",
        f"Emulator (the `aws-lambda-rie` of PyPI's aws-sam-cli {rie_version}, run as `sam local invoke` runs it:",
        "the RIE as entrypoint, a memory limit, Lambda's variables) and under `python -m builder run`.",
        "✅ means the probe saw what Lambda does. The test column names the acceptance test that proves",
        "builder's behaviour in a real container; every probe is also run against builder by",
        "`test_fidelity.py::test_builder_does_what_lambda_does`, so a regression fails CI.",
        "",
        f"**builder: {matched_b} of {len(builder)} match Lambda; RIE: {matched_r} of {len(rie)}.**",
        "",
        "| # | behaviour | Lambda | AWS RIE (measured) | builder (measured) | proved by |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "## Notes",
        "",
        "- /tmp: builder mounts an ext4 file system of the configured size (a sparse image file, loop-mounted",
        "  on the host, removed with the container), so what a function writes there is not charged to its",
        "  memory cgroup, as a tmpfs would be. That needs root and an engine on the same machine; elsewhere",
        "  builder falls back to a tmpfs of the same size (executable), says so, and rows 2 and 3 then differ.",
        "- Freezing is the engine's pause (the cgroup freezer) after each invoke and its unpause before the",
        "  next; `bench/invoke.py` measures what it costs. `--no-freeze` turns it off.",
        "- Out of memory: Lambda's answer says Runtime.ExitError and its REPORT says Runtime.OutOfMemory",
        "  (both sources in the row); builder does the same rather than one type in both places.",
        "- Handler not found: builder checks handlers when it builds, so only an image run with another",
        "  handler (`docker run IMAGE module.missing`) reaches it at run time; the probe does that.",
        "- The RIE has no sandbox of its own: /tmp, the user and the file system (rows 2, 27, 28) are",
        "  what the container gives it, here as `sam local invoke` runs it (writable overlay, root). Its",
        "  \"Max Memory Used\" is the memory size, not a measurement; it answers no X-Amzn-RequestId and no",
        "  X-Amz-Function-Error, and a second concurrent invoke is cut off.",
        "- Regenerate: `python bench/fidelity.py` (root, a Docker engine; about five minutes).",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rie", help="AWS's aws-lambda-rie binary (default: from the aws-sam-cli wheel)")
    parser.add_argument("--only", nargs="*", default=[], help="probe keys (default: all)")
    parser.add_argument("--out", default=str(REPO / "docs" / "fidelity.md"))
    args = parser.parse_args(argv)
    engine = DockerEngine()
    rie = rie_binary(args.rie)
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp))
        cfg = config.load(root)
        try:
            def start_rie(setup: str) -> probes.Target:
                spec = probes.SETUPS[setup]
                return probes.rie_target(cfg.image(spec["function"], TAG), cfg.command(spec["function"]), setup,
                                         rie, engine)

            only = tuple(args.only)
            builder = probes.run_all(lambda setup: probes.builder_target(root, TAG, setup, REPO, engine), only)
            under_rie = probes.run_all(start_rie, only)
        finally:
            for fn in cfg.functions:
                engine.remove_image(cfg.image(fn.name, TAG))
    results = {key: {"builder": builder[key], "rie": under_rie[key]} for key in builder}
    write_atomic(REPO / "bench" / "results" / "fidelity.json", json.dumps(results, indent=2, sort_keys=True) + "\n")
    if not only:
        write_atomic(Path(args.out), render(builder, under_rie, sam_version()))
    for key, both in results.items():
        print(f"{key:22} builder {'ok ' if both['builder'][1] else 'NO '} rie {'ok ' if both['rie'][1] else 'NO '}"
              f" {both['rie'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
