"""Unit: a SAM project read as SAM reads it (functions, code roots, layers, requirements, local settings).

Pure planning on small projects written into tmp_path: no Docker, no network.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from builder.analysis.closure import compute_closures
from builder.analysis.import_graph import ImportGraph
from builder.analysis.parse_cache import ParseCache
from builder.core.errors import AnalysisError, ConfigError, TemplateError
from builder.deps.dists import DistIndex
from builder.deps.target import Target
from builder.image.plan import python_path
from builder.local import settings as local_settings
from builder.project import config
from builder.project import template as sam_project
from builder.project.model import CodeRoot

HEADER = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'


def project(root: Path, template: str, files: dict[str, str]) -> Path:
    """A SAM project: ``template`` (after the header) and ``files`` (path -> text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(HEADER + textwrap.dedent(template))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


HANDLER = "def lambda_handler(event, context):\n    return {}\n"

LAYERED = """\
Parameters:
  Stage:
    Type: String
    Default: dev
  TableParam:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /app/table
  NoDefault:
    Type: String
Globals:
  Function:
    Runtime: python3.11
    Timeout: 7
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        STAGE: !Ref Stage
        GLOBAL_ONLY: from-globals
Resources:
  Table:
    Type: AWS::Serverless::SimpleTable
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
  BuiltLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/built
    Metadata:
      BuildMethod: python3.11
  MakeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/make/
    Metadata:
      BuildMethod: makefile
  ConfirmBookingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/confirm-booking/
      Handler: confirm.lambda_handler
      MemorySize: 512
      EphemeralStorage:
        Size: 2048
      Layers:
        - !Ref BuiltLayer
        - !Ref MakeLayer
        - !Sub "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"
      Environment:
        Variables:
          TABLE: !Ref Table
          TABLE_ARN: !GetAtt Table.Arn
          FROM_SSM: !Ref TableParam
          MISSING: !Ref NoDefault
          URL: !Sub "https://${AWS::Region}.example.com/${Stage}"
          JOINED: !Join ["-", [!Ref Stage, x]]
          COUNT: 3
          FLAG: true
  HelloWorld:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world_function
      Handler: hello_world/app.lambda_handler
  NodeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/node/
      Handler: app.handler
      Runtime: nodejs20.x
  InlineFunction:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
  S3Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri:
        Bucket: my-bucket
        Key: code.zip
      Handler: app.handler
"""
LAYERED_FILES = {
    "src/confirm-booking/confirm.py": "import utils\nimport shared.db\nimport built_mod\n" + HANDLER,
    "src/confirm-booking/utils.py": "X = 1\n",
    "src/confirm-booking/requirements.txt": "six\n",
    "src/confirm-booking/prices.json": "{}\n",
    "src/confirm-booking/tests/test_confirm.py": "def test(): pass\n",
    "src/confirm-booking/tests/fixture.json": "{}\n",
    "src/confirm-booking/unused.py": "import nothing_here\n",
    "hello_world_function/hello_world/__init__.py": "",
    "hello_world_function/hello_world/app.py": "from model import thing\n" + HANDLER,
    "hello_world_function/model/__init__.py": "",
    "hello_world_function/model/thing.py": "",
    "layers/shared/python/shared/__init__.py": "",
    "layers/shared/python/shared/db.py": "",
    "layers/shared/bin/tool": "#!/bin/sh\n",
    "layers/built/built_mod.py": "",
    "layers/built/requirements.txt": "jmespath\n",
    "layers/make/Makefile": "build-MakeLayer:\n\ttrue\n",
    "src/node/app.js": "",
}


@pytest.fixture
def layered(tmp_path) -> config.Config:
    return config.load(project(tmp_path / "app", LAYERED, LAYERED_FILES))


def test_function_names_come_from_logical_ids():
    names = {lid: sam_project.function_name(lid) for lid in (
        "ConfirmBookingFunction", "HelloWorld", "S3ProcessorFunction", "APIHandler", "MyFunction", "Function",
        "getUserV2Function")}  # fmt: skip
    assert names == {
        "ConfirmBookingFunction": "confirm-booking", "HelloWorld": "hello-world", "S3ProcessorFunction": "s3-processor",
        "APIHandler": "api-handler", "MyFunction": "my", "Function": "function", "getUserV2Function": "get-user-v2",
    }  # fmt: skip


def test_python_functions_are_found_and_the_others_listed_once(layered):
    assert [f.name for f in layered.functions] == ["confirm-booking", "hello-world"]
    assert dict(layered.skipped) == {
        "NodeFunction": "runtime nodejs20.x, not python3.x",
        "InlineFunction": "InlineCode (no folder to build from)",
        "S3Function": 'CodeUri s3://my-bucket/code.zip is not a local folder',
    }
    assert layered.python_version == "3.11"
    assert layered.base_image == "public.ecr.aws/lambda/python:3.11" and not layered.base_image_set


def test_code_roots_follow_lambda_layout_and_globals_layers_come_first(layered):
    fn = layered.function("ConfirmBookingFunction")  # the logical ID works as well as the name
    assert fn.name == "confirm-booking" and fn.handler == "confirm.lambda_handler"
    assert fn.roots == (
        CodeRoot("src/confirm-booking", "/var/task", owner="CodeUri src/confirm-booking/ of ConfirmBookingFunction"),
        CodeRoot("layers/shared", "/opt", search=("python/lib/python3.11/site-packages", "python"),
                 owner="layer SharedLayer (layers/shared/)", as_is=True),
        CodeRoot("layers/built", "/opt/python", owner="layer BuiltLayer (layers/built)"),
    )  # fmt: skip
    assert fn.requirements == ("src/confirm-booking/requirements.txt", "layers/built/requirements.txt")
    assert python_path(fn.roots) == ("/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python")
    assert fn.arn_layers and "AWSLambdaPowertoolsPythonV3" in fn.arn_layers[0]
    notices = "\n".join(layered.notices)
    assert "if the function imports it, require aws-lambda-powertools in its requirements.txt instead" in notices.lower()
    assert "MakeLayer is built with BuildMethod makefile" in notices


def test_builder_toml_merges_over_the_template_by_name_or_logical_id(tmp_path):
    root = project(tmp_path / "app", LAYERED, LAYERED_FILES)
    (root / "builder.toml").write_text(textwrap.dedent("""\
        keep = ["jmespath"]
        [functions.HelloWorld]
        name = "hello"
        include = ["hello_world_function/model/*.py"]
        [functions.confirm-booking]
        event = "src/confirm-booking/prices.json"
    """))
    cfg = config.load(root)
    assert [f.name for f in cfg.functions] == ["confirm-booking", "hello"]
    assert cfg.function("hello").logical_id == "HelloWorld"
    assert cfg.function("hello").include == ("hello_world_function/model/*.py",)
    assert cfg.function("confirm-booking").event == "src/confirm-booking/prices.json"
    assert cfg.keep == ("jmespath",)
    (root / "builder.toml").write_text("[functions.confirm-bookin]\ninclude = []\n")
    with pytest.raises(ConfigError, match="matches no function of the template. Did you mean 'confirm-booking'"):
        config.load(root)


def test_modules_beside_the_handler_and_in_layers_are_local_modules(layered):
    index = DistIndex({})
    fn = layered.function("confirm-booking")
    graph = ImportGraph(layered, index, Target(), ParseCache(), fn)
    assert graph.tree.lookup("utils") == "src/confirm-booking/utils.py"  # top level, beside the handler
    assert graph.tree.lookup("shared.db") == "layers/shared/python/shared/db.py"  # a prebuilt layer's python/
    assert graph.tree.lookup("built_mod") == "layers/built/built_mod.py"  # a layer SAM builds: the folder itself
    assert graph.tree.lookup("confirm") == "src/confirm-booking/confirm.py"
    data = dict(graph.tree.data_files())
    assert "src/confirm-booking/prices.json" in data and "layers/shared/bin/tool" in data
    assert "src/confirm-booking/requirements.txt" in data and not any(p.endswith(".py") for p in data)
    hello = ImportGraph(layered, index, Target(), ParseCache(), layered.function("hello-world"))
    assert hello.tree.lookup("hello_world.app") == "hello_world_function/hello_world/app.py"
    assert hello.tree.lookup("model.thing") == "hello_world_function/model/thing.py"


def _no_dists(cfg: config.Config) -> dict[str, DistIndex]:
    return {lock: DistIndex({}) for lock in cfg.lock_files}


def test_a_module_no_root_and_no_requirement_provides_is_reported_with_what_to_do(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          ApiFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/api/
              Handler: app.lambda_handler
              Runtime: python3.11
              Layers:
                - arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV2:40
    """, {"src/api/app.py": "from aws_lambda_powertools import Logger\n" + HANDLER})
    cfg = config.load(root)
    with pytest.raises(AnalysisError) as caught:
        compute_closures(cfg, _no_dists(cfg))
    message = str(caught.value)
    assert "src/api/app.py:1" in message and "no module 'aws_lambda_powertools' in src/api" in message
    assert "Add the distribution that provides it to src/api/requirements.txt" in message
    assert "AWSLambdaPowertoolsPythonV2" in message  # the ARN layer that provided it on Lambda


def test_data_files_ship_as_the_zip_had_them_and_keep_adds_modules(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          PluginFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/plugins/
              Handler: app.lambda_handler
              Runtime: python3.11
    """, {
        "src/plugins/app.py": "import importlib, os\nNAME = os.environ['P']\nmod = importlib.import_module(NAME)\n" + HANDLER,
        "src/plugins/plugin_a.py": "",
        "src/plugins/config/settings.json": "{}\n",
        "src/plugins/.venv/lib/x.txt": "",
        "src/plugins/__pycache__/app.cpython-311.pyc": "",
    })  # fmt: skip
    cfg = config.load(root)
    closure = compute_closures(cfg, _no_dists(cfg))["plugin"]
    files = {f.path: f for f in closure.local_files}
    assert set(files) == {"src/plugins/app.py", "src/plugins/config/settings.json"}
    assert files["src/plugins/config/settings.json"].reasons[0].kind == "data"
    assert [(w.line, "keep = [...]" in w.message) for w in closure.warnings] == [(3, True)]
    (root / "builder.toml").write_text('[functions.plugin]\nkeep = ["plugin_a"]\n')
    cfg = config.load(root)
    closure = compute_closures(cfg, _no_dists(cfg))["plugin"]
    assert "src/plugins/plugin_a.py" in {f.path for f in closure.local_files}
    (root / "builder.toml").write_text('[functions.plugin]\nkeep = ["plugin_b"]\n')
    cfg = config.load(root)
    with pytest.raises(AnalysisError, match="keep 'plugin_b' .plugin.: no module of that name"):
        compute_closures(cfg, _no_dists(cfg))


def test_a_symlink_loop_in_a_code_folder_is_an_analysis_error(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          LoopFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/loop/
              Handler: app.lambda_handler
              Runtime: python3.11
    """, {"src/loop/app.py": HANDLER, "src/loop/pkg/__init__.py": ""})
    (root / "src/loop/pkg/again").symlink_to("..", target_is_directory=True)
    result = run_cli("--project", str(root), "closure", "--function", "loop")
    assert result.returncode == 5, result.stderr
    assert "symbolic link to a folder above it (a loop)" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("change, words", [
    ("Handler: ../outside.lambda_handler", "points outside its CodeUri"),
    ("CodeUri: src/missing/", "src/missing/, and"),
    ("Handler: nodot", "Lambda needs module.function"),
])  # fmt: skip
def test_template_mistakes_are_one_clear_paragraph(tmp_path, change, words):
    key = change.split(":")[0]
    text = textwrap.dedent("""\
        Resources:
          AppFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/app/
              Handler: app.lambda_handler
              Runtime: python3.11
    """).replace(f"{key}: " + ("src/app/" if key == "CodeUri" else "app.lambda_handler"), change)
    root = project(tmp_path / "app", text, {"src/app/app.py": HANDLER})
    result = run_cli("--project", str(root), "functions")
    assert result.returncode == 6, result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_missing_layer_folder_names_the_layer_and_its_function(tmp_path):
    root = project(tmp_path / "app", """\
        Resources:
          GoneLayer:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: layers/gone/
          AppFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/app/
              Handler: app.lambda_handler
              Runtime: python3.11
              Layers: [!Ref GoneLayer]
    """, {"src/app/app.py": HANDLER})
    with pytest.raises(TemplateError, match="layer GoneLayer .used by AppFunction. has ContentUri layers/gone/"):
        config.load(root)


def test_functions_of_two_python_versions_need_a_choice(tmp_path):
    text = """\
        Resources:
          OldFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/a/, Handler: app.lambda_handler, Runtime: python3.9}
          NewFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/a/, Handler: app.lambda_handler, Runtime: python3.11}
    """
    root = project(tmp_path / "app", text, {"src/a/app.py": HANDLER})
    with pytest.raises(ConfigError, match="more than one Python version .python3.11: NewFunction; python3.9: OldFunction"):
        config.load(root)
    (root / "builder.toml").write_text('python-version = "3.11"\n')
    cfg = config.load(root)
    assert [f.logical_id for f in cfg.functions] == ["NewFunction"]
    assert dict(cfg.skipped) == {"OldFunction": "runtime python3.9, and the project builds Python 3.11"}


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
    assert {s["logical_id"] for s in data["left_alone"]} == {"NodeFunction", "InlineFunction", "S3Function"}
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
    closure = compute_closures(cfg, _no_dists(cfg))["sdk"]
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
    closure = compute_closures(cfg, _no_dists(cfg))["deep"]
    assert {f.path for f in closure.local_files} >= {"src/deep/pkg/__init__.py", "src/deep/pkg/main.py"}


def test_a_function_is_not_held_back_by_another_ones_broken_code(tmp_path):
    root = project(tmp_path / "app", """\
        Globals:
          Function:
            Runtime: python3.11
            Handler: app.lambda_handler
        Resources:
          GoodFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/good/}
          BrokenFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/broken/}
    """, {"src/good/app.py": HANDLER, "src/broken/app.py": "import nowhere_to_be_found\n" + HANDLER})
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
    closure = compute_closures(cfg, _no_dists(cfg))["app"]
    assert "layers/vendored/python/compat.py" in {f.path for f in closure.local_files}
    (warning,) = closure.warnings
    assert (warning.path, warning.line) == ("layers/vendored/python/compat.py", 3) and "prebuilt layer" in warning.message
