"""SAM templates: reading them as SAM does, the migration plan, wrong requests, atomic writes. Pure text
work, no Docker; cfn-lint (run as a user would, on files) is the judge of validity."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from builder.core import files as fileutil
from builder.core.errors import TemplateError
from builder.sam import edit as sam_edit
from builder.sam import plan as sam_plan
from builder.sam import template as sam
from tests.helpers import SAM_FIXTURES

MIXED = SAM_FIXTURES / "mixed.yaml"
GLOBALS = SAM_FIXTURES / "globals.yaml"


def load(path: Path) -> sam.Template:
    return sam.parse_template(path.read_text(encoding="utf-8"), path.name)


# --------------------------------------------------------------------------- reading


def test_functions_are_read_with_globals_applied_as_sam_does():
    template = load(GLOBALS)
    by_id = {f.logical_id: f for f in template.functions}
    light, heavy = by_id["LightFunction"], by_id["HeavyFunction"]
    assert (light.runtime, light.handler, light.code_uri) == ("python3.13", "app.handler", "src/")
    assert light.layers == ("SharedLayer",)
    assert heavy.layers == ("SharedLayer", "ExtraLayer")  # Globals first, as SAM merges lists
    assert template.layers == {"SharedLayer": "layers/shared/", "ExtraLayer": "layers/extra/"}
    lines = GLOBALS.read_text().splitlines()
    first, last = heavy.lines
    assert lines[first - 1] == "  HeavyFunction:" and lines[last - 1].strip() == "- !Ref ExtraLayer"


def test_image_functions_and_layers_with_conditions_are_read():
    template = load(MIXED)
    by_id = {f.logical_id: f for f in template.functions}
    assert by_id["ThumbnailFunction"].package_type == "Image"
    assert by_id["ThumbnailFunction"].runtime is None
    orders = by_id["OrdersFunction"]
    assert orders.handler == "orders.app.handler"
    assert orders.layers[0] == "CommonLayer"
    assert orders.layers[1].startswith("!If ")


def test_yaml_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "template.yaml"
    bad.write_text("Resources:\n  A:\n    Type: x\n   B: [\n")
    with pytest.raises(TemplateError, match=rf"{re.escape(str(bad))}:4:"):
        sam.load_template(bad)


def test_duplicate_keys_are_an_error_not_a_silent_override():
    text = (
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n  F:\n    Type: AWS::S3::Bucket\n"
    )
    with pytest.raises(TemplateError, match=r"t.yaml:4:.*duplicate key 'F'"):
        sam.parse_template(text, "t.yaml")


# --------------------------------------------------------------------------- plan

MB = 1024 * 1024
SIZES = {
    "TokenCheckFunction": 3 * MB,
    "OrdersFunction": 140 * MB,
    "ReportFunction": 40 * MB,
    "PingFunction": 1 * MB,
    "ThumbnailFunction": 0,
}


def test_plan_follows_the_phase_1_rules():
    plans = {
        p.logical_id: p
        for p in sam_plan.plan_template(
            load(MIXED),
            sizes=lambda f: SIZES[f.logical_id],
            change_counts={"src/report/": 25, "src/ping/": 1, "src/orders/": 2},
        )
    }
    assert {k: p.recommendation for k, p in plans.items()} == {
        "TokenCheckFunction": "convert",  # authorizer of the Api, tiny as it is
        "OrdersFunction": "convert",  # over half the 250 MB limit
        "ReportFunction": "convert",  # changed often
        "PingFunction": "keep-zip",  # tiny, rarely changed, serves the API
        "ThumbnailFunction": "already-image",
    }
    assert plans["TokenCheckFunction"].reasons == ("authorizer TokenAuth of Api",)
    assert plans["OrdersFunction"].reasons == ("heavy: 56% of the 250 MB limit",)
    assert plans["ReportFunction"].reasons == ("changed often: 25 recent commits to src/report/",)
    assert plans["PingFunction"].reasons == (
        "tiny: 0.4% of the 250 MB limit",
        "rarely changed: 1 recent commit",
        "cold-start-critical: serves synchronous API calls",
    )
    orders = plans["OrdersFunction"]
    assert orders.headroom_bytes == 262_144_000 - 140 * MB
    assert (orders.runtime, orders.handler, orders.code_uri) == (
        "python3.12",
        "orders.app.handler",
        "src/orders/",
    )


def test_plan_flags_functions_over_the_limit_and_authorizers_by_name():
    plans = sam_plan.plan_template(load(GLOBALS), sizes=lambda f: 300 * MB, change_counts={})
    by_id = {p.logical_id: p for p in plans}
    assert by_id["HeavyFunction"].reasons == ("over the 250 MB limit by 50.0 MB",)
    assert by_id["HeavyFunction"].headroom_bytes < 0
    assert "authorizer (by its name)" in by_id["RequestAuthorizerFunction"].reasons
    quiet = sam_plan.plan_template(load(GLOBALS), sizes=lambda f: MB, change_counts={})
    assert {p.logical_id: p.recommendation for p in quiet} == {
        "RequestAuthorizerFunction": "convert",
        "HeavyFunction": "keep-zip",
        "LightFunction": "keep-zip",
    }
    assert "no git history" in {p.logical_id: p for p in quiet}["LightFunction"].reasons


def test_git_change_counts_come_from_the_recent_history_of_each_code_uri(tmp_path):
    def commit(folder: str, n: int, date: str | None = None) -> None:
        (tmp_path / "src" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / folder / "app.py").write_text(f"x = {n}\n")
        env = {
            **os.environ,
            **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}),
        }
        for args in (["add", "-A"], ["commit", "-q", "-m", f"change {n}"]):
            subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                cwd=tmp_path,
                env=env,
                check=True,
                capture_output=True,
            )

    assert sam_plan.git_change_counts(tmp_path, ["src/a/"]) == {}  # not a repository
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert sam_plan.git_change_counts(tmp_path, ["src/a/"]) == {}  # no commits yet
    commit("b", 0, date="2001-01-01T00:00:00")
    commit("a", 1)
    commit("a", 2)
    uris = ["src/a/", "src/b/", "src/c/"]
    assert sam_plan.git_change_counts(tmp_path, uris) == {"src/a/": 2, "src/b/": 0, "src/c/": 0}
    assert sam_plan.git_change_counts(tmp_path, uris, since="40 years")["src/b/"] == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("action", "ids", "message"),
    [
        (
            sam_edit.migrate,
            ["OrderFunction"],
            "has no function OrderFunction. Did you mean OrdersFunction?",
        ),
        (
            sam_edit.migrate,
            ["CommonLayer"],
            "CommonLayer is of type AWS::Serverless::LayerVersion, not AWS::Serverless::Function",
        ),
        (sam_edit.migrate, ["ThumbnailFunction"], "already PackageType: Image"),
        (
            sam_edit.rollback,
            ["PingFunction"],
            "ZIP function already; there is nothing to roll back",
        ),
        (sam_edit.rollback, ["ThumbnailFunction"], "was not migrated by builder"),
    ],
)
def test_wrong_requests_say_what_to_do(action, ids, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        action(load(MIXED), ids)


def test_inline_code_cannot_become_an_image():
    text = MIXED.read_text().replace(
        "      CodeUri: src/ping/\n", "      InlineCode: 'def handler(e, c): pass'\n"
    )
    with pytest.raises(TemplateError, match="uses InlineCode"):
        sam_edit.migrate(sam.parse_template(text), ["PingFunction"])


def test_globals_that_already_break_an_image_function_are_refused():
    text = MIXED.read_text().replace(
        "    Tracing: Active\n", "    Tracing: Active\n    Runtime: python3.12\n"
    )
    with pytest.raises(TemplateError, match="ThumbnailFunction already is an image.*by hand"):
        sam_edit.migrate(sam.parse_template(text), ["PingFunction"])


def test_a_damaged_rollback_record_is_reported():
    new = sam_edit.migrate(load(MIXED), ["PingFunction"])
    damaged = new.replace(
        "        Properties:\n          - After:", "        Properties:\n          - Lost:", 1
    )
    damaged = damaged.replace(
        "          - Text: |\n              CodeUri: src/ping/",
        "          - Txt: |\n              CodeUri: src/ping/",
    )
    assert damaged != new
    with pytest.raises(TemplateError, match="BuilderRollback is damaged"):
        sam_edit.rollback(sam.parse_template(damaged), ["PingFunction"])


# --------------------------------------------------------------------------- writing


def test_write_atomic_keeps_bytes_and_permissions(tmp_path):
    target = tmp_path / "template.yaml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    fileutil.write_atomic(target, "a: 1\r\nb: 2\r\n")
    assert target.read_bytes() == b"a: 1\r\nb: 2\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["template.yaml"]
