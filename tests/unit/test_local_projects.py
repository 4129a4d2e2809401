"""Local projects named by a requirements file (``./libs/orders-lib/``, ``-e ../shared/lib``), read as pip
resolves them where `sam build` runs (the template's folder): code roots of the function or layer,
requirements files rewritten for pip-compile, pins made comments, locks made again when their setup.py
changes. Pure reading of small projects in tmp_path: no Docker, no network."""

from __future__ import annotations

import json

import pytest

from builder.core.errors import TemplateError
from builder.deps import locking
from builder.deps.requirements import is_local, local_project, requirement_names, with_absolute_paths
from builder.deps.target import Target
from builder.project import config
from tests.helpers import run_cli
from tests.unit.sam_projects import GLOBALS, HANDLER, HEADER, project

TEMPLATE = GLOBALS + """\
Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/orders/
      Layers:
        - !Ref CommonLayer
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/common/
      CompatibleRuntimes: [python3.11]
    Metadata:
      BuildMethod: python3.11
"""
SETUP = "from setuptools import setup\nsetup(name='orders-lib', version='1', install_requires=['six'])\n"
FILES = {
    "src/orders/app.py": "import orders_lib\nimport util\n" + HANDLER,
    "src/orders/requirements.txt": "requests\n./libs/orders-lib/  # the team's own\n-e ./libs/util-lib[fast]\n",
    "libs/orders-lib/setup.py": SETUP,
    "libs/orders-lib/orders_lib/__init__.py": "",
    "libs/util-lib/pyproject.toml": '[project]\nname = "util-lib"\nversion = "1"\n',
    "libs/util-lib/src/util/__init__.py": "",
    "layers/common/requirements.txt": "file:libs/layer-lib ; python_version >= '3.9'\n",
    "layers/common/common.py": "",
    "libs/layer-lib/setup.cfg": "[metadata]\nname = layer-lib\n",
}  # fmt: skip


@pytest.mark.parametrize("text, local", [
    ("../shared/src/ecom/", True), ("./pkg[extra]", True), (".", True), ("file:../x", True),
    ("ecom @ file:///srv/ecom", True), ("libs/pkg", True), ("requests", False), ('six>=1; python_version < "3.12"', False),
    ("https://example.com/six.whl", False), ("git+https://github.com/org/repo", False), ("six @ https://e.com/six.whl", False),
])  # fmt: skip
def test_a_local_project_is_a_path_or_a_file_url_as_pip_tells_them(text, local):
    assert is_local(text) is local


def test_local_projects_are_code_of_the_function_or_layer_that_names_them(tmp_path):
    root = project(tmp_path / "app", TEMPLATE, FILES)
    fn = config.load(root).function("orders")
    assert [(r.path, r.dest, r.data) for r in fn.roots] == [
        ("src/orders", "/var/task", True), ("libs/orders-lib", "/var/task", False),  # its modules, not setup.py or tests
        ("libs/util-lib/src", "/var/task", True), ("layers/common", "/opt/python", True),
        ("libs/layer-lib", "/opt/python", False)]  # fmt: skip
    assert requirement_names(root / "src/orders/requirements.txt", Target(), root) == ("requests",)  # not a distribution
    listed = run_cli("--project", str(root), "functions", "--json")
    (row,) = json.loads(listed.stdout)["functions"]
    assert (row["layers"], row["packages"]) == (["layers/common"], ["libs/orders-lib", "libs/util-lib/src", "libs/layer-lib"])


def test_paths_are_resolved_from_the_templates_folder_as_sam_build_runs_pip(tmp_path):
    # aws-serverless-ecommerce-platform's shape: a template per service, a shared library beside them
    root = tmp_path / "repo"
    files = {"orders/src/get/app.py": HANDLER, "orders/src/get/requirements.txt": "../shared/src/ecom/\n",
             "shared/src/ecom/setup.py": SETUP, "shared/src/ecom/ecom/__init__.py": ""}  # fmt: skip
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "orders/template.yaml").write_text(HEADER + TEMPLATE.split("      Layers:")[0].replace("src/orders/", "src/get/"))
    fn = config.load(root, templates=("orders/template.yaml",)).function("orders")
    assert [r.path for r in fn.roots] == ["orders/src/get", "shared/src/ecom"]
    text = with_absolute_paths(root / "orders/src/get/requirements.txt", root / "orders", root, "/src")
    assert text == "/src/shared/src/ecom\n"  # as pip-compile, run in the root (or mounted at /src), must read it
    listed = run_cli("--project", str(root / "orders"), "lock")  # the template's folder alone does not hold it
    assert listed.returncode == 6 and "outside the backend" in listed.stderr and "--project DIR" in listed.stderr


def test_a_requirements_file_is_rewritten_for_pip_compile_with_its_extras_markers_and_includes(tmp_path):
    root = project(tmp_path / "app", TEMPLATE, {**FILES, "src/orders/base.txt": "six\n"})
    requirements = root / "src/orders/requirements.txt"
    requirements.write_text(FILES["src/orders/requirements.txt"] + "-r base.txt\n")
    assert with_absolute_paths(requirements, root, root, "/src") == (
        "requests\n/src/libs/orders-lib\n-e /src/libs/util-lib[fast]\n-r /src/src/orders/base.txt\n")
    assert with_absolute_paths(requirements, root, root, "/src", "/out/projects") == (  # the projects' copies
        "requests\n/out/projects/libs/orders-lib\n-e /out/projects/libs/util-lib[fast]\n-r /src/src/orders/base.txt\n")
    assert with_absolute_paths(root / "layers/common/requirements.txt", root, root, "/h") == (
        "/h/libs/layer-lib ; python_version >= '3.9'\n")
    assert with_absolute_paths(root / "src/orders/base.txt", root, root, "/src") is None  # given as it is


def test_pip_compiles_pins_of_local_projects_become_comments_naming_their_folder():
    compiled = ("six==1.16.0\n    # via orders-lib\n"
                "# WARNING: pip install will require the following package to be hashed.\n"
                "# Consider using a hashable URL like https://github.com/jazzband/pip-tools/archive/SOMECOMMIT.zip\n"
                "orders-lib @ file:///src/libs/orders-lib\n    # via -r src/orders/requirements.txt\n"
                "-e file:///src/libs/util%20lib\n    # via -r src/orders/requirements.txt\n"
                "# WARNING: pip install will require the following package to be hashed.\n"
                "# Consider using a hashable URL like https://github.com/jazzband/pip-tools/archive/SOMECOMMIT.zip\n"
                "-e /src/libs/edit-lib\n    # via -r src/orders/requirements.txt\n")  # fmt: skip
    assert locking.local_pins(compiled, "/src") == (
        "six==1.16.0\n    # via orders-lib\n"
        "# orders-lib: the local project libs/orders-lib, whose modules are code of the image\n"
        "    # via -r src/orders/requirements.txt\n"
        "# libs/util lib: the local project libs/util lib, whose modules are code of the image\n"
        "    # via -r src/orders/requirements.txt\n"
        "# libs/edit-lib: the local project libs/edit-lib, whose modules are code of the image\n"
        "    # via -r src/orders/requirements.txt\n")  # fmt: skip


def test_a_change_to_a_local_projects_setup_py_makes_the_lock_stale(tmp_path):
    root = project(tmp_path / "app", TEMPLATE, FILES)
    cfg = config.load(root)
    files = sorted({rel for fn in cfg.functions for rel in fn.requirements})
    (root / cfg.lock_file).parent.mkdir(parents=True, exist_ok=True)
    (root / cfg.lock_file).write_text(locking._header(cfg, [fn.name for fn in cfg.functions], files))
    assert locking.staleness(cfg) == ""
    (root / "libs/orders-lib/setup.py").write_text(SETUP.replace("'six'", "'six>=1.16'"))
    assert locking.staleness(cfg) == "libs/orders-lib/setup.py changed"


@pytest.mark.parametrize("line, words", [
    ("./libs/missing/", "which does not exist"),
    ("../elsewhere/", "outside the backend"),
    ("./libs/orders-lib/orders_lib/", "not a folder with a pyproject.toml, setup.py or setup.cfg"),
])  # fmt: skip
def test_a_local_project_builder_cannot_build_is_one_paragraph_at_lock_time(tmp_path, line, words):
    root = project(tmp_path / "app", TEMPLATE, {**FILES, "src/orders/requirements.txt": f"six\n{line}\n"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/setup.py").write_text(SETUP)
    with pytest.raises(TemplateError, match=words):
        local_project(line, "src/orders/requirements.txt:2", root, root)
    assert [r.path for r in config.load(root).function("orders").roots][:1] == ["src/orders"]  # it still reads
    result = run_cli("--project", str(root), "lock")
    assert result.returncode == 6 and "Traceback" not in result.stderr, result.stderr
    assert f"requirements.txt:2: {line!r} names" in result.stderr and not (root / "builder-locks").exists()
