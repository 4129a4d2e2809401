"""SAM templates: migrate to images, pin, roll back. Pure text work, no Docker (and the `migrate`
command on a small project, whose functions' code decides what it writes).

cfn-lint is the judge of validity (run as a user would, on files), and SAM's own
translator (aws-sam-translator) is the judge of meaning: the Lambda functions a
template deploys must stay the same, less what an image replaces."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import pytest

from builder.core.errors import TemplateError
from builder.core.paths import SAM_DOCKERFILE
from builder.sam import edit as sam_edit
from builder.sam import template as sam
from builder.sam.doc import IMAGE_KEYS
from tests.helpers import EXAMPLE, SAM_FIXTURES, assert_clean_error, lint, run_cli
from tests.unit.sam_projects import BROKEN_NEIGHBOUR, BROKEN_NEIGHBOUR_FILES, project

MIXED = SAM_FIXTURES / "mixed.yaml"
GLOBALS = SAM_FIXTURES / "globals.yaml"
EXAMPLE_TEMPLATE = EXAMPLE / "template.yaml"
ZIP_ONLY = {"CodeUri", "Handler", "Runtime", "Layers"}
DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/backend@sha256:" + "ab" * 32

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
    "path", [MIXED, GLOBALS, EXAMPLE_TEMPLATE], ids=lambda p: p.parent.name + "/" + p.name
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


def test_migrate_is_not_held_back_by_another_functions_code_and_leaves_a_broken_one_as_it_was(tmp_path):
    root = project(tmp_path / "app", BROKEN_NEIGHBOUR, BROKEN_NEIGHBOUR_FILES)
    good = run_cli("--project", str(root), "migrate", "--function", "GoodFunction")
    assert good.returncode == 0, good.stderr
    assert "left out, as their code cannot be analysed: broken" in good.stderr
    migrated = (root / "template.yaml").read_text()
    assert sam.parse_template(migrated).function("GoodFunction").package_type == "Image"
    assert "AS good\n" in (root / SAM_DOCKERFILE).read_text()
    broken = run_cli("--project", str(root), "migrate", "--function", "BrokenFunction")
    assert_clean_error(broken, 5, "src/broken/app.py:1: `import nowhere_to_be_found`")
    assert (root / "template.yaml").read_text() == migrated  # nothing written: sam build could not build it
    (root / "src/broken/app.py").write_text("import nowhere_to_be_found\n")  # builder cannot read the backend now
    rolled = run_cli("--project", str(root), "migrate", "--rollback", "--function", "GoodFunction")
    assert rolled.returncode == 0, rolled.stderr
    again = run_cli("--project", str(root), "migrate", "--function", "GoodFunction")
    assert again.returncode == 0 and "builder wrote no Dockerfile for `sam build`" in again.stderr, again.stderr
    assert "defines no top-level 'lambda_handler'" in again.stderr


def test_how_sam_built_the_zip_leaves_the_image_function_and_comes_back_with_the_rollback():
    # BuildMethod (python-uv, makefile, python3.x) on an image: `sam build` asks for python-uv's beta or runs the Makefile.
    old = load(MIXED)
    assert fn(old, "ReportFunction")["Metadata"] == {"BuildMethod": "python3.12"}
    migrated = step(old, sam_edit.migrate, ["ReportFunction", "PingFunction"])
    for fid in ("ReportFunction", "PingFunction"):  # block and flow style
        meta = fn(migrated, fid)["Metadata"]
        assert "BuildMethod" not in meta and meta["Dockerfile"] == SAM_DOCKERFILE, meta
    assert step(migrated, sam_edit.rollback, ["ReportFunction", "PingFunction"]).text == old.text
