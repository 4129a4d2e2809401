"""A SAM project read as SAM reads it: functions, code roots, layers, local modules, template mistakes.

Pure planning on small projects written into tmp_path: no Docker, no network."""

from __future__ import annotations

import textwrap

import pytest

from builder.analysis.closure import compute_closures
from builder.analysis.import_graph import ImportGraph
from builder.analysis.parse_cache import ParseCache
from builder.core.errors import AnalysisError, ConfigError, LockError, TemplateError
from builder.deps import locking
from builder.deps.dists import DistIndex, parse_lock
from builder.deps.target import Target
from builder.image.plan import python_path
from builder.project import config
from builder.project import template as sam_project
from builder.project.model import CodeRoot
from tests.helpers import run_cli
from tests.unit.sam_projects import (
    BROKEN_NEIGHBOUR,
    BROKEN_NEIGHBOUR_FILES,
    HANDLER,
    LAYERED,
    LAYERED_FILES,
    no_dists,
    project,
)


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
        "WebFunction": "Handler run.sh is a file of its CodeUri src/web/, which AWS_LAMBDA_EXEC_WRAPPER /opt/bootstrap "
                       "runs (a web adapter from a layer), not a Python module.function",
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
        compute_closures(cfg, no_dists(cfg))
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
    closure = compute_closures(cfg, no_dists(cfg))["plugin"]
    files = {f.path: f for f in closure.local_files}
    assert set(files) == {"src/plugins/app.py", "src/plugins/config/settings.json"}
    assert files["src/plugins/config/settings.json"].reasons[0].kind == "data"
    assert [(w.line, "keep = [...]" in w.message) for w in closure.warnings] == [(3, True)]
    (root / "builder.toml").write_text('[functions.plugin]\nkeep = ["plugin_a"]\n')
    cfg = config.load(root)
    closure = compute_closures(cfg, no_dists(cfg))["plugin"]
    assert "src/plugins/plugin_a.py" in {f.path for f in closure.local_files}
    (root / "builder.toml").write_text('[functions.plugin]\nkeep = ["plugin_b"]\n')
    cfg = config.load(root)
    with pytest.raises(AnalysisError, match="keep 'plugin_b' .plugin.: no module of that name"):
        compute_closures(cfg, no_dists(cfg))


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


def test_a_python_runtime_lambda_does_not_have_is_a_template_error(tmp_path):
    template = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n" \
        "      CodeUri: src/\n      Handler: app.lambda_handler\n      Runtime: python3.99\n"
    root = project(tmp_path / "app", template, {"src/app.py": HANDLER})
    with pytest.raises(TemplateError, match=r"Fn has Runtime python3.99, which Lambda does not have"):
        config.load(root)


def test_functions_that_require_nothing_lock_without_a_python_of_their_version(tmp_path, monkeypatch):
    # boto3 from the Lambda runtime, no requirements file: an empty lock, and no Python 3.14 asked for.
    template = BROKEN_NEIGHBOUR.replace("python3.11", "python3.14")
    root = project(tmp_path / "app", template, {"src/good/app.py": "import boto3\n" + HANDLER, "src/broken/app.py": HANDLER})
    monkeypatch.setattr(locking, "_find_python", lambda version: None)  # none on this machine
    monkeypatch.setattr(locking, "TOOLS_CACHE", tmp_path / "cache")
    cfg = config.load(root)
    result = locking.ensure(cfg)
    assert result.written == ("builder-locks/shared.txt",)
    assert parse_lock(root / "builder-locks/shared.txt") == {}
    (root / "src/good/requirements.txt").write_text("requests\n")  # now one needs locking: no engine, no base to lock in
    with pytest.raises(LockError, match=r"needs a Python 3\.14.*no base image of it to lock in.*pyenv install 3\.14.*"
                                        r"base --bootstrap"):
        locking.ensure(config.load(root))


@pytest.mark.parametrize(("runtime", "newest"), [("python3.11", "manylinux2014_x86_64"), ("python3.13", "manylinux_2_34_x86_64")])
def test_wheels_are_those_lambdas_os_runs_for_the_runtime(tmp_path, runtime, newest):
    # Amazon Linux 2 (glibc 2.26) under python3.11, Amazon Linux 2023 (glibc 2.34) from python3.12: numpy 2.3
    # and later have manylinux_2_28 wheels only, which pip must be let take there (as `sam build` does).
    root = project(tmp_path / "app", BROKEN_NEIGHBOUR.replace("python3.11", runtime), BROKEN_NEIGHBOUR_FILES)
    cfg = config.load(root)
    assert cfg.platforms[0] == "manylinux2014_x86_64" and cfg.platforms[-1] == newest
    assert ("manylinux_2_28_x86_64" in cfg.platforms) == (runtime == "python3.13")
    assert cfg.platforms_for("arm64")[-1] == newest.replace("x86_64", "aarch64")
    (root / "builder.toml").write_text('platforms = ["manylinux2014_x86_64"]\n')  # what the project says wins
    assert config.load(root).platforms == ("manylinux2014_x86_64",)


def test_a_lock_in_the_base_image_asks_the_index_this_machines_pip_conf_names(tmp_path, monkeypatch):
    # pip in the container reads no pip.conf of this machine: its index settings go as PIP_* variables.
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://pypi.example.internal/simple\ntrusted-host = pypi.example.internal\n"
                    "extra-index-url = file:///srv/wheels https://mirror.example.internal/simple\n")  # fmt: skip
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    settings = locking.pip_settings()
    assert settings["PIP_INDEX_URL"] == "https://pypi.example.internal/simple"
    assert settings["PIP_TRUSTED_HOST"] == "pypi.example.internal"
    assert settings["PIP_EXTRA_INDEX_URL"] == "https://mirror.example.internal/simple"  # not this machine's folder
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example.internal/simple")  # the environment wins, as in pip
    assert locking.pip_settings()["PIP_INDEX_URL"] == "https://env.example.internal/simple"
