"""After the migration: the layers no function uses, what else names them, their removal and their
return on rollback. Pure text work on the bundled examples' templates and small fixtures; cfn-lint
judges every result. The commands themselves run in tests/acceptance/test_sam_cli.py."""

from __future__ import annotations

import pytest

from builder.core.errors import TemplateError
from builder.sam import edit as sam_edit
from builder.sam import layers as sam_layers
from builder.sam import template as sam
from tests.helpers import EXAMPLE, SAM_APP, lint

TEMPLATES = {"backend": EXAMPLE / "template.yaml", "sam-app": SAM_APP / "template.yaml"}
LAYERS = {"backend": ["SharedLayer", "AwsLayer", "DataLayer", "HttpLayer", "ImagingLayer"],
          "sam-app": ["CommonLayer", "FormattingLayer"]}  # fmt: skip
HEADER = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
LAYER = "    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: {folder}/\n"
FUNCTION = ("    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Handler: app.handler\n"
            "      Runtime: python3.11\n")  # fmt: skip


def parse(text: str) -> sam.Template:
    return sam.parse_template(text, "template.yaml")


def migrated_all(name: str) -> sam.Template:
    original = sam.load_template(TEMPLATES[name])
    return parse(sam_edit.migrate(original, sam_edit.migratable(original)))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_after_migrating_everything_the_layers_are_unused_removed_and_rolled_back_byte_for_byte(name, tmp_path):
    original = sam.load_template(TEMPLATES[name])
    before = {u.logical_id: u for u in sam_layers.layer_uses(original)}
    assert list(before) == LAYERS[name] and all(u.functions and u.status == "used" for u in before.values())
    everything = migrated_all(name)
    uses = sam_layers.layer_uses(everything)
    assert [(u.logical_id, u.status, u.removable) for u in uses] == [(lid, "unused", True) for lid in LAYERS[name]]
    text, gone = sam_layers.remove_unused_layers(everything)
    assert list(gone) == LAYERS[name]
    removed = parse(text)
    assert not sam_layers.layer_uses(removed) and sam_layers.removed_layers(removed) == gone
    lint(tmp_path, original=original.text, migrated=everything.text, removed=text)
    assert sam_edit.rollback(removed, sam_edit.migrated(removed)) == original.text


def test_with_some_functions_still_zip_their_layers_are_listed_with_them_and_kept():
    original = sam.load_template(TEMPLATES["backend"])
    keep = {"AnalyticsReportFunction", "MlScoreFunction"}
    some = parse(sam_edit.migrate(original, [f for f in sam_edit.migratable(original) if f not in keep]))
    uses = {u.logical_id: u for u in sam_layers.layer_uses(some)}
    assert uses["DataLayer"].functions == ("AnalyticsReportFunction", "MlScoreFunction")
    assert set(uses["SharedLayer"].functions) == keep
    assert {lid for lid, u in uses.items() if u.removable} == {"AwsLayer", "HttpLayer", "ImagingLayer"}
    text, gone = sam_layers.remove_unused_layers(some)
    assert set(gone) == {"AwsLayer", "HttpLayer", "ImagingLayer"}
    assert {"SharedLayer", "DataLayer"} <= set(parse(text).data["Resources"])


def test_a_layer_an_output_or_another_resource_names_is_listed_with_them_and_never_removed(tmp_path):
    text = (HEADER + "Resources:\n  Used:\n" + LAYER.format(folder="used") + "  ByOutput:\n" + LAYER.format(folder="o")
            + "  ByPermission:\n" + LAYER.format(folder="p") + "  ByDependsOn:\n" + LAYER.format(folder="d")
            + "  Unused:\n" + LAYER.format(folder="u")
            + "  Permission:\n    Type: AWS::Lambda::LayerVersionPermission\n    Properties:\n"
              "      Action: lambda:GetLayerVersion\n      LayerVersionArn: !Ref ByPermission\n      Principal: '*'\n"
            + "  Fn:\n" + FUNCTION + "      Layers:\n        - !Ref Used\n    DependsOn: ByDependsOn\n"
            + "Outputs:\n  LayerArn:\n    Value: !Ref ByOutput\n")  # fmt: skip
    uses = {u.logical_id: u for u in sam_layers.layer_uses(parse(text))}
    assert uses["Used"].functions == ("Fn",) and uses["Used"].referrers == ()
    assert uses["ByOutput"].referrers == ("Outputs.LayerArn",) and uses["ByOutput"].status == "referenced"
    assert uses["ByPermission"].referrers == ("Resources.Permission",)
    assert uses["ByDependsOn"].referrers == ("Resources.Fn",)
    assert [lid for lid, u in uses.items() if u.removable] == ["Unused"]
    new, gone = sam_layers.remove_unused_layers(parse(text))
    assert gone == ("Unused",)
    lint(tmp_path, before=text, after=new)
    assert sam_layers.remove_unused_layers(parse(new)) == (new, ())  # nothing more to remove


def test_two_removals_come_back_in_place_and_migrating_after_a_removal_still_rolls_back():
    original = sam.load_template(TEMPLATES["backend"])
    ids = sam_edit.migratable(original)
    first = parse(sam_edit.migrate(original, [f for f in ids if f not in ("AnalyticsReportFunction", "MlScoreFunction")]))
    once = parse(sam_layers.remove_unused_layers(first)[0])
    second = parse(sam_edit.migrate(once, ["AnalyticsReportFunction", "MlScoreFunction"]))
    text, gone = sam_layers.remove_unused_layers(second)
    assert set(gone) == {"SharedLayer", "DataLayer"}
    twice = parse(text)
    assert set(sam_layers.removed_layers(twice)) == set(LAYERS["backend"])
    assert sam_edit.rollback(twice, sam_edit.migrated(twice)) == original.text


def test_a_damaged_record_of_removed_layers_is_reported():
    everything = migrated_all("sam-app")
    text, _ = sam_layers.remove_unused_layers(everything)
    damaged = text.replace("      - Layers:\n", "      - Lost:\n", 1)
    assert damaged != text
    with pytest.raises(TemplateError, match=r"Metadata.Builder.RemovedLayers is damaged"):
        sam_edit.rollback(parse(damaged), sam_edit.migrated(parse(damaged)))
