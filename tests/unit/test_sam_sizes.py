"""What `plan` weighs: a CodeUri folder as SAM zips it, a requirements closure from the lock, a
function's code, requirements and layers (fake wheels, no network)."""

from __future__ import annotations

import zipfile

import pytest
from packaging.requirements import Requirement

from builder.core.errors import TemplateError
from builder.deps.dists import Dist, DistIndex
from builder.deps.target import Target
from builder.sam import sizes as sam_sizes
from builder.sam import template as sam
from tests.helpers import SAM_FIXTURES

# --------------------------------------------------------------------------- sizes (unit)


def test_folder_size_counts_what_sam_zips(tmp_path):
    for name, size in {
        "app.py": 10, "events/e.json": 20, "tests/test_app.py": 30, "README.md": 40,  # shipped
        ".git/objects/x": 1000, "__pycache__/app.cpython-311.pyc": 1000, "pkg/mod.pyc": 1000,
        ".builder/wheelhouse/a.whl": 1000, ".venv/lib/x.py": 1000, "pkg/x.egg-info/PKG-INFO": 1000,
    }.items():  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    assert sam_sizes.folder_size(tmp_path) == 100
    with zipfile.ZipFile(tmp_path / "code.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "y" * 5000)
    assert sam_sizes.folder_size(tmp_path / "code.zip") == 5000


def _dist(name: str, size: int, *requires: str) -> Dist:
    return Dist(name, "1.0", size, (), (), tuple(Requirement(r) for r in requires))


def test_requirements_closure_follows_locked_requirements_markers_and_extras(tmp_path):
    index = DistIndex({
        "app": _dist("app", 1, "lib[fast]>=1", "winonly; sys_platform == 'win32'"),
        "lib": _dist("lib", 10, "speedup; extra == 'fast'", "slow; extra == 'slow'"),
        "speedup": _dist("speedup", 100, "lib"), "slow": _dist("slow", 1000), "winonly": _dist("winonly", 1),
        "extra-tool": _dist("extra-tool", 5),
    })  # fmt: skip
    (tmp_path / "base.txt").write_text("extra-tool==1.0  # a comment\n", encoding="utf-8")
    (tmp_path / "requirements.txt").write_text(
        "# the layer\n--index-url https://example.invalid/simple\n-r base.txt\nApp==1.0\n", encoding="utf-8"
    )
    closure = sam_sizes.requirements_closure(tmp_path / "requirements.txt", index, Target())
    assert closure == ("app", "extra-tool", "lib", "speedup")
    (tmp_path / "requirements.txt").write_text("missing==2\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"requirements.txt:1 needs missing, which the lock file does not pin"):
        sam_sizes.requirements_closure(tmp_path / "requirements.txt", index, Target())


def test_a_function_weighs_its_code_its_requirements_and_its_layers(tmp_path):
    text = (SAM_FIXTURES / "mixed.yaml").read_text(encoding="utf-8")
    template = sam.parse_template(text, str(tmp_path / "template.yaml"))
    for folder in ("src/report", "layers/common", "layers/pandas"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "src/report/report.py").write_bytes(b"r" * 7)
    (tmp_path / "src/report/requirements.txt").write_bytes(b"lib\n")
    (tmp_path / "layers/pandas/requirements.txt").write_bytes(b"app\n")
    index = DistIndex({"app": _dist("app", 1000, "lib"), "lib": _dist("lib", 100)})
    loads = []
    sizer = sam_sizes.Sizer(tmp_path, index=lambda architecture: loads.append(architecture) or index)
    size = sizer.function(template, template.function("ReportFunction"))
    assert (size.code, size.dependencies, size.layers) == (11, 100, (("CommonLayer", 0), ("PandasLayer", 1104)))
    assert size.total == 1215 and size.unknown == () and loads == ["x86_64"]


def test_an_arm64_functions_requirements_weigh_its_aarch64_wheels(tmp_path):
    text = (SAM_FIXTURES / "mixed.yaml").read_text(encoding="utf-8")
    template = sam.parse_template(text, str(tmp_path / "template.yaml"))
    for folder in ("src/report", "layers/common", "layers/pandas"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "src/report/requirements.txt").write_bytes(b"lib\n")
    (tmp_path / "layers/pandas/requirements.txt").write_bytes(b"lib\n")
    indexes = {"x86_64": DistIndex({"lib": _dist("lib", 100)}), "arm64": DistIndex({"lib": _dist("lib", 90)})}
    loads = []
    report = template.function("ReportFunction")
    arm = sam_sizes.Sizer(tmp_path, index=lambda a: loads.append(a) or indexes[a],
                          architectures={"ReportFunction": "arm64"})  # fmt: skip
    size = arm.function(template, report)
    assert (size.dependencies, size.layers) == (90, (("CommonLayer", 0), ("PandasLayer", 94))) and loads == ["arm64"]
    x86 = sam_sizes.Sizer(tmp_path, index=lambda a: indexes[a]).function(template, report)
    assert (x86.dependencies, x86.layers) == (100, (("CommonLayer", 0), ("PandasLayer", 104)))
