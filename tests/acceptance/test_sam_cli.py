"""The SAM commands as a user runs them: `plan` and `migrate` (also --dry-run, --rollback, --pin).

On private copies of the bundled example and of the fixture templates, with the example's wheels
from PyPI; no Docker. The sizes `plan` prints are checked against the locked wheels' own RECORD sizes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.core.limits import LIMIT_BYTES
from builder.deps import wheelhouse
from builder.deps.dists import DistIndex
from builder.deps.target import Target
from builder.engine import registry
from builder.project import config
from builder.sam import sizes as sam_sizes
from builder.sam import template as sam
from tests.helpers import EXAMPLE, SAM_FIXTURES, copy_example, copy_sam_app, lint, run_cli

EXAMPLE_FUNCTIONS = (
    "UserAuthFunction", "HealthFunction", "OrdersApiFunction", "NotifyWebhookFunction",
    "MediaThumbnailFunction", "AnalyticsReportFunction", "MlScoreFunction", "BatchExportFunction",
)  # fmt: skip
DATA_LAYER = {"numpy", "pandas", "python-dateutil", "pytz", "six", "tzdata"}  # layers/data + requirements


@pytest.fixture(scope="session")
def example_wheels(tmp_path_factory) -> Path:
    """The example's wheelhouse, downloaded once per session (copied when the checkout has it)."""
    root = copy_example(tmp_path_factory.mktemp("wheels") / "backend")
    if (EXAMPLE / wheelhouse.WHEELHOUSE).is_dir():
        shutil.copytree(EXAMPLE / wheelhouse.WHEELHOUSE, root / wheelhouse.WHEELHOUSE)
    return wheelhouse.ensure(config.load(root))  # checks the copy's stamp; downloads if stale


@pytest.fixture
def backend(tmp_path, example_wheels) -> Path:
    """A private copy of the example backend that shares the session's wheelhouse."""
    root = copy_example(tmp_path / "backend")
    (root / wheelhouse.WHEELHOUSE).parent.mkdir(parents=True)
    (root / wheelhouse.WHEELHOUSE).symlink_to(example_wheels, target_is_directory=True)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=root)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """A clean failure: the exit code, one paragraph on stderr naming ``words``, no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def index_of(root: Path) -> DistIndex:
    cfg = config.load(root)
    from builder.deps.lock import parse_lock

    target = Target.from_config(cfg)
    pins = parse_lock(cfg.lock_path, target=target)
    return DistIndex.from_wheelhouse(root / wheelhouse.WHEELHOUSE, pins, target=target)


# --------------------------------------------------------------------------- plan


def test_plan_prints_a_table_of_every_function_and_a_recommendation(backend):
    out = ok(cli(backend, "plan", "--template", "template.yaml"))
    lines = out.splitlines()
    assert lines[0].split() == [
        "function", "package", "runtime", "handler", "code", "layers", "unzipped", "headroom", "recommendation",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[2:10]}
    assert set(rows) == set(EXAMPLE_FUNCTIONS)
    assert "functions/analytics/report.handler" in rows["AnalyticsReportFunction"]
    assert "SharedLayer, DataLayer" in rows["AnalyticsReportFunction"]
    assert rows["UserAuthFunction"].split()[-1] == "convert"
    assert "UserAuthFunction: convert (authorizer TokenAuthorizer of BackendApi)" in out
    assert "HealthFunction: keep-zip (tiny:" in out and "cold-start-critical" in out


def test_plan_json_sizes_are_code_plus_layers_measured_from_the_locked_wheels(backend):
    plans = {p["logical_id"]: p for p in json.loads(ok(cli(backend, "plan", "--json")))["functions"]}
    assert list(plans) == list(EXAMPLE_FUNCTIONS)
    index = index_of(backend)
    report = plans["AnalyticsReportFunction"]
    assert report["unzipped_bytes"] >= index.dist("pandas").size + index.dist("numpy").size
    code = sam_sizes.folder_size(backend)  # CodeUri: ./ is the whole backend, as SAM zips it
    data = sum(index.dist(d).size for d in DATA_LAYER) + (backend / "layers/data/requirements.txt").stat().st_size
    assert report["size"] == {
        "code": code, "dependencies": 0, "layers": {"SharedLayer": code, "DataLayer": data},
        "total": 2 * code + data, "unknown": [],
    }  # fmt: skip
    assert report["unzipped_bytes"] == 2 * code + data
    assert report["limit_bytes"] == LIMIT_BYTES
    assert report["headroom_bytes"] == LIMIT_BYTES - report["unzipped_bytes"]
    assert plans["UserAuthFunction"]["recommendation"] == "convert"
    assert plans["UserAuthFunction"]["reasons"] == ["authorizer TokenAuthorizer of BackendApi"]
    assert plans["HealthFunction"]["recommendation"] == "keep-zip"


def test_plan_converts_a_heavy_function_and_one_changed_often(backend):
    """Past half the limit, and ten commits to a CodeUri, each make a 'convert'."""
    # MlScoreFunction ships ./ twice (CodeUri and SharedLayer) and DataLayer (about 100 MiB):
    # a file of a sixth of the limit in layers/data/ is counted three times, which is too much.
    big = backend / "layers" / "data" / "model.bin"
    with big.open("wb") as handle:
        handle.truncate(LIMIT_BYTES // 6 + 1)  # sparse: the size counts, not the disk
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    git = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=backend, check=True)
    for n in range(10):
        with (backend / "functions" / "health" / "ping.py").open("a", encoding="utf-8") as handle:
            handle.write(f"# change {n}\n")
        subprocess.run([*git, "add", "-A"], cwd=backend, check=True, env={**os.environ, **env})
        subprocess.run([*git, "commit", "-qm", f"c{n}"], cwd=backend, check=True, env={**os.environ, **env})
    plans = {p["logical_id"]: p for p in json.loads(ok(cli(backend, "plan", "--json")))["functions"]}
    assert plans["MlScoreFunction"]["recommendation"] == "convert"
    assert plans["MlScoreFunction"]["reasons"][0].startswith("heavy: ")
    assert plans["HealthFunction"]["unzipped_bytes"] < LIMIT_BYTES // 2
    assert plans["HealthFunction"]["reasons"] == ["changed often: 10 recent commits to ./"]


def test_plan_of_a_template_whose_code_is_missing_says_which_path(tmp_path):
    shutil.copy(SAM_FIXTURES / "mixed.yaml", tmp_path / "template.yaml")
    fails(cli(tmp_path, "plan"), 6, "TokenCheckFunction's CodeUri is src/token_check/", "does not exist")


def test_plan_of_the_fixture_marks_what_it_cannot_measure(tmp_path):
    shutil.copy(SAM_FIXTURES / "mixed.yaml", tmp_path / "template.yaml")
    for folder in ("src/token_check", "src/orders", "src/report", "src/ping", "layers/common", "layers/pandas"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "src/orders/app.py").write_text("x = 1\n", encoding="utf-8")
    plans = {p["logical_id"]: p for p in json.loads(ok(cli(tmp_path, "plan", "--json")))["functions"]}
    assert plans["OrdersFunction"]["unzipped_bytes"] == 6
    assert plans["OrdersFunction"]["size"]["unknown"] == [f"layer {plans['OrdersFunction']['layers'][1]}"]
    assert plans["TokenCheckFunction"]["recommendation"] == "convert"
    assert plans["ThumbnailFunction"]["recommendation"] == "already-image"
    assert "≥ 0.0 MiB" in ok(cli(tmp_path, "plan"))


# --------------------------------------------------------------------------- migrate


@pytest.mark.parametrize("name", ["example", "mixed.yaml", "globals.yaml"])
def test_migrate_one_then_all_then_roll_back_gives_the_same_bytes(tmp_path, name):
    if name == "example":
        root = copy_example(tmp_path / "backend")
        first = "UserAuthFunction"
    else:
        root = tmp_path
        shutil.copy(SAM_FIXTURES / name, root / "template.yaml")
        first = sam_edit_first(root / "template.yaml")
    path = root / "template.yaml"
    original = path.read_bytes()
    assert f"migrated {first}" in ok(cli(root, "migrate", "--template", "template.yaml", "--function", first))
    one = path.read_text(encoding="utf-8")
    assert sam.parse_template(one).function(first).package_type == "Image"
    ok(cli(root, "migrate", "--all"))
    every = path.read_text(encoding="utf-8")
    functions = sam.parse_template(every).functions
    assert all(f.package_type == "Image" for f in functions if "InlineCode" not in f.properties)
    lint(tmp_path, one=one, every=every)
    ok(cli(root, "migrate", "--rollback", "--all"))
    assert path.read_bytes() == original


def sam_edit_first(path: Path) -> str:
    from builder.sam import edit as sam_edit
    return sam_edit.migratable(sam.load_template(path))[0]


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path):
    root = copy_example(tmp_path / "backend")
    before = (root / "template.yaml").read_bytes()
    out = ok(cli(root, "migrate", "--function", "UserAuthFunction", "--dry-run"))
    assert out.startswith("--- a/template.yaml\n+++ b/template.yaml\n")
    assert "-      CodeUri: ./\n" in out and "+      PackageType: Image\n" in out
    assert (root / "template.yaml").read_bytes() == before
    ok(cli(root, "migrate", "--function", "UserAuthFunction"))
    migrated = (root / "template.yaml").read_bytes()
    out = ok(cli(root, "migrate", "--rollback", "--function", "UserAuthFunction", "--dry-run"))
    assert "+      CodeUri: ./\n" in out
    assert (root / "template.yaml").read_bytes() == migrated
    ok(cli(root, "migrate", "--rollback", "--function", "UserAuthFunction"))
    assert (root / "template.yaml").read_bytes() == before


def test_migrate_writes_atomically_and_keeps_the_file_mode(tmp_path):
    root = copy_example(tmp_path / "backend")
    os.chmod(root / "template.yaml", 0o640)
    ok(cli(root, "migrate", "--function", "HealthFunction"))
    assert (root / "template.yaml").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in root.iterdir() if p.name.startswith(".template.yaml")] == []


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--function", "UserAuthFunctoin"], 6, ["no function UserAuthFunctoin", "Did you mean UserAuthFunction?"]),
        (["--function", "OrdersTable"], 6, ["AWS::Serverless::SimpleTable", "Pick one of: UserAuthFunction"]),
        ([], 2, ["--function LOGICAL_ID", "--all"]),
        (["--all", "--function", "HealthFunction"], 2, ["not both"]),
        (["--rollback", "--function", "HealthFunction"], 6, ["HealthFunction is a ZIP function already"]),
        (["--pin"], 8, ["image-uris.json does not exist", "push"]),
        (["--template", "nope.yaml", "--all"], 6, ["Cannot read the template nope.yaml"]),
    ],
)
def test_wrong_requests_are_one_clean_paragraph(tmp_path, args, code, words):
    root = copy_example(tmp_path / "backend")
    before = (root / "template.yaml").read_bytes()
    fails(cli(root, "migrate", *args), code, *words)
    assert (root / "template.yaml").read_bytes() == before


def _image_uris(root: Path, names) -> dict[str, str]:
    uris = {name: f"127.0.0.1:5000/example@sha256:{n:064x}" for n, name in enumerate(sorted(names), 1)}
    (root / registry.IMAGE_URIS).write_text(registry.render_image_uris(uris), encoding="utf-8")
    return uris


def test_pin_migrates_straight_to_the_pushed_digests_by_handler(tmp_path):
    root = copy_example(tmp_path / "backend")
    original = (root / "template.yaml").read_bytes()
    uris = _image_uris(root, [f.name for f in config.load(root).functions])
    ok(cli(root, "migrate", "--function", "UserAuthFunction", "--pin"))
    template = sam.load_template(root / "template.yaml")
    auth = template.function("UserAuthFunction")
    assert auth.properties["ImageUri"] == uris["user-auth"]
    assert "ImageRepository" not in template.data["Resources"]  # a digest needs no repository of the stack's
    ok(cli(root, "migrate", "--all", "--pin"))
    template = sam.load_template(root / "template.yaml")
    by_handler = {fn.handler: fn.name for fn in config.load(root).functions}
    for info in template.functions:
        assert info.properties["ImageUri"] == uris[by_handler[sam.function_handler(info)]]
    lint(tmp_path, pinned=template.text)
    old, uris["health"] = uris["health"], uris["health"][:-64] + "f" * 64  # only health's image changed
    (root / registry.IMAGE_URIS).write_text(registry.render_image_uris(uris), encoding="utf-8")
    out = ok(cli(root, "migrate", "--pin", "--dry-run"))
    changed = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [f"-      ImageUri: {old}", f"+      ImageUri: {uris['health']}"]
    ok(cli(root, "migrate", "--rollback", "--all"))
    assert (root / "template.yaml").read_bytes() == original


def test_pin_needs_an_image_for_each_named_function(tmp_path):
    root = copy_example(tmp_path / "backend")
    _image_uris(root, ["health"])
    fails(
        cli(root, "migrate", "--function", "UserAuthFunction", "--pin"), 6,
        "no image for UserAuthFunction (user-auth)", "push --function",
    )  # fmt: skip
    (root / registry.IMAGE_URIS).write_text('{"health": "example:latest"}', encoding="utf-8")
    fails(cli(root, "migrate", "--function", "HealthFunction", "--pin"), 8, "not <repository>@sha256:")


UNUSED_AFTER_ALL = {"backend": ["SharedLayer", "AwsLayer", "DataLayer", "HttpLayer", "ImagingLayer"],
                    "sam-app": ["CommonLayer", "FormattingLayer"]}  # fmt: skip


@pytest.mark.parametrize("example", sorted(UNUSED_AFTER_ALL))
def test_the_post_migration_checklist_lists_and_removes_the_unused_layers_and_rollback_restores_them(
    example, backend, tmp_path
):
    """migrate --all; plan lists the layers no function uses; --remove-unused-layers removes them
    (cfn-lint clean); migrate --rollback --all gives the original template back byte for byte."""
    root = backend if example == "backend" else copy_sam_app(tmp_path / "sam-app")
    path = root / "template.yaml"
    original = path.read_bytes()
    ok(cli(root, "migrate", "--all"))
    migrated = path.read_text(encoding="utf-8")
    plan = json.loads(ok(cli(root, "plan", "--json")))
    assert plan["kind"] == "plan" and plan["removed_layers"] == []
    assert [(layer["logical_id"], layer["status"], layer["functions"], layer["removable"]) for layer in plan["layers"]] == [
        (lid, "unused", [], True) for lid in UNUSED_AFTER_ALL[example]]  # fmt: skip
    text = ok(cli(root, "plan"))
    for lid in UNUSED_AFTER_ALL[example]:
        assert re.search(rf"^  {lid} +no function uses it: `migrate --remove-unused-layers` removes it$", text, re.M)
    diff = ok(cli(root, "migrate", "--remove-unused-layers", "--dry-run"))
    assert f"-  {UNUSED_AFTER_ALL[example][0]}:" in diff and path.read_text(encoding="utf-8") == migrated
    out = ok(cli(root, "migrate", "--remove-unused-layers"))
    assert f"removed the unused layers {', '.join(UNUSED_AFTER_ALL[example])}" in out
    removed = path.read_text(encoding="utf-8")
    after = json.loads(ok(cli(root, "plan", "--json")))
    assert after["layers"] == [] and after["removed_layers"] == UNUSED_AFTER_ALL[example]
    assert "removed by builder (`migrate --rollback` puts them back)" in ok(cli(root, "plan"))
    lint(tmp_path, original=original.decode("utf-8"), migrated=migrated, removed=removed)
    fails(cli(root, "migrate", "--rollback", "--all", "--remove-unused-layers"), 2, "--rollback puts back")
    ok(cli(root, "migrate", "--rollback", "--all"))
    assert path.read_bytes() == original
