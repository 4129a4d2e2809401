"""Benchmark: per-function closures of a synthetic 5,000-module backend, against modulefinder.

Generates (deterministically, from a seed) a backend of about 5,000 modules of
about 150 lines in a realistic package tree (``functions/<group>/<fn>/...`` and
``shared/<domain>/<sub>/...``), 50 functions, third-party imports of the
example's distributions, and fake wheels for them (real metadata shapes: markers,
extras, RECORD sizes, some without top_level.txt). Then times:

- cold: no parse cache, no wheel-metadata cache (fast scanner, the default);
- cold, strict: the same with every file parsed in full by ``ast``;
- warm: the caches saved by the cold run are loaded (sources unchanged: the stored
  closures are reused once every input is checked);
- warm after an edit: one shared module changed before each run, so every closure is
  computed again, from the cached scans of the other files;
- ``modulefinder.ModuleFinder(path=[root], excludes=<third-party>)``, one per handler;
- grimp (PyPI; a Rust-backed import-graph builder), in a fresh interpreter each run: the
  graph of ``functions`` and ``shared`` without its cache (cold) and with its cache (warm),
  then each handler's upstream modules;

and checks that modulefinder and grimp find the same local modules as builder for every
function (grimp's sets with the packages above each module, which Python imports too), and
that the warm runs return exactly the cold run's closures (reasons included).

    python bench/closure.py                       # writes bench/results/closure.json
    python bench/closure.py --modulefinder-functions 10 --keep /tmp/synth
"""

from __future__ import annotations

import argparse
import json
import modulefinder
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.analysis import closure
from builder.analysis.parse_cache import ParseCache
from builder.deps import dists
from builder.deps.target import Target
from builder.project import config

# name, version, top_level.txt (None: derive from RECORD), files in RECORD, Requires-Dist
DISTS = [
    ("numpy", "2.2.6", None, 1000, []),
    ("pandas", "2.3.2", None, 1500, [
        'numpy>=1.22.4; python_version < "3.11"', 'numpy>=1.23.2; python_version == "3.11"',
        'numpy>=1.26.0; python_version >= "3.12"', "python-dateutil>=2.8.2", "pytz>=2020.1", "tzdata>=2022.7",
        'pytest>=7.3.2; extra == "test"']),
    ("pillow", "12.2.0", "PIL", 130, ['olefile; extra == "fpx"']),
    ("pydantic", "2.14.4", None, 110, [
        "annotated-types>=0.6.0", "pydantic-core==2.50.5", "typing-extensions>=4.16.0", "typing-inspection>=0.4.4",
        "tzdata; (platform_system == 'Windows') and extra == 'timezone'"]),
    ("pydantic_core", "2.50.5", None, 6, ["typing-extensions>=4.16.0"]),
    ("annotated_types", "0.8.0", None, 3, []),
    ("typing_extensions", "4.16.0", None, 1, []),
    ("typing_inspection", "0.4.5", None, 5, ["typing-extensions>=4.15.0"]),
    ("boto3", "1.44.8", "boto3", 56, [
        "botocore (<1.45.0,>=1.44.8)", "jmespath (<2.0.0,>=0.7.1)", "s3transfer (<0.20.0,>=0.19.0)",
        "botocore[crt] (<2.0a0,>=1.21.0) ; extra == 'crt'"]),
    ("botocore", "1.44.8", "botocore", 2050, [
        "jmespath (<2.0.0,>=0.7.1)", "python-dateutil (<3.0.0,>=2.1)", "urllib3 (!=2.2.0,<3,>=1.25.4)",
        "awscrt (==0.38.0) ; extra == 'crt'"]),
    ("s3transfer", "0.19.3", "s3transfer", 16, ["botocore (<2.0a.0,>=1.37.4)"]),
    ("jmespath", "1.1.0", "jmespath", 8, []),
    ("python_dateutil", "2.9.0.post0", "dateutil", 19, ["six >=1.5"]),
    ("six", "1.17.0", "six", 1, []),
    ("pytz", "2026.6", "pytz", 600, []),
    ("tzdata", "2026.6", "tzdata", 620, []),
    ("requests", "2.34.2", "requests", 20, [
        "charset_normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.26", "certifi>=2023.5.7",
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"']),
    ("urllib3", "2.8.0", None, 38, [
        "brotli>=1.2.0; (platform_python_implementation == 'CPython') and extra == 'brotli'"]),
    ("idna", "3.20", None, 11, []),
    ("certifi", "2026.10.19.post1", "certifi", 7, []),
    ("charset_normalizer", "3.5.3", "charset_normalizer", 15, []),
]  # fmt: skip
TOP = {"numpy": "numpy", "pandas": "pandas", "pillow": "PIL", "pydantic": "pydantic", "pydantic_core": "pydantic_core",
       "annotated_types": "annotated_types", "typing_extensions": "typing_extensions",
       "typing_inspection": "typing_inspection", "boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer",
       "jmespath": "jmespath", "python_dateutil": "dateutil", "six": "six", "pytz": "pytz", "tzdata": "tzdata",
       "requests": "requests", "urllib3": "urllib3", "idna": "idna", "certifi": "certifi",
       "charset_normalizer": "charset_normalizer"}  # fmt: skip
THIRD_PARTY = {  # per shared domain: import lines a module of the domain may use
    "core": [],
    "db": ["import boto3", "from botocore.exceptions import ClientError"],
    "auth": ["import requests"],
    "billing": ["from pydantic import BaseModel, Field"],
    "catalog": ["from pydantic import BaseModel", "import dateutil.parser"],
    "media": ["from PIL import Image", "from PIL import ImageOps"],
    "analytics": ["import numpy as np", "import pandas as pd"],
    "notify": ["import requests", "from urllib3.util import Retry"],
    "search": ["import requests", "import pytz"],
    "storage": ["import boto3", "from s3transfer.manager import TransferManager"],
}
STDLIB = ["json", "os", "re", "logging", "datetime", "functools", "itertools", "collections", "decimal", "uuid",
          "hashlib", "base64", "typing", "dataclasses", "enum", "time", "math", "string", "textwrap"]  # fmt: skip
WORDS = ["models", "services", "validators", "repository", "serializers", "handlers", "utils", "schema", "client",
         "cache", "events", "errors", "config", "metrics", "pagination", "filters", "mappers", "policies", "queries",
         "commands", "adapters", "formatters", "parsers", "rules", "tasks", "views", "forms", "signals", "hooks",
         "helpers", "types", "constants", "registry", "backends", "loaders"]  # fmt: skip


def make_wheel(folder: Path, name: str, version: str, top: str | None, nfiles: int, requires: list[str]) -> None:
    """A fake wheel with real metadata shapes; RECORD lists ``nfiles`` modules with sizes."""
    top_name = TOP[name]
    info = f"{name}-{version}.dist-info"
    if name in ("six", "typing_extensions"):
        files = [f"{top_name}.py"]
    else:
        files = [f"{top_name}/__init__.py"] + [f"{top_name}/sub{i // 40}/mod{i}.py" for i in range(1, nfiles)]
        files += [f"{top_name}/sub{j}/__init__.py" for j in range((nfiles - 1) // 40 + 1)]
        files += {"botocore": ["botocore/exceptions.py"], "s3transfer": ["s3transfer/manager.py"],
                  "urllib3": ["urllib3/util/__init__.py", "urllib3/util/retry.py"]}.get(name, [])  # fmt: skip
    rng = random.Random(name)
    meta = ["Metadata-Version: 2.1", f"Name: {name.replace('_', '-')}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    meta += sorted({f"Provides-Extra: {r.split('extra == ')[1].strip(chr(34) + chr(39) + ')')}"
                    for r in requires if "extra ==" in r})  # fmt: skip
    record = [f"{f},sha256=x,{rng.randint(200, 60000)}" for f in files]
    record += [f"{info}/METADATA,sha256=x,{len(chr(10).join(meta))}", f"{info}/RECORD,,"]
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{info}/METADATA", "\n".join(meta) + "\n")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
        if top:
            zf.writestr(f"{info}/top_level.txt", top + "\n")
        zf.writestr(files[0], "")


def module_body(rng: random.Random, imports: list[str], lazy: list[str], optional: list[str], handler: bool) -> str:
    """About 150 lines of ordinary code around the given import lines."""
    cls = "".join(w.capitalize() for w in rng.sample(WORDS, 2))
    lines = [f'"""{cls}: generated module for the closure benchmark."""', "", "from __future__ import annotations", ""]
    lines += [f"import {m}" for m in sorted(rng.sample(STDLIB, rng.randint(2, 5)))]
    lines += [""] + imports + [""]
    for opt in optional:
        lines += ["try:", f"    {opt}", "except ImportError:  # optional speed-up", "    pass", ""]
    lines += ["try:", "    import ujson as fastjson", "except ImportError:", "    fastjson = None", ""]
    lines += [f"LIMIT = {rng.randint(10, 500)}", f'PREFIX = "{rng.choice(WORDS)}:"', "", ""]
    lines += [f"class {cls}:", f'    """A {cls.lower()} with a few methods."""', "",
              "    def __init__(self, name: str, size: int = 0) -> None:", "        self.name = name",
              "        self.size = size", "        self.items: list[dict] = []", ""]  # fmt: skip
    for k in range(rng.randint(5, 7)):
        lines += [f"    def step_{k}(self, value, *, strict: bool = False):",
                  f'        """Step {k}: transform the value."""',
                  f"        total = sum(x * {k + 1} for x in range(self.size) if x % {k + 2})",
                  "        if strict and total > LIMIT:",
                  '            raise ValueError(f"{self.name}: {total} > {LIMIT}")',
                  f'        record = {{"name": self.name, "step": {k}, "total": total, "value": str(value)}}',
                  "        self.items.append(record)",
                  "        for key, item in sorted(record.items()):",
                  '            if key.startswith("_"):',
                  "                continue",
                  "        return record", ""]  # fmt: skip
    for lazy_line in lazy:
        lines += ["    def lazy_dependency(self):", '        """Imported on first use (cold-start friendly)."""',
                  f"        {lazy_line}", "        return locals()", ""]  # fmt: skip
    for k in range(rng.randint(2, 4)):
        lines += ["", "", f"def helper_{k}(payload: dict, limit: int = LIMIT) -> list:",
                  f'    """Helper {k} over a payload."""',
                  "    out = []",
                  "    for index, (key, value) in enumerate(sorted(payload.items())):",
                  "        if index >= limit:",
                  "            break",
                  "        try:",
                  "            out.append((PREFIX + key, int(value)))",
                  "        except (TypeError, ValueError):",
                  "            out.append((PREFIX + key, 0))",
                  "    return out"]  # fmt: skip
    if handler:
        lines += ["", "", "def handler(event, context=None):", '    """The Lambda entry point."""',
                  f"    worker = {cls}(str(event.get('name', 'x')), 3)", "    return worker.step_0(event)"]  # fmt: skip
    while len(lines) < 148:
        lines += ["", f"# {rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randint(0, 999)}"]
    return "\n".join(lines) + "\n"


def generate(root: Path, modules: int, functions: int, seed: int, density: str = "dense") -> dict:
    """Write the backend under ``root``; returns counts.

    ``dense``: a shared module imports siblings chosen among all the modules below it, which
    makes closures large (a median of about 900 local files); ``light``: among the first four
    (foundational) modules of its package, as utilities and models usually are.
    """
    rng = random.Random(seed)
    domains = list(THIRD_PARTY)  # ranked: a domain imports only lower ones
    subs_per_domain, shared_share = 8, 0.4
    per_sub = max(3, round(modules * shared_share / (len(domains) * subs_per_domain)) - 1)
    shared: dict[str, list[str]] = {}  # "shared.d.s" -> module names in order
    files: dict[str, str] = {"functions/__init__.py": "", "shared/__init__.py": '"""Shared code."""\n'}
    for d in domains:
        files[f"shared/{d}/__init__.py"] = ""
        for s in range(subs_per_domain):
            pkg = f"shared.{d}.{WORDS[s]}"
            files[f"shared/{d}/{WORDS[s]}/__init__.py"] = ""
            shared[pkg] = [f"{WORDS[(s + i) % len(WORDS)]}_{i}" for i in range(per_sub)]

    def shared_imports(d_rank: int, s_index: int, i: int, domain: str) -> list[str]:
        out = []
        pkg = f"shared.{domain}.{WORDS[s_index]}"
        below = range(i) if density == "dense" else range(min(i, 4))
        for j in sorted(rng.sample(below, min(len(below), rng.randint(1, 3)))):  # siblings below
            name = shared[pkg][j]
            out.append(rng.choice([f"from . import {name}", f"from .{name} import {name.title().replace('_', '')}"]))
        if s_index:
            lower = f"shared.{domain}.{WORDS[rng.randrange(s_index)]}"
            mod = rng.choice(shared[lower][: max(1, i)] if density == "dense" else shared[lower][:4])
            sub = lower.rsplit(".", 1)[1]
            forms = [f"import {lower}.{mod}", f"from {lower} import {mod}", f"from ..{sub}.{mod} import X"]
            out.append(rng.choice(forms))
        if d_rank and rng.random() < 0.5:
            other = domains[rng.randrange(d_rank)]
            lower = f"shared.{other}.{WORDS[rng.randrange(subs_per_domain)]}"
            out.append(f"from {lower}.{rng.choice(shared[lower])} import Thing")
        return out

    for rank, d in enumerate(domains):
        for s in range(subs_per_domain):
            pkg = f"shared.{d}.{WORDS[s]}"
            for i, name in enumerate(shared[pkg]):
                imports = shared_imports(rank, s, i, d)
                tp = THIRD_PARTY[d]
                if tp and rng.random() < 0.3:
                    imports.append(rng.choice(tp))
                lazy = [f"from .{shared[pkg][i + 1]} import Later"] if i + 1 < per_sub and rng.random() < 0.05 else []
                if tp and rng.random() < 0.1:
                    lazy.append(rng.choice(tp))
                optional = [f"from . import {shared[pkg][rng.randrange(i)]}"] if i and rng.random() < 0.05 else []
                files[f"{pkg.replace('.', '/')}/{name}.py"] = module_body(rng, imports, lazy, optional, False)

    groups = max(1, functions // 5)
    per_fn = max(6, round((modules - len(files) - groups) / functions))
    handlers = []
    for g in range(groups):
        group = f"{WORDS[g % len(WORDS)]}{g}"
        files[f"functions/{group}/__init__.py"] = ""
        for f in range(functions // groups + (1 if g < functions % groups else 0)):
            fn = f"fn{f}"
            base = f"functions/{group}/{fn}"
            files[f"{base}/__init__.py"] = ""
            uses = rng.sample(domains[1:], rng.randint(1, 3))
            layers = ["models", "services"]
            count = (per_fn - 4) // 2
            names = {layer: [f"{WORDS[(k + 3) % len(WORDS)]}_{k}" for k in range(count)] for layer in layers}
            for layer in layers:
                files[f"{base}/{layer}/__init__.py"] = ""
                for k, name in enumerate(names[layer]):
                    imports = [f"from . import {names[layer][j]}" for j in sorted(rng.sample(range(k), min(k, 2)))]
                    if layer == "services":
                        imports.append(f"from ..models.{rng.choice(names['models'])} import Model")
                    if rng.random() < 0.3:
                        d = rng.choice(uses)
                        pkg = f"shared.{d}.{WORDS[rng.randrange(subs_per_domain)]}"
                        imports.append(f"from {pkg} import {rng.choice(shared[pkg])}")
                    if THIRD_PARTY[uses[0]] and rng.random() < 0.15:
                        imports.append(rng.choice(THIRD_PARTY[uses[0]]))
                    files[f"{base}/{layer}/{name}.py"] = module_body(rng, imports, [], [], False)
            imports = [f"from .services import {n}" for n in names["services"][-3:]]
            for d in uses:
                pkg = f"shared.{d}.{WORDS[rng.randrange(subs_per_domain)]}"
                imports.append(f"from {pkg}.{rng.choice(shared[pkg])} import Thing")
            lazy = [rng.choice(THIRD_PARTY[uses[-1]])] if THIRD_PARTY[uses[-1]] else []
            files[f"{base}/handler.py"] = module_body(rng, imports, lazy, [], True)
            handlers.append((f"{group}-{fn}".replace("_", "-"), f"{base}/handler.handler"))
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    toml = ['name = "synthetic"', 'python-version = "3.11"', 'lock-file = "requirements/functions.txt"',
            'source-roots = ["functions", "shared"]', ""]  # fmt: skip
    for name, handler in handlers:
        toml += [f"[functions.{name}]", f'handler = "{handler}"', ""]
    (root / "builder.toml").write_text("\n".join(toml))
    (root / "requirements").mkdir()
    lock = ["# generated for the benchmark"]
    lock += [f"{name.replace('_', '-')}=={version} \\\n    --hash=sha256:00" for name, version, *_ in DISTS]
    (root / "requirements/functions.txt").write_text("\n".join(lock) + "\n")
    (root / "wheelhouse").mkdir()
    for spec in DISTS:
        make_wheel(root / "wheelhouse", *spec)
    py = [rel for rel in files if rel.endswith(".py")]
    lines = sum(text.count("\n") for rel, text in files.items() if rel.endswith(".py") and text)
    nonempty = [rel for rel in py if files[rel]]
    return {"modules": len(py), "modules_with_code": len(nonempty), "lines": lines, "density": density,
            "avg_lines": round(lines / max(1, len(nonempty))), "functions": len(handlers)}  # fmt: skip


def run_closures(cfg: config.Config, *, warm: bool, strict: bool = False) -> tuple[float, dict, dict]:
    """One run as the CLI would do it: lock, index, parse cache, all closures. Returns (seconds, closures, parts)."""
    t0 = time.perf_counter()
    target = Target.from_config(cfg)
    pins = dists.parse_lock(cfg.lock_path, target=target)
    index = dists.DistIndex.from_wheelhouse(cfg.root / "wheelhouse", pins, target=target, use_cache=warm)
    t1 = time.perf_counter()
    cache = ParseCache.load(cfg.root, strict=strict) if warm else ParseCache(strict=strict)
    t2 = time.perf_counter()
    closures = closure.compute_closures(cfg, index, target=target, cache=cache)
    t3 = time.perf_counter()
    parts = {"index": t1 - t0, "load_cache": t2 - t1, "closures": t3 - t2, "hits": cache.hits, "misses": cache.misses,
             "reused": cache.closures_reused}  # fmt: skip
    return t3 - t0, closures, {"cache": cache, **parts}


def run_after_edits(cfg: config.Config, closures: dict, repeat: int) -> list[tuple[float, dict, dict]]:
    """Warm runs, each after a change to the module most closures hold: a docstring, same size and imports."""
    counts: dict[str, int] = {}
    for c in closures.values():
        for f in c.local_files:
            if f.module and not f.path.endswith("__init__.py"):
                counts[f.path] = counts.get(f.path, 0) + 1
    path = cfg.root / max(sorted(counts), key=counts.__getitem__)
    original = path.read_text()
    runs = []
    for i in range(repeat):
        path.write_text(original.replace("Step 0:", f"Step {'abc'[i % 3]}:", 1))  # every module_body has one
        runs.append(run_closures(cfg, warm=True))
    path.write_text(original)
    return runs


def run_modulefinder(cfg: config.Config, names: list[str]) -> tuple[float, dict[str, set[str]]]:
    excludes = sorted(set(TOP.values()))
    root = str(cfg.root) + os.sep
    found = {}
    t0 = time.perf_counter()
    for fn in cfg.functions:
        if fn.name not in names:
            continue
        finder = modulefinder.ModuleFinder(path=[str(cfg.root)], excludes=excludes)
        finder.import_hook(fn.module)
        found[fn.name] = {n for n, m in finder.modules.items() if m.__file__ and m.__file__.startswith(root)}
    return time.perf_counter() - t0, found


# Run in a fresh interpreter (grimp's own start-up and import counted, as for a tool a user runs).
GRIMP = r"""
import json, sys, time
root, cache, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
sys.path.insert(0, root)
import grimp
graph = grimp.build_graph("functions", "shared", cache_dir=cache if cache != "-" else None)
t1 = time.perf_counter()
handlers = json.loads(sys.argv[4])
found = {name: sorted(graph.find_upstream_modules(module) | {module}) for name, module in handlers.items()}
t2 = time.perf_counter()
with open(out, "w") as f:
    json.dump({"graph_s": t1 - t0, "closures_s": t2 - t1, "found": found}, f)
"""


def run_grimp(cfg: config.Config, cache: str, out: Path) -> tuple[float, dict]:
    """grimp's graph of the backend (``cache`` its cache folder, "-" for none) and every handler's
    upstream modules; returns the wall time of the run and what it wrote."""
    handlers = json.dumps({fn.name: fn.module for fn in cfg.functions})
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", GRIMP, str(cfg.root), cache, str(out), handlers], check=True)
    return time.perf_counter() - t0, json.loads(out.read_text())


def with_packages(modules: set[str]) -> set[str]:
    """``modules`` and every package above them (importing ``a.b.c`` imports ``a`` and ``a.b``)."""
    return {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=5000)
    parser.add_argument("--functions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--density", choices=("dense", "light"), default="dense", help="see generate()")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each closure measurement (median reported)")
    parser.add_argument("--modulefinder-functions", type=int, default=None, help="time modulefinder on the first N")
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "closure.json")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="closure-bench-") as tmp:
        root = args.keep or Path(tmp) / "backend"
        root.mkdir(parents=True)  # --keep must name a new folder
        t = time.perf_counter()
        shape = generate(root, args.modules, args.functions, args.seed, args.density)
        shape["generate_s"] = round(time.perf_counter() - t, 2)
        cfg = config.load(root)

        cold = [run_closures(cfg, warm=False) for _ in range(args.repeat)]
        strict = run_closures(cfg, warm=False, strict=True)
        cold[-1][2]["cache"].save(cfg.root)
        dists.DistIndex.from_wheelhouse(root / "wheelhouse", dists.parse_lock(cfg.lock_path), use_cache=True)
        warm = [run_closures(cfg, warm=True) for _ in range(args.repeat)]
        edited = run_after_edits(cfg, cold[-1][1], args.repeat)
        closures = warm[-1][1]
        same_as_cold = all(r[1] == cold[-1][1] for r in (*warm, *edited))

        grimp_dir = root.parent / "grimp-cache" if args.keep else Path(tmp) / "grimp-cache"
        grimp_cold = [run_grimp(cfg, "-", Path(tmp) / "grimp.json") for _ in range(args.repeat)]
        run_grimp(cfg, str(grimp_dir), Path(tmp) / "grimp.json")  # fills its cache
        grimp_warm = [run_grimp(cfg, str(grimp_dir), Path(tmp) / "grimp.json") for _ in range(args.repeat)]
        grimp_sets = {n: with_packages(set(m)) for n, m in grimp_warm[-1][1]["found"].items()}
        grimp_mismatches = {}
        for n, theirs in grimp_sets.items():
            ours = set(closures[n].local_modules)
            if theirs != ours:
                grimp_mismatches[n] = {"only_builder": sorted(ours - theirs)[:5], "only_grimp": sorted(theirs - ours)[:5]}

        names = [fn.name for fn in cfg.functions][: args.modulefinder_functions]
        mf_time, mf_sets = run_modulefinder(cfg, names)
        mismatches = {n: {"only_builder": sorted(set(closures[n].local_modules) - s)[:5],
                          "only_modulefinder": sorted(s - set(closures[n].local_modules))[:5]}
                      for n, s in mf_sets.items() if s != set(closures[n].local_modules)}  # fmt: skip

    sizes = [len(c.local_files) for c in closures.values()]
    cold_s = statistics.median(r[0] for r in cold)
    warm_s = statistics.median(r[0] for r in warm)
    edited_s = statistics.median(r[0] for r in edited)
    ours_for_mf = cold_s * len(names) / len(closures)  # cold time scaled to the functions modulefinder ran on
    speedup = round(mf_time / ours_for_mf, 1) if names else None
    grimp_cold_s = statistics.median(r[0] for r in grimp_cold)
    grimp_warm_s = statistics.median(r[0] for r in grimp_warm)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_average": [round(x, 2) for x in os.getloadavg()]},  # at the end of the run
        "backend": shape,
        "closure_local_files": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
        "union_local_files": len({f.path for c in closures.values() for f in c.local_files}),
        "cold_s": round(cold_s, 3),
        "cold_runs_s": [round(r[0], 3) for r in cold],
        "cold_parts_s": {k: round(v, 3) for k, v in cold[-1][2].items() if isinstance(v, float)},
        "cold_strict_s": round(strict[0], 3),
        "warm_s": round(warm_s, 3),
        "warm_runs_s": [round(r[0], 3) for r in warm],
        "warm_parts_s": {k: round(v, 3) for k, v in warm[-1][2].items() if isinstance(v, float)},
        "warm_reused": all(r[2]["reused"] for r in warm),
        "warm_same_as_cold": same_as_cold,
        "edited_s": round(edited_s, 3),
        "edited_runs_s": [round(r[0], 3) for r in edited],
        "edited_parts_s": {k: round(v, 3) for k, v in edited[-1][2].items() if isinstance(v, float)},
        "edited_cache_hits": edited[-1][2]["hits"],
        "edited_reused": any(r[2]["reused"] for r in edited),
        "modulefinder_functions": len(names),
        "modulefinder_s": round(mf_time, 2),
        "speedup_vs_modulefinder": speedup,
        "same_local_modules": not mismatches,
        "mismatches": mismatches,
        "grimp_cold_s": round(grimp_cold_s, 3),
        "grimp_cold_runs_s": [round(r[0], 3) for r in grimp_cold],
        "grimp_cold_graph_s": round(statistics.median(r[1]["graph_s"] for r in grimp_cold), 3),
        "grimp_warm_s": round(grimp_warm_s, 3),
        "grimp_warm_runs_s": [round(r[0], 3) for r in grimp_warm],
        "grimp_same_local_modules": not grimp_mismatches,
        "grimp_mismatches": dict(list(sorted(grimp_mismatches.items()))[:5]),
        "grimp_mismatch_count": len(grimp_mismatches),
        "goals": {"cold_under_2s": cold_s < 2.0, "warm_under_0_3s": warm_s < 0.3,
                  "20x_modulefinder": speedup is None or speedup >= 20, "same_sets": not mismatches,
                  "warm_same_as_cold": same_as_cold,
                  "cold_no_slower_than_grimp": cold_s <= grimp_cold_s,
                  "warm_at_most_half_grimp_cached": warm_s <= grimp_warm_s / 2},  # fmt: skip
    }
    rows = [("backend", f"{shape['modules']} modules, {shape['avg_lines']} lines avg, {shape['functions']} functions"),
            ("closure size (local files)", f"min {min(sizes)}, median {statistics.median(sizes)}, max {max(sizes)}"),
            ("cold, all closures", f"{cold_s:.3f} s (runs: {', '.join(f'{r[0]:.3f}' for r in cold)})"),
            ("cold, strict (full ast)", f"{strict[0]:.3f} s"),
            ("warm, all closures", f"{warm_s:.3f} s (runs: {', '.join(f'{r[0]:.3f}' for r in warm)})"),
            ("warm, after editing a module", f"{edited_s:.3f} s (runs: {', '.join(f'{r[0]:.3f}' for r in edited)})"),
            ("warm results as cold", "yes" if same_as_cold else "NO"),
            (f"modulefinder, {len(names)} handlers", f"{mf_time:.2f} s"),
            ("speed-up vs modulefinder", f"{speedup}x (cold)" if speedup else "not measured"),
            ("same local modules", "yes" if not mismatches else f"NO: {len(mismatches)} functions differ"),
            ("grimp, cold (no cache)", f"{grimp_cold_s:.3f} s (runs: {', '.join(f'{r[0]:.3f}' for r in grimp_cold)})"
             f"; builder cold {cold_s / grimp_cold_s:.2f}x of it (goal <= 1x)"),
            ("grimp, with its cache", f"{grimp_warm_s:.3f} s (runs: {', '.join(f'{r[0]:.3f}' for r in grimp_warm)})"
             f"; builder warm {warm_s / grimp_warm_s:.2f}x of it (goal <= 0.5x)"),
            ("same local modules as grimp", "yes" if not grimp_mismatches else f"NO: {len(grimp_mismatches)} functions differ"),
            ("load average (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in os.getloadavg()))]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json_out}")
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
