"""A SAM project's settings and commands: parameters, samconfig, `init`, `functions`, several templates,
the AWS SDK from the runtime, handler forms, warnings that do not block another function.

On small projects written into tmp_path: no Docker, no network."""

from __future__ import annotations

import json
import textwrap

import pytest

from builder.analysis.closure import compute_closures
from builder.core.errors import ConfigError
from builder.local import settings as local_settings
from builder.project import config
from tests.helpers import run_cli
from tests.unit.sam_projects import (
    BROKEN_NEIGHBOUR,
    BROKEN_NEIGHBOUR_FILES,
    HANDLER,
    HEADER,
    LAYERED,
    LAYERED_FILES,
    no_dists,
    project,
)


def test_local_settings_resolve_parameters_and_show_placeholders(layered, tmp_path):
    fn = layered.function("confirm-booking")
    settings = local_settings.local_settings(layered, fn)
    env = settings.environment
    assert env["STAGE"] == "dev" and env["GLOBAL_ONLY"] == "from-globals"  # Globals merged with its own
    assert env["URL"] == "https://us-east-1.example.com/dev" and env["JOINED"] == "dev-x"  # sam local's region
    assert env["COUNT"] == "3" and env["FLAG"] == "true"
    assert env["TABLE"] == "Table" and env["TABLE_ARN"] == "<unresolved: !GetAtt Table.Arn>"  # Ref: as sam local
    assert env["FROM_SSM"] == "<unresolved: !Ref TableParam>"  # read from SSM when deployed
    assert env["MISSING"] == "<unresolved: !Ref NoDefault>"
    (notice,) = settings.notices
    assert notice.startswith("confirm-booking: FROM_SSM, MISSING, TABLE, TABLE_ARN have no local value")
    assert (settings.memory_mb, settings.timeout_s, settings.tmp_mb) == (512, 7, 2048)
    overridden = local_settings.local_settings(
        layered, fn, parameter_overrides={"Stage": "prod", "NoDefault": "x"},
        env_vars={"Parameters": {"TABLE": "t1"}, "ConfirmBookingFunction": {"TABLE_ARN": "arn:t", "UNDECLARED": "no"}},
        env={"FROM_SSM": "ssm-value"},
    )  # fmt: skip
    env = overridden.environment
    assert (env["STAGE"], env["MISSING"], env["TABLE"], env["TABLE_ARN"], env["FROM_SSM"]) == (
        "prod", "x", "t1", "arn:t", "ssm-value")  # fmt: skip
    assert "UNDECLARED" not in env and overridden.notices == ()  # as sam: only declared variables
    hello = local_settings.local_settings(layered, layered.function("hello-world"))
    assert (hello.memory_mb, hello.timeout_s, hello.tmp_mb) == (128, 7, 512)


def test_samconfig_gives_the_template_parameters_and_env_vars(tmp_path):
    root = project(tmp_path / "app", LAYERED, LAYERED_FILES)
    (root / "infra.yaml").write_text((root / "template.yaml").read_text())
    (root / "template.yaml").unlink()
    (root / "samconfig.toml").write_text(textwrap.dedent("""\
        version = 0.1
        [default.global.parameters]
        template_file = "infra.yaml"
        [default.local_invoke.parameters]
        parameter_overrides = "Stage=qa NoDefault=\\"a b\\""
        env_vars = "env.json"
    """))
    (root / "env.json").write_text(json.dumps({"confirm-booking": {"TABLE": "orders"}}))
    cfg = config.load(root)
    assert cfg.templates == ("infra.yaml",) and dict(cfg.parameters) == {"Stage": "qa", "NoDefault": "a b"}
    env_vars = local_settings.env_vars_file(root / cfg.env_vars)
    env = local_settings.local_settings(cfg, cfg.function("confirm-booking"), env_vars=env_vars).environment
    assert (env["STAGE"], env["MISSING"], env["TABLE"]) == ("qa", "a b", "orders")


def test_init_writes_a_builder_toml_that_loads_to_the_same_project(tmp_path):
    root = project(tmp_path / "app", LAYERED, LAYERED_FILES)
    before = config.load(root)
    result = run_cli("--project", str(root), "init")
    assert result.returncode == 0, result.stderr
    text = (root / "builder.toml").read_text()
    assert "# [functions.confirm-booking]" in text and "ConfirmBookingFunction: confirm.lambda_handler" in text
    assert config.load(root).functions == before.functions
    again = run_cli("--project", str(root), "init")
    assert again.returncode == 2 and "--force" in again.stderr


def test_functions_lists_names_logical_ids_and_what_is_left_alone(tmp_path):
    root = project(tmp_path / "app", LAYERED, LAYERED_FILES)
    result = run_cli("--project", str(root), "functions", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(f["name"], f["logical_id"], f["code"]) for f in data["functions"]] == [
        ("confirm-booking", "ConfirmBookingFunction", "src/confirm-booking"),
        ("hello-world", "HelloWorld", "hello_world_function"),
    ]
    assert {s["logical_id"] for s in data["left_alone"]} == {"NodeFunction", "InlineFunction", "S3Function", "WebFunction"}
    text = run_cli("--project", str(root), "functions")
    assert text.stderr.count("left alone") == 1 and "NodeFunction (runtime nodejs20.x" in text.stderr


def test_an_unknown_function_suggests_the_name_and_says_when_it_is_left_alone(layered):
    with pytest.raises(ConfigError, match="Did you mean 'confirm-booking'"):
        layered.function("confirm-bookin")
    with pytest.raises(ConfigError, match="NodeFunction is left alone: runtime nodejs20.x"):
        layered.function("NodeFunction")


def test_several_templates_are_one_project(tmp_path):
    root = project(tmp_path / "app", LAYERED, LAYERED_FILES)
    (root / "orders").mkdir()
    (root / "orders/template.yaml").write_text(HEADER + textwrap.dedent("""\
        Resources:
          ShipOrderFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: ship/
              Handler: app.lambda_handler
              Runtime: python3.11
    """))
    (root / "orders/ship").mkdir()
    (root / "orders/ship/app.py").write_text(HANDLER)
    cfg = config.load(root, templates=("template.yaml", "orders/template.yaml"))
    assert cfg.templates == ("template.yaml", "orders/template.yaml")
    ship = cfg.function("ShipOrderFunction")
    assert (ship.name, ship.template, ship.code_root.path) == ("ship-order", "orders/template.yaml", "orders/ship")
    assert len(cfg.functions) == 3
    result = run_cli("--project", str(root), "--template", "orders/template.yaml", "functions", "--json")
    assert [f["name"] for f in json.loads(result.stdout)["functions"]] == ["ship-order"]


def test_the_aws_sdk_comes_from_the_lambda_runtime_when_no_requirement_names_it(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          SdkFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/sdk/
              Handler: app.lambda_handler
              Runtime: python3.11
    """, {"src/sdk/app.py": "import boto3\nfrom botocore.exceptions import ClientError\n" + HANDLER})
    cfg = config.load(root)
    closure = compute_closures(cfg, no_dists(cfg))["sdk"]
    assert closure.distributions == ()  # nothing to install: every Lambda Python base image has them
    assert [(name, [r.detail for r in why]) for name, why in closure.runtime] == [("boto3", [1]), ("botocore", [2])]
    result = run_cli("--project", str(root), "closure", "--function", "sdk", "--why", "botocore")
    assert "botocore comes from the Lambda runtime" in result.stdout and "src/sdk/app.py:2" in result.stdout


@pytest.mark.parametrize("handler", ["pkg.main.lambda_handler", "pkg/main.lambda_handler", "pkg.lambda_handler"])
def test_handler_modules_may_be_dotted_slashed_or_packages(tmp_path, handler):
    root = project(tmp_path / "app", f"""\
        Resources:
          DeepFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/deep/
              Handler: {handler}
              Runtime: python3.11
    """, {"src/deep/pkg/__init__.py": "from .main import lambda_handler\n", "src/deep/pkg/main.py": HANDLER})
    cfg = config.load(root)
    closure = compute_closures(cfg, no_dists(cfg))["deep"]
    assert {f.path for f in closure.local_files} >= {"src/deep/pkg/__init__.py", "src/deep/pkg/main.py"}


def test_a_function_is_not_held_back_by_another_ones_broken_code(tmp_path):
    root = project(tmp_path / "app", BROKEN_NEIGHBOUR, BROKEN_NEIGHBOUR_FILES)
    good = run_cli("--project", str(root), "closure", "--function", "good")
    assert good.returncode == 0, good.stderr
    assert "left out, as their code cannot be analysed: broken" in good.stderr
    broken = run_cli("--project", str(root), "closure", "--function", "broken")
    assert broken.returncode == 5 and "nowhere_to_be_found" in broken.stderr


def test_a_prebuilt_layers_unresolved_imports_are_warnings_not_errors(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          VendoredLayer:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layers/vendored/}
          AppFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/app/
              Handler: app.lambda_handler
              Runtime: python3.11
              Layers: [!Ref VendoredLayer]
    """, {
        "src/app/app.py": "import compat\n" + HANDLER,
        "layers/vendored/python/compat.py": "import sys\nif sys.version_info[0] == 2:\n    from urlparse import urlparse\n",
    })  # fmt: skip
    cfg = config.load(root)
    closure = compute_closures(cfg, no_dists(cfg))["app"]
    assert "layers/vendored/python/compat.py" in {f.path for f in closure.local_files}
    (warning,) = closure.warnings
    assert (warning.path, warning.line) == ("layers/vendored/python/compat.py", 3) and "prebuilt layer" in warning.message


def test_a_json_log_format_reaches_the_local_run_as_lambdas_variables(tmp_path):
    root = project(tmp_path / "p", """
        Globals:
          Function:
            Runtime: python3.11
            LoggingConfig:
              LogFormat: JSON
              ApplicationLogLevel: debug
        Resources:
          JsonFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/, Handler: app.lambda_handler}
          TextFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/, Handler: app.lambda_handler, LoggingConfig: {LogFormat: Text}}
    """, {"src/app.py": HANDLER})
    cfg = config.load(root)
    json_env = local_settings.local_settings(cfg, cfg.function("JsonFunction")).environment
    assert (json_env["AWS_LAMBDA_LOG_FORMAT"], json_env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "DEBUG")
    text_env = local_settings.local_settings(cfg, cfg.function("TextFunction")).environment
    assert "AWS_LAMBDA_LOG_FORMAT" not in text_env
    overridden = local_settings.local_settings(cfg, cfg.function("JsonFunction"), env={"AWS_LAMBDA_LOG_FORMAT": "Text"})
    assert overridden.environment["AWS_LAMBDA_LOG_FORMAT"] == "Text"  # --env last
