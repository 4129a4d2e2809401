"""Config loading and validation, on a small fixture backend copied to tmp_path."""

import shutil

import pytest

from builder.core.errors import ConfigError
from builder.project import config
from tests.helpers import FIXTURES

MINI = FIXTURES / "mini"


@pytest.fixture
def backend(tmp_path):
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    return root


def test_loads_functions_sorted_with_handler_parts(backend):
    cfg = config.load(backend)
    assert [f.name for f in cfg.functions] == ["hello", "report"]
    hello = cfg.function("hello")
    assert hello.module == "functions.hello.app"
    assert hello.module_path == "functions/hello/app.py"
    assert hello.attribute == "handler"
    assert hello.event == "events/hello.json"
    assert cfg.image("hello") == "mini-hello:latest"
    assert cfg.base_image == "builder-lambda-python:3.11"


def test_default_base_image_is_aws_lambda_python(backend):
    text = (backend / "builder.toml").read_text().replace('base-image = "builder-lambda-python:3.11"\n', "")
    (backend / "builder.toml").write_text(text)
    assert config.load(backend).base_image == "public.ecr.aws/lambda/python:3.11"


def test_overrides_win_over_the_file(backend):
    assert config.load(backend, base_image="other:1").base_image == "other:1"


def test_pyproject_tool_builder_table(backend):
    text = (backend / "builder.toml").read_text().replace("[functions.", "[tool.builder.functions.")
    (backend / "builder.toml").unlink()
    (backend / "pyproject.toml").write_text("[tool.builder]\n" + text)
    assert [f.name for f in config.load(backend).functions] == ["hello", "report"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("source-roots", "source-root"), "Did you mean 'source-roots'"),
        (lambda t: t.replace("handler =", "handlr =", 1), "Did you mean 'handler'"),
        (lambda t: t.replace("functions/hello/app.handler", "functions/hello/nope.handler"), "does not exist"),
        (lambda t: t.replace("functions/hello/app.handler", "hello"), "not of the form"),
        (lambda t: t.replace('name = "mini"', "name = 3"), "must be a str"),
        (lambda t: t + "[functions.Bad_Name]\nhandler = 'functions/hello/app.handler'\n", "lowercase"),
        (lambda t: t.replace("= [", "= ["[:-1], 1), "Cannot read"),
    ],
)
def test_invalid_config_is_rejected_with_a_helpful_message(backend, edit, message):
    path = backend / "builder.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError, match=message):
        config.load(backend)


def test_missing_config_says_where_to_run(tmp_path):
    with pytest.raises(ConfigError, match="--project DIR"):
        config.load(tmp_path)


def test_missing_lock_file_says_how_to_lock(backend):
    (backend / "requirements" / "functions.txt").unlink()
    with pytest.raises(ConfigError, match="pip-compile"):
        config.load(backend)


def test_unknown_function_suggests_a_name(backend):
    with pytest.raises(ConfigError, match="Did you mean 'hello'"):
        config.load(backend).function("helo")


def test_handler_function_that_does_not_exist_is_rejected(backend):
    path = backend / "builder.toml"
    path.write_text(path.read_text().replace("functions/hello/app.handler", "functions/hello/app.main"))
    with pytest.raises(ConfigError, match="defines no top-level 'main'"):
        config.load(backend)


@pytest.mark.parametrize("key", ["source-roots", "platforms"])
def test_an_empty_list_of_roots_or_platforms_is_refused(backend, key):
    text = (backend / "builder.toml").read_text().replace('source-roots = ["functions", "shared"]\n', "")
    (backend / "builder.toml").write_text(f"{key} = []\n" + text)  # top-level keys go before the tables
    with pytest.raises(ConfigError, match=rf"'{key}' is empty; name at least one"):
        config.load(backend)


@pytest.mark.parametrize(("line", "message"), [
    ('python-version = "3.99"', r"python-version '3.99' is not a Python that Lambda runs \(3.8, .*3.14\)"),
    ('python-version = "abc"', r"python-version 'abc' is not a Python 3 version"),
])  # fmt: skip
def test_a_python_lambda_does_not_run_is_refused_before_pip_is_asked(backend, line, message):
    (backend / "builder.toml").write_text(line + "\n" + (backend / "builder.toml").read_text())
    with pytest.raises(ConfigError, match=message):
        config.load(backend)


@pytest.mark.parametrize("include", ["../secret.txt", "/etc/passwd", "shared/../../x"])
def test_an_include_outside_the_root_is_refused(backend, include):
    text = (backend / "builder.toml").read_text().replace(
        'handler = "functions/hello/app.handler"\n', f'handler = "functions/hello/app.handler"\ninclude = ["{include}"]\n')
    (backend / "builder.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"reaches outside the backend root"):
        config.load(backend)


@pytest.mark.parametrize(("edit", "key"), [
    (lambda t: t.replace('source-roots = ["functions", "shared"]', 'source-roots = ["functions", 7]'), "source-roots"),
    (lambda t: "platforms = [7]\n" + t, "platforms"),
    (lambda t: t.replace('handler = "functions/hello/app.handler"\n', 'handler = "functions/hello/app.handler"\ninclude = [5]\n'), "include"),
    (lambda t: t.replace('handler = "functions/hello/app.handler"\n', 'handler = "functions/hello/app.handler"\nexclude-modules = [{a=1}]\n'), "exclude-modules"),
])  # fmt: skip
def test_every_item_of_a_list_is_checked_at_load(backend, edit, key):
    (backend / "builder.toml").write_text(edit((backend / "builder.toml").read_text()))
    with pytest.raises(ConfigError, match=rf"every item of '{key}' must be a non-empty string"):
        config.load(backend)
