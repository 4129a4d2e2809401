"""Acceptance (issue 4): the layers of the eight example images, checked on a real engine.

Shared dependency groups give one layer (one registry blob) in every image that
uses them; layers go base, dependencies (most shared lowest), botocore's service
models, shared code, function code; a boto3 function ships the models of the
services its code calls and no other (issue 16); stripped files are gone but metadata stays; every module has
valid unchecked-hash bytecode, so importing a handler on a read-only root writes
nothing; a code-only change rebuilds only the function's own layer.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict

import pytest

from builder.measure import sizes
from builder.project import config
from tests.acceptance.example_cases import FUNCTIONS, THIRD_PARTY, check_result, sample_event
from tests.helpers import BASE_IMAGE, TEST_TAG, copy_with_wheels, run_cli, run_python

pytestmark = pytest.mark.docker

EDIT_TAG = f"{TEST_TAG}-edit"
WITH_DEPS = tuple(f for f in FUNCTIONS if THIRD_PARTY[f])

# What the strip rules must have removed, and the metadata they must have kept.
CHECK_STRIPPED = r"""
import json, os
found = {"tests/": [], ".pyi": [], "C headers": [], "dist-info without METADATA": []}
dist_infos = []
for folder, dirs, files in os.walk("/opt/deps"):
    for d in dirs:
        if d == "tests":
            found["tests/"].append(os.path.join(folder, d))
        if d.endswith(".dist-info"):
            dist_infos.append(d)
            if not os.path.isfile(os.path.join(folder, d, "METADATA")):
                found["dist-info without METADATA"].append(os.path.join(folder, d))
    for f in files:
        if f.endswith(".pyi"):
            found[".pyi"].append(os.path.join(folder, f))
        if f.endswith((".h", ".hh", ".hpp", ".hxx")):
            found["C headers"].append(os.path.join(folder, f))
print(json.dumps({"found": {k: v[:10] for k, v in found.items()}, "dist_infos": sorted(dist_infos)}))
"""

# Every .py must have, at importlib's cache path, a pyc of this Python whose flags
# say hash-based and unchecked (0b01) and whose hash is the source's.
CHECK_BYTECODE = r"""
import importlib.util, json, os, sys
bad, count = [], 0
for root in sys.argv[1:]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            source, count = os.path.join(folder, name), count + 1
            try:
                with open(importlib.util.cache_from_source(source), "rb") as pyc:
                    head = pyc.read(16)
            except OSError:
                bad.append([source, "no pyc"])
                continue
            flags = int.from_bytes(head[4:8], "little")
            if head[:4] != importlib.util.MAGIC_NUMBER:
                bad.append([source, "pyc of another Python"])
            elif flags != 0b01:
                bad.append([source, f"flags {flags:#04b}, not unchecked-hash"])
            else:
                with open(source, "rb") as src:
                    if head[8:16] != importlib.util.source_hash(src.read()):
                        bad.append([source, "hash differs from the source"])
print(json.dumps({"modules": count, "bad": bad[:20], "bad_count": len(bad)}))
"""

# Imports the handler with an audit hook that records every attempt to write a
# file or make a folder; then, as a control, imports a new module from /tmp
# (writable), which must be seen writing its bytecode.
IMPORT_AND_WATCH_WRITES = r"""
import importlib, json, os, sys
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
writes = []
def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (mode is None and flags & WRITE):
            writes.append(str(path))
    elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.unlink", "os.truncate"):
        writes.append(f"{event} {args[0]}")
sys.addaudithook(hook)
importlib.import_module(sys.argv[1])
handler_writes = list(writes)
with open("/tmp/builder_probe.py", "w") as probe:
    probe.write("X = 1\n")
del writes[:]
sys.path.insert(0, "/tmp")
importlib.import_module("builder_probe")
print(json.dumps({"handler": handler_writes, "control": writes}))
"""


@pytest.fixture(scope="module")
def images(built_example) -> dict[str, str]:
    root, _ = built_example
    cfg = config.load(root)
    return {fn: cfg.image(fn, TEST_TAG) for fn in FUNCTIONS}


@pytest.fixture(scope="module")
def analyses(images, docker_engine) -> dict[str, sizes.ImageSizes]:
    """builder's own analysis of each image's `docker save` archive."""
    base = docker_engine.image_info(BASE_IMAGE).layers
    return {fn: sizes.analyse_image(docker_engine.save(ref), base_layers=base, ref=ref) for fn, ref in images.items()}


def roles_and_layers(docker_engine, image: str) -> list[tuple[str, str]]:
    """The layers above the base as (role from the ``builder.layers`` label, diff ID), lowest first."""
    info = docker_engine.image_info(image)
    roles = info.labels["builder.layers"].split()
    return list(zip(roles, info.layers[len(info.layers) - len(roles) :]))


# ---- (1) one layer per dependency group ---------------------------------------------------------


def test_a_dependency_group_gives_the_same_layer_in_every_image_that_uses_it(images, docker_engine):
    diff_ids: dict[str, dict[str, str]] = defaultdict(dict)  # role -> function -> diff ID
    for fn, image in images.items():
        for role, diff_id in roles_and_layers(docker_engine, image):
            if role.startswith("deps/"):
                diff_ids[role][fn] = diff_id
    assert {"analytics-report", "ml-score"} <= set(diff_ids["deps/numpy"]), "numpy should be a group of its own"
    split = {role: per_fn for role, per_fn in diff_ids.items() if len(set(per_fn.values())) > 1}
    assert not split, "a dependency group gave different layers (each stored and pushed again): " + "; ".join(
        f"{role}: " + ", ".join(f"{fn} {d[7:19]}" for fn, d in sorted(per_fn.items())) for role, per_fn in sorted(split.items())
    )


def test_the_size_analysis_finds_the_same_shared_layers(analyses):
    """By content: the analysis hashes each layer tar, so equal diff IDs mean equal bytes."""
    numpy = {
        fn: next(layer for layer in analyses[fn].layers if layer.role == "deps/numpy") for fn in ("analytics-report", "ml-score")
    }
    for layer in numpy.values():
        assert [d.name for d in layer.distributions] == ["numpy"], layer.distributions
    assert numpy["analytics-report"].diff_id == numpy["ml-score"].diff_id, (
        "numpy's layer differs between analytics-report and ml-score, so a registry stores it twice "
        f"({numpy['ml-score'].size / 1e6:.1f} MB)"
    )


# ---- (2) layer order ---------------------------------------------------------------------------------


def _kind(role: str) -> int:
    kinds = {"shared": 2, "function": 3}
    return kinds.get(role, 0 if role.startswith("deps/") else 1 if role.startswith("models/") else -1)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layers_go_base_then_dependencies_then_shared_code_then_function_code(images, analyses, docker_engine, function):
    base = docker_engine.image_info(BASE_IMAGE).layers
    info = docker_engine.image_info(images[function])
    assert info.layers[: len(base)] == base, "the image is not built on the base image"
    roles = info.labels["builder.layers"].split()
    assert len(info.layers) == len(base) + len(roles), "every layer above the base has a role in builder.layers"
    assert roles[-1] == "function", roles
    assert [_kind(r) for r in roles] == sorted(_kind(r) for r in roles), roles
    assert -1 not in [_kind(r) for r in roles], roles
    assert roles.count("shared") <= 1, roles
    assert len([r for r in roles if r.startswith("models/")]) <= 1, roles
    # The analysis of the saved image agrees, and each layer holds what its role says.
    analysis = analyses[function]
    assert [layer.role for layer in analysis.layers] == [sizes.BASE_ROLE] * len(base) + roles
    assert [layer.diff_id for layer in analysis.layers] == list(info.layers)
    for layer in analysis.layers[len(base) :]:
        if layer.role.startswith("deps/"):
            group = layer.role.removeprefix("deps/")
            assert layer.distributions and {d.group for d in layer.distributions} == {group}, layer
            assert layer.created_by.startswith("COPY /out/ / "), layer.created_by
        elif layer.role.startswith("models/"):  # botocore's service models: data, no distribution
            assert not layer.distributions, layer
            assert layer.created_by.startswith("COPY /out/ / "), layer.created_by
        else:
            assert not layer.distributions, layer
            assert layer.created_by.startswith(f"COPY /out/{layer.role}/ / "), layer.created_by


def test_the_most_shared_dependency_groups_are_lowest(images, docker_engine):
    """A group used by more functions changes less often, so it sits lower (fewer rebuilds above it)."""
    per_image = {fn: [r for r, _ in roles_and_layers(docker_engine, image) if r.startswith("deps/")] for fn, image in images.items()}
    users: dict[str, int] = defaultdict(int)
    for groups in per_image.values():
        for group in groups:
            users[group] += 1
    for fn, groups in per_image.items():
        counts = [users[g] for g in groups]
        assert counts == sorted(counts, reverse=True), f"{fn}: {list(zip(groups, counts))}"


# ---- (2b) botocore's service models --------------------------------------------------------------

# What botocore can load in the image, and which clients boto3 can make (no request is sent).
AWS_MODELS = r"""
import json, sys
import boto3, botocore.exceptions, botocore.session
available = sorted(botocore.session.get_session().get_available_services())
session = boto3.session.Session(region_name="eu-west-1")
made = {}
for name in sys.argv[1:]:
    try:
        made[name] = boto3.client(name, region_name="eu-west-1").meta.endpoint_url
    except botocore.exceptions.UnknownServiceError:
        made[name] = None
resources = {name: type(session.resource(name)).__name__ for name in session.get_available_resources()}
print(json.dumps({"available": available, "made": made, "resources": resources}))
"""
BOTO3_CALLS = {"orders-api": ["dynamodb"], "batch-export": ["s3"]}  # what each handler's code makes


@pytest.mark.parametrize("function", sorted(BOTO3_CALLS))
def test_a_boto3_function_ships_only_the_models_of_the_services_its_code_calls(images, docker_engine, function):
    result = run_python(docker_engine, images[function], AWS_MODELS, "dynamodb", "s3", "sqs")
    wanted = BOTO3_CALLS[function]
    assert result["available"] == sorted([*wanted, "sts"]), "sts is kept for the credential chain"
    # botocore's endpoints (read compressed) give each client its regional endpoint
    assert result["made"] == {name: f"https://{name}.eu-west-1.amazonaws.com" if name in wanted else None
                              for name in ("dynamodb", "s3", "sqs")}  # fmt: skip
    # boto3's resource models of those services came with them, and only those
    assert result["resources"] == {name: f"{name}.ServiceResource" for name in wanted}


def test_closure_says_which_call_chose_each_model(built_example):
    root, _ = built_example
    source = (root / "functions" / "orders" / "api.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if 'boto3.resource("dynamodb"' in text)
    why = run_cli("--project", str(root), "closure", "--function", "orders-api", "--why", "dynamodb")
    assert why.returncode == 0, why.stderr
    assert f"dynamodb <- client call at functions/orders/api.py:{line}" in why.stdout
    listed = run_cli("--project", str(root), "closure", "--function", "orders-api", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)["aws_services"]
    assert found["services"] == ["dynamodb", "sts"] and found["source"] == "detected"
    assert {"service": "dynamodb", "path": "functions/orders/api.py", "line": line, "distribution": None} in found["calls"]


def test_functions_with_the_same_services_share_one_models_layer(built_example, docker_engine, tmp_path):
    root, _ = built_example
    copy = copy_with_wheels(root, tmp_path / "backend")
    toml = copy / "builder.toml"
    both = 'aws-services = ["s3", "dynamodb"]\n'
    text = toml.read_text()
    for name in BOTO3_CALLS:
        text = text.replace(f"[functions.{name}]\n", f"[functions.{name}]\n{both}")
    toml.write_text(text)
    cfg = config.load(copy)
    edited = {fn: cfg.image(fn, EDIT_TAG) for fn in BOTO3_CALLS}
    try:
        result = run_cli("--project", str(copy), "build", *(f"--function={fn}" for fn in BOTO3_CALLS), "--tag", EDIT_TAG)
        assert result.returncode == 0, result.stdout + result.stderr
        layers = {fn: dict(roles_and_layers(docker_engine, image)) for fn, image in edited.items()}
        models = {fn: {r: d for r, d in per.items() if r.startswith("models/")} for fn, per in layers.items()}
        assert models["orders-api"] == models["batch-export"] and len(models["orders-api"]) == 1, models
        for fn, image in edited.items():
            made = run_python(docker_engine, image, AWS_MODELS, "dynamodb", "s3", "sqs")["made"]
            assert {name: url is not None for name, url in made.items()} == {"dynamodb": True, "s3": True, "sqs": False}, fn
    finally:
        for image in edited.values():
            docker_engine.remove_image(image)


# ---- (3) stripping -------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", WITH_DEPS)
def test_stripped_files_are_gone_and_metadata_stays(images, docker_engine, function):
    result = run_python(docker_engine, images[function], CHECK_STRIPPED)
    assert result["found"] == {"tests/": [], ".pyi": [], "C headers": [], "dist-info without METADATA": []}
    names = {re.sub(r"[-_.]+", "-", d.removesuffix(".dist-info").rsplit("-", 1)[0]).lower() for d in result["dist_infos"]}
    assert names == set(THIRD_PARTY[function])


def test_package_metadata_answers_in_analytics_report(built_example, images, docker_engine):
    root, _ = built_example
    pinned = re.search(r"^pandas==(\S+)", (root / "requirements" / "functions.txt").read_text(), re.MULTILINE)
    assert pinned, "the example's lock pins pandas"
    code = "import importlib.metadata as md, json; print(json.dumps(md.version('pandas')))"
    assert run_python(docker_engine, images["analytics-report"], code) == pinned.group(1)


# ---- (4) bytecode ------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_module_has_valid_unchecked_hash_bytecode(images, docker_engine, function):
    result = run_python(docker_engine, images[function], CHECK_BYTECODE, "/opt/deps", "/var/task")
    assert result["modules"] > 0
    assert result["bad_count"] == 0, f"{result['bad_count']} of {result['modules']} modules: {result['bad']}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_the_handler_on_a_read_only_root_writes_nothing(built_example, images, docker_engine, function):
    root, _ = built_example
    module = config.load(root).function(function).module
    result = run_python(docker_engine, images[function], IMPORT_AND_WATCH_WRITES, module)
    assert result["control"], "the audit hook saw no write even for a module without bytecode"
    assert result["handler"] == [], f"importing {module} tried to write: {result['handler'][:10]}"


# ---- (5) a code-only change ----------------------------------------------------------------------------


def test_a_code_only_change_rebuilds_only_the_function_layer(built_example, images, docker_engine, tmp_path):
    root, _ = built_example
    copy = tmp_path / "backend"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))  # with its wheelhouse: no download
    handler = copy / "functions" / "ml" / "score.py"
    text = handler.read_text()
    assert 'MODEL = "churn-logreg-v1"\n' in text
    handler.write_text(text.replace('MODEL = "churn-logreg-v1"\n', 'MODEL = "churn-logreg-v2"\n'))
    cfg = config.load(copy)
    edited = {fn: cfg.image(fn, EDIT_TAG) for fn in ("ml-score", "analytics-report")}
    try:
        result = run_cli("--project", str(copy), "build", "--function", "ml-score", "--function", "analytics-report", "--tag", EDIT_TAG)
        assert result.returncode == 0, result.stdout + result.stderr
        before = docker_engine.image_info(images["ml-score"]).layers
        after = docker_engine.image_info(edited["ml-score"]).layers
        assert len(after) == len(before)
        assert after[:-1] == before[:-1], "a layer below the function's code was rebuilt"
        assert after[-1] != before[-1], "the function's code layer did not change"
        # Another function's image is untouched, and the new image runs the new code.
        assert docker_engine.image_info(edited["analytics-report"]).layers == docker_engine.image_info(images["analytics-report"]).layers
        code = "import json, functions.ml.score as m; print(json.dumps(m.MODEL))"
        assert run_python(docker_engine, edited["ml-score"], code) == "churn-logreg-v2"
    finally:
        for image in edited.values():
            docker_engine.remove_image(image)


# ---- (6) [strip] sources = false: the dependencies' bytecode without their sources --------------

# Every module under /opt/deps is a sourceless .pyc of this Python (no .py left outside dist-info),
# and the handler answers its sample event.
CHECK_SOURCELESS = r"""
import importlib, importlib.util, json, os, sys
sources, pycs, bad = [], 0, []
for folder, dirs, files in os.walk("/opt/deps"):
    dirs[:] = [d for d in dirs if not d.endswith(".dist-info")]
    for name in files:
        path = os.path.join(folder, name)
        if name.endswith(".py"):
            sources.append(path)
        elif name.endswith(".pyc"):
            pycs += 1
            with open(path, "rb") as f:
                if f.read(4) != importlib.util.MAGIC_NUMBER:
                    bad.append(path)
module, name = sys.argv[1].rsplit(".", 1)
answer = getattr(importlib.import_module(module.replace("/", ".")), name)(json.loads(sys.argv[2]), None)
print(json.dumps({"sources": sources[:10], "pycs": pycs, "bad": bad[:10], "answer": answer}))
"""
SOURCELESS = ("orders-api", "notify-webhook")


def test_strip_sources_false_ships_the_dependencies_as_bytecode_only(built_example, analyses, docker_engine, tmp_path):
    root, _ = built_example
    copy = copy_with_wheels(root, tmp_path / "backend")
    toml = copy / "builder.toml"
    text = toml.read_text()
    first_table = text.index("\n[functions.")
    toml.write_text(text[:first_table] + "\n\n[strip]\nsources = false\n" + text[first_table:])
    cfg = config.load(copy)
    assert cfg.strip.sources is False
    edited = {fn: cfg.image(fn, EDIT_TAG) for fn in SOURCELESS}
    base = docker_engine.image_info(BASE_IMAGE).layers
    try:
        result = run_cli("--project", str(copy), "build", *(f"--function={fn}" for fn in SOURCELESS), "--tag", EDIT_TAG)
        assert result.returncode == 0, result.stdout + result.stderr
        for fn, image in edited.items():
            handler = cfg.function(fn).handler
            found = run_python(docker_engine, image, CHECK_SOURCELESS, handler, json.dumps(sample_event(fn)))
            assert found["sources"] == [] and found["bad"] == [] and found["pycs"] > 0, (fn, found)
            check_result(fn, found["answer"])
            module = cfg.function(fn).module
            writes = run_python(docker_engine, image, IMPORT_AND_WATCH_WRITES, module)
            assert writes["handler"] == [], f"importing {module} tried to write: {writes['handler'][:10]}"
            smaller = sizes.analyse_image(docker_engine.save(image), base_layers=base, ref=image).above_base_bytes
            assert smaller < analyses[fn].above_base_bytes, (fn, smaller, analyses[fn].above_base_bytes)
    finally:
        for image in edited.values():
            docker_engine.remove_image(image)
