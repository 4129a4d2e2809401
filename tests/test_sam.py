"""SAM templates: plan, migrate to images, pin, roll back. Pure text work, no Docker.

cfn-lint is the judge of validity (run as a user would, on files), and SAM's own
translator (aws-sam-translator) is the judge of meaning: the Lambda functions a
template deploys must stay the same, less what an image replaces.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from builder.core import files as fileutil
from builder.core.errors import TemplateError
from builder.sam import edit as sam_edit
from builder.sam import plan as sam_plan
from builder.sam import template as sam
from builder.sam.doc import IMAGE_KEYS

FIXTURES = Path(__file__).parent / "fixtures" / "sam"
MIXED = FIXTURES / "mixed.yaml"
GLOBALS = FIXTURES / "globals.yaml"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "backend" / "template.yaml"
ZIP_ONLY = {"CodeUri", "Handler", "Runtime", "Layers"}
DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/backend@sha256:" + "ab" * 32

# Rules left out of the lint, and why:
# - E2533: runtime deprecation by today's date; the bundled example uses python3.11, which
#   cfn-lint flags after its end of support whatever builder does.
# - W8001: "condition not used": a condition used only inside a migrated function's Layers is
#   kept (rollback needs it) but unused while the function is an image; harmless to deploy.
IGNORED_RULES = "E2533,W8001"


def lint(tmp_path: Path, **texts: str) -> None:
    """cfn-lint every text (as files named after the keys); fail with its report if any is flagged."""
    beside = Path(sys.executable).with_name("cfn-lint")
    exe = str(beside) if beside.exists() else shutil.which("cfn-lint")
    assert exe, "cfn-lint is not installed (pip install cfn-lint)"
    paths = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(str(path))
    result = subprocess.run(
        [exe, "--ignore-checks", IGNORED_RULES, "--", *paths], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def deployed(monkeypatch):
    """What each template deploys: AWS::Lambda::Function properties from SAM's own translator."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # the fixtures name no AWS managed policy
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def functions(text: str) -> dict[str, dict]:
        data = copy.deepcopy(sam.parse_template(text).data)
        glob = (data.get("Globals") or {}).get("Function") or {}
        for props in [glob, *(r.get("Properties") or {} for r in data["Resources"].values())]:
            for key in ("CodeUri", "ContentUri"):  # local folders: what `sam package` uploads
                if isinstance(props.get(key), str):
                    props[key] = f"s3://bucket/{props[key]}"
        resources = transform(data, {}, NoManagedPolicies())["Resources"]
        return {
            k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"
        }

    return functions


def load(path: Path) -> sam.Template:
    return sam.parse_template(path.read_text(encoding="utf-8"), path.name)


def step(template: sam.Template, action, ids, **kw) -> sam.Template:
    return sam.parse_template(action(template, ids, **kw), template.path)


def fn(template: sam.Template, logical_id: str) -> dict:
    return template.data["Resources"][logical_id]


def removed_lines(old: str, new: str) -> list[str]:
    """The lines of ``old`` that ``new`` no longer has, per a unified diff."""
    diff = sam.unified_diff(old, new, "t").splitlines()[2:]
    return [line[1:] for line in diff if line.startswith("-")]


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


# --------------------------------------------------------------------------- migrate


def test_migrating_one_function_rewrites_only_that_function(tmp_path, deployed):
    old = load(MIXED)
    new = step(old, sam_edit.migrate, ["OrdersFunction"])
    orders = fn(new, "OrdersFunction")["Properties"]
    assert orders["PackageType"] == "Image"
    assert orders["ImageUri"] == {"Fn::Sub": "${ImageRepository.RepositoryUri}:orders-latest"}  # as `push` tags it
    assert orders["ImageConfig"] == {"Command": ["orders.app.handler"]}
    assert not ZIP_ONLY & set(orders)
    was = fn(old, "OrdersFunction")["Properties"]
    assert {k: v for k, v in orders.items() if k not in IMAGE_KEYS} == {
        k: v for k, v in was.items() if k not in ZIP_ONLY
    }  # Description, Architectures, Policies, Events stay
    repository = fn(new, "ImageRepository")
    assert repository["Type"] == "AWS::ECR::Repository"
    assert repository["Properties"] == {"ImageScanningConfiguration": {"ScanOnPush": True}}
    metadata = fn(new, "OrdersFunction")["Metadata"]
    assert (metadata["DockerContext"], metadata["Dockerfile"], metadata["DockerBuildTarget"]) == (
        ".", ".builder/sam/Dockerfile", "orders")  # builder writes that file; its stage for the function
    # Only these lines go; every other one (comments, quoting, short-form tags) stays as it was.
    removed = [
        "      # Code and runtime: what an image replaces.",
        "      CodeUri: src/orders/",
        "      Handler: 'orders.app.handler'   # quoted on purpose",
        "      Runtime: python3.12",
        "      Layers:",
        "        - !Ref CommonLayer",
        "        - !If [HasExternalLayer, !Ref ExternalLayerArn, !Ref AWS::NoValue]",
    ]
    assert removed_lines(old.text, new.text) == removed
    # ... and they are kept verbatim in the function's rollback record.
    kept = "".join(run["Text"] for run in metadata["BuilderRollback"]["Properties"])
    assert [line[6:] for line in removed] == kept.splitlines()
    lint(tmp_path, migrated=new.text)
    before, after = deployed(old.text), deployed(new.text)
    assert after["OrdersFunction"]["PackageType"] == "Image"
    image_owned = {"Code", "Handler", "Runtime", "Layers", "PackageType", "ImageConfig"}
    assert {k: v for k, v in after["OrdersFunction"].items() if k not in image_owned} == {
        k: v for k, v in before["OrdersFunction"].items() if k not in image_owned
    }
    assert {k: v for k, v in after.items() if k != "OrdersFunction"} == {
        k: v for k, v in before.items() if k != "OrdersFunction"
    }


@pytest.mark.parametrize(
    "path", [MIXED, GLOBALS, EXAMPLE], ids=lambda p: p.parent.name + "/" + p.name
)
def test_migrate_one_then_all_then_roll_back_all_gives_the_same_bytes(tmp_path, path, deployed):
    if not path.exists():
        pytest.fail(f"{path} is missing")
    old = load(path)
    ids = sam_edit.migratable(old)
    one = step(old, sam_edit.migrate, ids[:1])
    everything = step(one, sam_edit.migrate, ids[1:])
    assert all(f.package_type == "Image" for f in everything.functions)
    assert set(sam_edit.migrated(everything)) == set(ids) and not sam_edit.migratable(everything)
    glob = (everything.data.get("Globals") or {}).get("Function") or {}
    assert not ZIP_ONLY & set(glob)  # SAM would apply them to the images
    half = step(everything, sam_edit.rollback, ids[: len(ids) // 2])
    back = step(half, sam_edit.rollback, ids[len(ids) // 2 :])
    assert back.text == old.text
    lint(tmp_path, one=one.text, everything=everything.text, half=half.text)
    # The functions still ZIP deploy exactly as before at every step.
    before = deployed(old.text)
    for template in (one, half):
        after = deployed(template.text)
        for info in template.functions:
            if info.package_type == "Zip":
                assert after[info.logical_id] == before[info.logical_id], info.logical_id


def test_any_order_of_migrations_and_rollbacks_comes_back_to_the_same_bytes():
    old = load(GLOBALS)
    ids = sam_edit.migratable(old)
    for order in (ids, ids[::-1], ids[1:] + ids[:1]):
        template = old
        for fid in order:
            template = step(template, sam_edit.migrate, [fid])
        template = step(template, sam_edit.rollback, [order[0]])  # one back while others are images
        template = step(template, sam_edit.migrate, [order[0]])
        for fid in reversed(order[1:] + order[:1]):
            template = step(template, sam_edit.rollback, [fid])
        assert template.text == old.text, order


def test_globals_that_sam_rejects_on_images_move_onto_the_zip_functions(tmp_path, deployed):
    old = load(GLOBALS)
    new = step(old, sam_edit.migrate, ["HeavyFunction"])
    glob = new.data["Globals"]["Function"]
    assert set(glob) == {"Timeout", "Environment"}
    assert glob["Environment"] == {
        "Variables": {"MODE": {"Fn::If": ["IsStrict", "strict", "relaxed"]}}
    }
    assert removed_lines(old.text, new.text) == [
        "    # Shared code and runtime: SAM rejects these on image functions.",
        "    CodeUri: src/",
        "    Runtime: python3.12",
        "    Handler: app.handler",
        "    Layers:",
        "      - !Ref SharedLayer   # every function gets it",
        "      Handler: heavy.handler",
        "      Layers:",
        "        # its own layer comes after the global one",
        "        - !Ref ExtraLayer",
    ]
    authorizer = fn(new, "RequestAuthorizerFunction")["Properties"]
    assert authorizer["CodeUri"] == "src/" and authorizer["Runtime"] == "python3.12"
    assert authorizer["Handler"] == "auth.handler"  # its own
    assert authorizer["Layers"] == [{"Ref": "SharedLayer"}]
    light = fn(new, "LightFunction")["Properties"]
    assert light["Runtime"] == "python3.13" and light["Handler"] == "app.handler"
    lint(tmp_path, moved=new.text)
    before, after = deployed(old.text), deployed(new.text)
    for fid in ("RequestAuthorizerFunction", "LightFunction"):
        assert after[fid] == before[fid]
    assert step(new, sam_edit.rollback, ["HeavyFunction"]).text == old.text


def test_global_layers_are_merged_before_a_function_s_own(tmp_path, deployed):
    old = load(GLOBALS)
    new = step(old, sam_edit.migrate, ["LightFunction"])
    assert fn(new, "HeavyFunction")["Properties"]["Layers"] == [
        {"Ref": "SharedLayer"},
        {"Ref": "ExtraLayer"},
    ]
    assert "# its own layer comes after the global one" in new.text
    assert deployed(new.text)["HeavyFunction"] == deployed(old.text)["HeavyFunction"]
    lint(tmp_path, merged=new.text)


def test_rolling_back_while_other_images_remain_keeps_globals_on_the_functions(tmp_path, deployed):
    old = load(GLOBALS)
    both = step(old, sam_edit.migrate, ["HeavyFunction", "LightFunction"])
    heavy_back = step(both, sam_edit.rollback, ["HeavyFunction"])
    heavy = fn(heavy_back, "HeavyFunction")["Properties"]
    assert (
        heavy["Runtime"] == "python3.12" and heavy["CodeUri"] == "src/"
    )  # explicit: Globals has none
    assert not ZIP_ONLY & set(heavy_back.data["Globals"]["Function"])
    assert deployed(heavy_back.text)["HeavyFunction"] == deployed(old.text)["HeavyFunction"]
    lint(tmp_path, heavy_back=heavy_back.text)
    assert step(heavy_back, sam_edit.rollback, ["LightFunction"]).text == old.text


def test_edits_made_while_migrated_survive_the_rollback():
    old = load(MIXED)
    new = sam_edit.migrate(old, ["OrdersFunction"])
    edited = new.replace(
        '      Description: "Orders API: create and list"\n',
        '      Description: "Orders API: create and list"\n      Timeout: 29\n',
    )
    assert edited != new
    back = sam_edit.rollback(sam.parse_template(edited), ["OrdersFunction"])
    assert back == old.text.replace(
        '      Description: "Orders API: create and list"\n',
        '      Description: "Orders API: create and list"\n      Timeout: 29\n',
    )


def test_globals_stay_moved_when_the_functions_were_edited_since(tmp_path, caplog, deployed):
    old = load(GLOBALS)
    new = sam_edit.migrate(old, ["HeavyFunction"])
    edited = sam.parse_template(
        re.sub(r"(?m)^      Handler: app\.handler$", "      Handler: other.handler", new)
    )
    with caplog.at_level(logging.WARNING, logger="builder"):
        back = sam.parse_template(sam_edit.rollback(edited, ["HeavyFunction"]))
    assert "Globals.Function stays without" in caplog.text
    assert not ZIP_ONLY & set(back.data["Globals"]["Function"])
    assert fn(back, "LightFunction")["Properties"]["Handler"] == "other.handler"
    assert (
        fn(back, "HeavyFunction")["Properties"]["Runtime"] == "python3.12"
    )  # its globals, made explicit
    assert "Builder" not in (back.data.get("Metadata") or {})
    assert "ImageRepository" not in back.data["Resources"]
    assert deployed(back.text)["HeavyFunction"] == deployed(old.text)["HeavyFunction"]
    lint(tmp_path, kept_moved=back.text)


def test_rollback_refuses_when_a_layer_it_needs_is_gone():
    new = sam_edit.migrate(load(MIXED), ["ReportFunction"])
    without = re.sub(r"  PandasLayer:\n(    .*\n|      .*\n|        .*\n)+\n", "", new)
    assert "PandasLayer:" not in without
    with pytest.raises(
        TemplateError, match=r"ReportFunction uses layer PandasLayer.*Put PandasLayer back"
    ):
        sam_edit.rollback(sam.parse_template(without), ["ReportFunction"])


def test_pin_writes_the_pushed_digest_into_image_uri(tmp_path):
    old = load(MIXED)
    migrated = step(old, sam_edit.migrate, sam_edit.migratable(old))
    pinned = step(migrated, sam_edit.pin, {"OrdersFunction": DIGEST})
    assert fn(pinned, "OrdersFunction")["Properties"]["ImageUri"] == DIGEST
    assert (
        fn(pinned, "PingFunction")["Properties"]["ImageUri"]
        == fn(migrated, "PingFunction")["Properties"]["ImageUri"]
    )
    assert [
        line
        for line in sam.unified_diff(migrated.text, pinned.text, "t").splitlines()
        if line[:1] in "+-"
    ] == [
        "--- a/t",
        "+++ b/t",
        '-      ImageUri: !Sub "${ImageRepository.RepositoryUri}:orders-latest"',
        f"+      ImageUri: {DIGEST}",
    ]
    lint(tmp_path, pinned=pinned.text)
    assert sam_edit.rollback(pinned, sam_edit.migratable(old)) == old.text
    with pytest.raises(TemplateError, match="not as repository@sha256"):
        sam_edit.pin(migrated, {"OrdersFunction": "backend:latest"})
    with pytest.raises(TemplateError, match="ZIP function; migrate it before pinning"):
        sam_edit.pin(old, {"OrdersFunction": DIGEST})


def test_a_given_image_uri_needs_no_repository_and_docker_metadata_is_the_caller_s():
    new = step(
        load(GLOBALS),
        sam_edit.migrate,
        ["HeavyFunction"],
        image_uri=lambda fid: f"registry.local/{fid}:1",
        image_metadata=lambda info: sam_edit.ImageMetadata(info.code_uri, "Dockerfile", "v1"),
    )
    assert fn(new, "HeavyFunction")["Properties"]["ImageUri"] == "registry.local/HeavyFunction:1"
    assert "ImageRepository" not in new.data["Resources"]
    metadata = fn(new, "HeavyFunction")["Metadata"]  # CodeUri came from Globals, before the move
    assert (metadata["DockerContext"], metadata["Dockerfile"], metadata["DockerTag"]) == (
        "src/",
        "Dockerfile",
        "v1",
    )


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("final", [True, False])
def test_line_ends_and_a_missing_final_newline_survive(newline, final):
    text = MIXED.read_text().replace("\n", newline)
    text = text if final else text.rstrip("\r\n")
    old = sam.parse_template(text, "t.yaml")
    new = sam_edit.migrate(old, sam_edit.migratable(old))
    assert new.endswith(newline) == final
    if newline == "\r\n":
        assert "\n" not in new.replace("\r\n", "")
    assert sam_edit.rollback(sam.parse_template(new), sam_edit.migratable(old)) == text


def test_dry_run_diff_shows_the_change():
    old = load(MIXED)
    diff = sam.unified_diff(old.text, sam_edit.migrate(old, ["PingFunction"]), "template.yaml")
    assert diff.startswith("--- a/template.yaml\n+++ b/template.yaml\n@@ ")
    assert "+      PackageType: Image\n" in diff and "-      CodeUri: src/ping/\n" in diff
    assert sam.unified_diff(old.text, old.text, "template.yaml") == ""


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
            "CommonLayer is a AWS::Serverless::LayerVersion, not an",
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
