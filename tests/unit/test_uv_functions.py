"""Functions SAM builds with uv (``BuildMethod: python-uv``): requirements from a pyproject.toml, versions
from the uv.lock beside it. Pure reading of small projects in tmp_path: no Docker, no network."""

from __future__ import annotations

import hashlib

import pytest

from builder.analysis.import_graph import ImportGraph
from builder.analysis.parse_cache import ParseCache
from builder.core.errors import TemplateError
from builder.deps.dists import Dist, DistIndex
from builder.deps.requirements import requirement_files, requirement_lines, requirement_names, uv_lock_pins
from builder.deps.target import Target
from builder.project import config
from builder.sam import sizes as sam_sizes
from builder.sam import template as sam
from tests.helpers import run_cli
from tests.unit.sam_projects import GLOBALS, HANDLER, project

TEMPLATE = GLOBALS + """\
Resources:
  UvFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/uv/
    Metadata:
      BuildMethod: python-uv
  BothFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/both/
    Metadata:
      BuildMethod: python-uv
  PipFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/pip/
  MakeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/make/
    Metadata:
      BuildMethod: makefile
"""
PYPROJECT = """\
[project]
name = "uv-function"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [
    "six>=1.16",
    'tomli; python_version < "3.11"',
]

[dependency-groups]
dev = ["pytest"]
"""
# As uv writes it (trimmed of hashes): numpy resolved twice, for Pythons below and from 3.14.
UV_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"
resolution-markers = [
    "python_full_version >= '3.14'",
    "python_full_version < '3.14'",
]

[[package]]
name = "numpy"
version = "2.1.3"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version < '3.14'",
]

[[package]]
name = "numpy"
version = "2.3.4"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version >= '3.14'",
]

[[package]]
name = "Six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "uv-function"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "six" }]

[[package]]
name = "shared"
version = "0.2.0"
source = { editable = "../shared" }
"""
FILES = {
    "src/uv/app.py": HANDLER, "src/uv/pyproject.toml": PYPROJECT, "src/uv/uv.lock": UV_LOCK,
    "src/both/app.py": HANDLER, "src/both/pyproject.toml": PYPROJECT, "src/both/requirements.txt": "six\n",
    "src/pip/app.py": HANDLER, "src/pip/pyproject.toml": PYPROJECT,
    "src/make/app.py": HANDLER, "src/make/pyproject.toml": PYPROJECT, "src/make/Makefile": "build-MakeFunction:\n",
}  # fmt: skip


def test_requirements_files_are_the_ones_sam_build_reads_for_each_build_method(tmp_path):
    cfg = config.load(project(tmp_path / "app", TEMPLATE, FILES))
    assert {fn.name: fn.requirements for fn in cfg.functions} == {
        "uv": ("src/uv/pyproject.toml", "src/uv/uv.lock"),
        "both": ("src/both/requirements.txt",),  # sam build prefers requirements.txt
        "pip": (),  # SAM's pip builder reads requirements.txt only
        "make": ("src/make/pyproject.toml",),  # builder does not run Makefiles: it says what it does instead
    }
    assert "MakeFunction: BuildMethod makefile, which builder does not run: its image has the CodeUri folder and " \
        "what src/make/pyproject.toml asks for, as `sam build` builds a Python function." in cfg.notices


def test_a_pyproject_asks_for_its_project_dependencies_with_their_lines(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    assert list(requirement_lines(path)) == [(f"{path}:6", "six>=1.16"), (f"{path}:7", 'tomli; python_version < "3.11"')]
    assert requirement_names(path, Target("3.11")) == ("six",)  # not the dev group, not a marker false on 3.11
    assert requirement_names(path, Target("3.10")) == ("six", "tomli")
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    assert list(requirement_lines(tmp_path / "uv.lock")) == []  # it pins, it asks for nothing


def test_a_uv_lock_pins_the_versions_uv_resolved_for_the_target_python(tmp_path):
    path = tmp_path / "uv.lock"
    path.write_text(UV_LOCK)
    assert uv_lock_pins(path, Target("3.11")) == ("numpy==2.1.3", "six==1.16.0")  # not the project, not a path
    assert uv_lock_pins(path, Target("3.14")) == ("numpy==2.3.4", "six==1.16.0")


@pytest.mark.parametrize("text, words", [
    ('[tool.poetry.dependencies]\npython = "^3.11"\n', r"has no \[project\] table.*poetry export"),
    ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', r"declares its dependencies dynamic"),
    ('[project]\ndependencies = "six"\n', r"must be a list of requirement strings"),
    ("[project\n", r"is not valid TOML"),
])  # fmt: skip
def test_a_pyproject_builder_cannot_read_is_one_paragraph_saying_what_to_do(tmp_path, text, words):
    files = {"src/uv/app.py": "import six\n" + HANDLER, "src/uv/pyproject.toml": text}
    root = project(tmp_path / "app", TEMPLATE.split("  BothFunction:")[0], files)
    with pytest.raises(TemplateError, match=words):
        list(requirement_lines(root / "src/uv/pyproject.toml"))
    assert config.load(root).function("uv").requirements == ("src/uv/pyproject.toml",)  # the template still reads
    result = run_cli("--project", str(root), "lock")
    assert result.returncode == 6 and "Traceback" not in result.stderr, result.stderr
    assert "src/uv/pyproject.toml" in result.stderr and not (root / "builder-locks").exists()


@pytest.mark.parametrize("source, words", [
    ('{ git = "https://github.com/org/repo", tag = "v1" }', "the git repository https://github.com/org/repo"),
    ('{ url = "https://example.com/six-1.16.0-py2.py3-none-any.whl" }', "the URL https://example.com/six"),
    ('{ path = "../../six-1.16.0-py2.py3-none-any.whl" }', "the path ../../six-1.16.0-py2.py3-none-any.whl, which is not"),
    ('{ path = "../../../outside/six" }', "the folder .*/outside/six, outside the backend"),
])  # fmt: skip
def test_a_dependency_uv_takes_from_git_a_url_or_outside_the_backend_is_an_error_not_the_indexs_namesake(
        tmp_path, source, words):  # fmt: skip
    pyproject = PYPROJECT + f"\n[tool.uv.sources]\nsix = {source}\n"
    files = {"src/uv/app.py": "import six\n" + HANDLER, "src/uv/pyproject.toml": pyproject}
    root = project(tmp_path / "app", TEMPLATE.split("  BothFunction:")[0], files)
    (tmp_path / "outside/six").mkdir(parents=True)
    (tmp_path / "outside/six/pyproject.toml").write_text('[project]\nname = "six"\nversion = "1"\n')
    with pytest.raises(TemplateError, match=f"src/uv/pyproject.toml:6: uv takes 'six>=1.16' from {words}"):
        list(requirement_lines(root / "src/uv/pyproject.toml", root=root))
    result = run_cli("--project", str(root), "lock")
    assert result.returncode == 6 and "Traceback" not in result.stderr, result.stderr
    assert "Publish the package to your index" in result.stderr and not (root / "builder-locks").exists()
    index = PYPROJECT + '\n[tool.uv.sources]\nsix = { index = "internal" }\n'  # a named index: still an index
    (root / "src/uv/pyproject.toml").write_text(index)
    assert [t for _, t in requirement_lines(root / "src/uv/pyproject.toml", root=root)] == ["six>=1.16", 'tomli; python_version < "3.11"']


def test_an_import_nothing_provides_says_to_add_it_to_the_pyprojects_dependencies(tmp_path):
    files = {"src/uv/app.py": "import yaml\n" + HANDLER, "src/uv/pyproject.toml": PYPROJECT.replace("    \"six>=1.16\",\n", "")}
    root = project(tmp_path / "app", TEMPLATE.split("  BothFunction:")[0], files)
    digest = hashlib.sha256((root / "src/uv/pyproject.toml").read_bytes()).hexdigest()
    (root / "builder-locks").mkdir()  # locked already (nothing to pin): no pip-compile run
    (root / "builder-locks/shared.txt").write_text(f"# functions: uv\n# input src/uv/pyproject.toml sha256={digest}\n")
    result = run_cli("--project", str(root), "closure", "--function", "uv")
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "no module 'yaml'" in result.stderr and "the [project] dependencies of src/uv/pyproject.toml" in result.stderr


# A uv workspace as uv's SAM guides lay it out: functions and layers built by Makefiles that run
# `uv export` and `uv pip install --target`; one layer is a package of its own (src layout), one a
# requirements file, one a Makefile builder cannot read.
WORKSPACE = """\
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
    Layers:
      - !Ref CommonLayer
      - !Ref ModelsLayer
      - !Ref PinnedLayer
      - !Ref OpaqueLayer
Resources:
  WeatherFn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: lambda/weather
    Metadata:
      BuildMethod: makefile
""" + "".join(f"""\
  {name}Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/{name.lower()}
    Metadata:
      BuildMethod: makefile
""" for name in ("Common", "Models", "Pinned", "Opaque"))
WORKSPACE_FILES = {
    "lambda/weather/app.py": "from models.event import Event\nimport pinned_helpers\n" + HANDLER,
    "lambda/weather/pyproject.toml": '[project]\nname = "weather"\nversion = "0.1.0"\ndependencies = ["six"]\n',
    "layers/common/pyproject.toml": '[project]\nname = "common"\nversion = "0.1.0"\ndependencies = ["jmespath"]\n',
    "layers/models/pyproject.toml": '[project]\nname = "models"\nversion = "0.1.0"\ndependencies = []\n\n'
                                    '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
    "layers/models/src/models/__init__.py": "", "layers/models/src/models/event.py": "class Event:\n    pass\n",
    "layers/pinned/requirements.txt": "idna\n", "layers/pinned/pinned_helpers.py": "",
    "layers/opaque/Makefile": "build-OpaqueLayer:\n\tcp -r lib $(ARTIFACTS_DIR)/python\n",
}  # fmt: skip


def test_makefile_layers_that_install_a_uv_project_or_requirements_are_built_as_sam_python_layers(tmp_path):
    cfg = config.load(project(tmp_path / "app", WORKSPACE, {**WORKSPACE_FILES, **{
        f"{folder}/Makefile": "build-%:\n\tuv export --frozen --no-dev -o $(ARTIFACTS_DIR)/requirements.txt\n"
        for folder in ("lambda/weather", "layers/common", "layers/models", "layers/pinned")}}))  # fmt: skip
    fn = cfg.function("weather-fn")
    assert [(r.path, r.dest) for r in fn.roots] == [
        ("lambda/weather", "/var/task"), ("layers/common", "/opt/python"), ("layers/models/src", "/opt/python"),
        ("layers/pinned", "/opt/python")]  # the opaque layer gives nothing builder can tell
    assert fn.requirements == ("lambda/weather/pyproject.toml", "layers/common/pyproject.toml",
                               "layers/models/pyproject.toml", "layers/pinned/requirements.txt")  # fmt: skip
    tree = ImportGraph(cfg, DistIndex({}), Target(), ParseCache(), fn).tree
    assert tree.lookup("models.event") == "layers/models/src/models/event.py"  # the package uv installs
    assert tree.lookup("pinned_helpers") == "layers/pinned/pinned_helpers.py"
    notices = "\n".join(cfg.notices)
    assert "layer ModelsLayer is built with BuildMethod makefile, which builder does not run: its image has the " \
        "modules of layers/models/src it imports and what layers/models/pyproject.toml asks for, under /opt/python" in notices
    assert "layer OpaqueLayer is built with BuildMethod makefile, which builder does not run; it is not in the image" \
        in notices


def test_plan_weighs_a_uv_functions_pyproject_dependencies_as_sam_build_installs_them(tmp_path):
    root = project(tmp_path / "app", TEMPLATE, FILES)
    template = sam.parse_template((root / "template.yaml").read_text(), str(root / "template.yaml"))
    index = DistIndex({"six": Dist("six", "1.16.0", 1000, (), (), ())})
    sizer = sam_sizes.Sizer(root, index=lambda architecture: index)
    assert sizer.function(template, template.function("UvFunction")).dependencies == 1000  # six, from pyproject.toml
    assert sizer.function(template, template.function("PipFunction")).dependencies == 0  # SAM's pip reads no pyproject
    one_folder = TEMPLATE.replace("src/pip/", "src/uv/")  # the same folder, built by uv and by pip
    template = sam.parse_template(one_folder, str(root / "template.yaml"))
    sizer = sam_sizes.Sizer(root, index=lambda architecture: index)
    assert [sizer.function(template, template.function(f)).dependencies for f in ("UvFunction", "PipFunction")] == [1000, 0]


def test_a_uv_workspace_member_is_pinned_by_the_workspaces_uv_lock(tmp_path):
    # uv keeps one uv.lock at the workspace's root; `uv export` in a member resolves from it.
    root = tmp_path / "app"
    files = {
        "pyproject.toml": '[project]\nname = "all"\nversion = "1"\n\n[tool.uv.workspace]\nmembers = ["lambda/*"]\n'
                          'exclude = ["lambda/legacy"]\n',
        "uv.lock": UV_LOCK, "lambda/weather/pyproject.toml": PYPROJECT, "lambda/legacy/pyproject.toml": PYPROJECT,
        "lambda/own/pyproject.toml": PYPROJECT, "lambda/own/uv.lock": UV_LOCK, "other/pyproject.toml": PYPROJECT,
    }  # fmt: skip
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    assert requirement_files(root / "lambda/weather", "python-uv", root) == ("pyproject.toml", "../../uv.lock")
    assert requirement_files(root / "lambda/own", "python-uv", root) == ("pyproject.toml", "uv.lock")  # its own first
    assert requirement_files(root / "lambda/legacy", "python-uv", root) == ("pyproject.toml",)  # excluded
    assert requirement_files(root / "other", "python-uv", root) == ("pyproject.toml",)  # not a member
    assert requirement_files(root / "lambda/weather", "python-uv", root / "lambda") == ("pyproject.toml",)  # above root
    assert requirement_files(root / "lambda/weather", "", root) == ()  # SAM's pip builder


LOCAL_FILES = {
    "pyproject.toml": '[project]\nname = "all"\nversion = "1"\n\n[tool.uv.workspace]\nmembers = ["lambda/*", "libs/*"]\n\n'
                      '[tool.uv.sources]\nshared = { workspace = true }\nother = { workspace = true }\n',  # other: not the function's
    "uv.lock": UV_LOCK,
    "lambda/api/app.py": "import helpers\nimport shared.db\n" + HANDLER,
    "lambda/api/pyproject.toml": '[project]\nname = "api"\nversion = "1"\ndependencies = ["shared", "Helpers", "six"]\n\n'
                                 '[tool.uv.sources]\nhelpers = { path = "../../vendor/helpers" }\n',
    "libs/shared/pyproject.toml": '[project]\nname = "shared"\nversion = "1"\ndependencies = ["idna"]\n',
    "libs/shared/src/shared/__init__.py": "", "libs/shared/src/shared/db.py": "",
    "libs/other/pyproject.toml": '[project]\nname = "other"\nversion = "1"\ndependencies = ["pandas"]\n',
    "vendor/helpers/pyproject.toml": '[project]\nname = "helpers"\nversion = "1"\ndependencies = []\n',
    "vendor/helpers/helpers.py": "", "vendor/helpers/README.md": "not shipped\n",
}  # fmt: skip
LOCAL_TEMPLATE = """\
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: lambda/api/
      Handler: app.lambda_handler
      Runtime: python3.11
    Metadata:
      BuildMethod: python-uv
"""


def test_local_packages_of_a_uv_project_are_code_of_the_image_and_their_dependencies_are_locked(tmp_path):
    # `uv export --no-editable` + `uv pip install --target` installs a workspace member or a path source
    # into the function's folder, with what it requires: no index has them.
    root = project(tmp_path / "app", LOCAL_TEMPLATE, LOCAL_FILES)
    fn = config.load(root).function("api")
    assert fn.requirements == ("lambda/api/pyproject.toml", "libs/shared/pyproject.toml", "vendor/helpers/pyproject.toml",
                               "uv.lock")  # fmt: skip
    assert [(r.path, r.dest, r.data) for r in fn.roots] == [
        ("lambda/api", "/var/task", True), ("libs/shared/src", "/var/task", True), ("vendor/helpers", "/var/task", False)]
    asked = [text for _, text in requirement_lines(root / "lambda/api/pyproject.toml", root=root)]
    assert asked == ["six"]  # shared and helpers are local, whatever their spelling
    assert requirement_names(root / "libs/shared/pyproject.toml", Target(), root) == ("idna",)
    graph = ImportGraph(config.load(root), DistIndex({}), Target(), ParseCache(), fn)
    assert graph.tree.lookup("shared.db") == "libs/shared/src/shared/db.py" and graph.tree.lookup("helpers") == "vendor/helpers/helpers.py"
    assert not any(path.startswith("vendor/") for path, _ in graph.tree.data_files())


def test_plan_weighs_a_makefile_layers_requirements_as_its_makefile_installs_them(tmp_path):
    root = project(tmp_path / "app", WORKSPACE, WORKSPACE_FILES)
    template = sam.parse_template((root / "template.yaml").read_text(), str(root / "template.yaml"))
    index = DistIndex({name: Dist(name, "1", size, (), (), ()) for name, size in (("six", 1), ("jmespath", 10), ("idna", 100))})
    size = sam_sizes.Sizer(root, index=lambda architecture: index).function(template, template.function("WeatherFn"))
    layers = dict(size.layers)
    files = {folder: sum(len(text) for rel, text in WORKSPACE_FILES.items() if rel.startswith(folder)) for folder in
             ("layers/common/", "layers/pinned/")}  # fmt: skip
    assert size.dependencies == 1  # six
    assert layers["CommonLayer"] == files["layers/common/"] + 10 and layers["PinnedLayer"] == files["layers/pinned/"] + 100
    assert layers["OpaqueLayer"] == len(WORKSPACE_FILES["layers/opaque/Makefile"])  # its folder, as before


def test_a_makefile_function_whose_pyproject_is_poetrys_is_built_from_its_folder_alone(tmp_path):
    # Its Makefile runs `poetry export`, say: a pyproject.toml without [project] dependencies is not builder's to read.
    files = {**FILES, "src/make/pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\nsix = "*"\n'}
    cfg = config.load(project(tmp_path / "app", TEMPLATE, files))
    assert cfg.function("make").requirements == ()
    assert "MakeFunction: BuildMethod makefile, which builder does not run: its image has the CodeUri folder and " \
        "no dependencies (no requirements file), as `sam build` builds a Python function." in cfg.notices
