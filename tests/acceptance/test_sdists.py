"""Distributions that ship only sources: a pure-Python sdist and one with a C extension, made here,
served to pip from a local folder (PIP_FIND_LINKS), built into wheels in a builder stage, shipped
and imported by a SAM function; the compilers stay out of its image, and the next build compiles
nothing."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.helpers import TEST_TAG, free_port, run_cli, run_python

pytestmark = pytest.mark.docker

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  NativeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
"""

HANDLER = """\
import cext
import puresrc


def handler(event, context):
    return {"pure": puresrc.greet(event["name"]), "sum": cext.add(event["a"], event["b"]), "native": cext.__file__}
"""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "1.0"
"""

SPEED_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}

static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "a + b, in C"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cext(void) { return PyModule_Create(&module); }
"""

SETUP_PY = """\
from setuptools import Extension, setup

setup(ext_modules=[Extension("cext", ["cext.c"])])
"""


def sdist(folder: Path, name: str, files: dict[str, str]) -> Path:
    """``name-1.0.tar.gz`` holding ``files`` under ``name-1.0/``, with the PKG-INFO an sdist has."""
    files = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", **files}
    path = folder / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def project(tmp_path):
    """A one-function SAM project whose requirements are a pure and a C sdist, and the folder pip finds them in."""
    index = tmp_path / "index"
    index.mkdir()
    sdist(index, "puresrc", {"pyproject.toml": PYPROJECT.format(name="puresrc"),
                             "puresrc/__init__.py": "def greet(name):\n    return f'hello {name}'\n"})  # fmt: skip
    sdist(index, "cext", {"pyproject.toml": PYPROJECT.format(name="cext"), "setup.py": SETUP_PY, "cext.c": SPEED_C})
    root = tmp_path / "native-app"
    (root / "src").mkdir(parents=True)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "src" / "app.py").write_text(HANDLER)
    (root / "src" / "requirements.txt").write_text("puresrc==1.0\ncext==1.0\n")
    return root, {"PIP_FIND_LINKS": str(index)}


def test_sdists_are_built_in_a_builder_stage_shipped_and_imported(project, base_image, docker_engine, tmp_path):
    root, env = project
    image = f"native-app-native:{TEST_TAG}"
    try:
        built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG, env=env)
        assert built.returncode == 0, built.stdout + built.stderr
        assert "cext-1.0.tar.gz publishes no wheel for x86_64: building one from source" in built.stderr
        house = sorted(p.name for p in (root / ".builder" / "wheelhouse").glob("*.whl"))
        assert house == ["cext-1.0-cp311-cp311-linux_x86_64.whl", "puresrc-1.0-py3-none-any.whl"]

        event = tmp_path / "event.json"
        event.write_text(json.dumps({"name": "lambda", "a": 2, "b": 40}))
        invoked = run_cli("--project", str(root), "invoke", "--function", "native", "--tag", TEST_TAG,
                          "--port", str(free_port()), "--event", str(event), env=env)  # fmt: skip
        assert invoked.returncode == 0, invoked.stderr
        body = json.loads(invoked.stdout)
        assert body["pure"] == "hello lambda" and body["sum"] == 42
        assert body["native"].endswith(".so")  # the C extension itself, compiled, not a Python fallback

        found = run_python(docker_engine, image, (
            "import glob, json, shutil; print(json.dumps({'cc': [shutil.which(c) for c in ('gcc', 'cc', 'g++')],"
            " 'headers': glob.glob('/usr/include/python3*')}))"))  # fmt: skip
        assert found == {"cc": [None, None, None], "headers": []}  # the compilers stayed in the builder stage

        # Built once: a fresh wheelhouse (and a new build) takes the kept wheel, compiling nothing.
        for wheel in (root / ".builder" / "wheelhouse").iterdir():
            if wheel.is_file():
                wheel.unlink()
        again = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "building one from source" not in again.stderr
        assert docker_engine.image_info(image).id  # still there, rebuilt from the kept wheels
    finally:
        docker_engine.remove_image(image)
