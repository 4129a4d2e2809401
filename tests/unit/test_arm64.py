"""Unit: arm64 functions as the template says them, the plan and Dockerfile that build their
images on an x86_64 machine without emulation, and the classic Dockerfiles `sam build` builds
them from once migrated (pure planning: no Docker)."""

from __future__ import annotations

import pytest

from builder.core.errors import ConfigError, TemplateError
from builder.image import dockerfile, reproducible
from builder.image.plan import BuildPlan, LockedDist, Needs, dist_key, make_plan
from builder.project import config
from tests.helpers import assert_clean_error, run_cli
from tests.unit.sam_projects import ARCHITECTURES, ARCHITECTURES_FILES, project


def test_architectures_come_from_the_function_and_parameter_defaults(tmp_path):
    cfg = config.load(project(tmp_path / "app", ARCHITECTURES, ARCHITECTURES_FILES))
    assert {fn.name: fn.architecture for fn in cfg.functions} == {"graviton": "arm64", "intel": "x86_64",
                                                                   "param": "arm64"}  # fmt: skip
    assert cfg.architectures == ("x86_64", "arm64")
    assert cfg.platforms_for("arm64") == ("manylinux2014_aarch64",)
    assert cfg.platforms_for("x86_64") == ("manylinux2014_x86_64",)
    assert cfg.base_for("arm64") == "public.ecr.aws/lambda/python:3.11-arm64"  # AWS's own tag for it


def test_builder_toml_can_say_what_the_template_cannot(tmp_path):
    root = project(tmp_path / "app", ARCHITECTURES.replace("[!Ref Arch]", "!If [IsArm, [arm64], [x86_64]]"), ARCHITECTURES_FILES)
    cfg = config.load(root)
    assert cfg.function("param").architecture == "x86_64"
    assert any("not a literal" in line and "architecture" in line for line in cfg.notices)
    (root / "builder.toml").write_text('[functions.param]\narchitecture = "arm64"\n')
    assert config.load(root).function("param").architecture == "arm64"
    (root / "builder.toml").write_text('[functions.param]\narchitecture = "graviton"\n')
    with pytest.raises(ConfigError, match="architecture 'graviton' is not one of Lambda's: x86_64, arm64"):
        config.load(root)


def test_an_architecture_lambda_does_not_have_is_a_template_error(tmp_path):
    with pytest.raises(TemplateError, match=r"Architectures \[arm32\]; Lambda takes \[x86_64\] or \[arm64\]"):
        config.load(project(tmp_path / "a", ARCHITECTURES.replace("[arm64]", "[arm32]", 1), ARCHITECTURES_FILES))
    # SAM appends a function's list to Globals': Globals' architecture cannot be changed per function.
    both = ARCHITECTURES.replace("    Runtime: python3.11\n", "    Runtime: python3.11\n    Architectures: [x86_64]\n", 1)
    with pytest.raises(TemplateError, match=r"GravitonFunction has Architectures \[\"x86_64\", \"arm64\"\]; Lambda takes exactly one"):
        config.load(project(tmp_path / "b", both, ARCHITECTURES_FILES))


def numpy_plan(tmp_path) -> BuildPlan:
    """The plan of the three functions, each importing numpy: its x86_64 wheel or its aarch64 one."""
    cfg = config.load(project(tmp_path / "app", ARCHITECTURES, ARCHITECTURES_FILES))
    numpy = {arch: LockedDist("numpy", "2.2.6", 100, (("numpy/__init__.py", 100),),
                              f"numpy-2.2.6-cp311-cp311-manylinux2014_{machine}.whl", arch)
             for arch, machine in (("x86_64", "x86_64"), ("arm64", "aarch64"))}  # fmt: skip
    dists = {dist_key("numpy", "2.2.6", arch): d for arch, d in numpy.items()}
    needs = {name: Needs(frozenset({dist_key("numpy", "2.2.6", cfg.function(name).architecture)}), (f"{name}/app.py",))
             for name in ("graviton", "intel", "param")}  # fmt: skip
    return make_plan(cfg, needs, dists)


def test_arm64_images_copy_only_and_their_builder_stages_run_on_the_build_platform(tmp_path):
    plan = numpy_plan(tmp_path)
    assert sorted((g.name, g.functions) for g in plan.groups) == [("numpy", ("intel",)),
                                                                   ("numpy-arm64", ("graviton", "param"))]  # fmt: skip
    text = dockerfile.render(plan)
    assert "ARG BASE_IMAGE_ARM64=public.ecr.aws/lambda/python:3.11-arm64" in text
    assert "FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS deps-numpy-arm64" in text
    assert "FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS code-graviton" in text
    assert "FROM ${BASE_IMAGE_ARM64} AS graviton" in text and "FROM ${BASE_IMAGE} AS intel" in text
    assert "builder-all" not in text  # one image cannot hold two architectures
    pip = dockerfile.group_files(plan)[".builder/groups/numpy-arm64/pip-target.txt"].split()
    assert pip[pip.index("--platform") + 1] == "manylinux2014_aarch64" and "--only-binary=:all:" in pip
    assert ".builder/groups/numpy/pip-target.txt" not in dockerfile.group_files(plan)
    # graviton and param share their numpy layer: param waits for graviton; intel's base is another.
    assert reproducible.build_after(text, ["graviton", "intel", "param"]) == {
        "graviton": frozenset(), "intel": frozenset(), "param": frozenset({"graviton"})}  # fmt: skip


def test_an_x86_64_project_keeps_its_dockerfile(tmp_path):
    text = ARCHITECTURES.replace("[arm64]", "[x86_64]").replace("Default: arm64", "Default: x86_64")
    cfg = config.load(project(tmp_path / "app", text, ARCHITECTURES_FILES))
    needs = {fn.name: Needs(frozenset(), (f"{fn.name}/app.py",)) for fn in cfg.functions}
    text = dockerfile.render(make_plan(cfg, needs, {}))
    assert "--platform" not in text and "BASE_IMAGE_ARM64" not in text and "builder-all" in text


def _stages(text: str) -> dict[str, str]:
    """Each stage of a Dockerfile: its name -> its FROM line."""
    lines = [line for line in text.splitlines() if line.startswith("FROM ")]
    return {line.split(" AS ")[1]: line for line in lines}


def test_sam_builds_each_architecture_from_a_classic_dockerfile_of_its_own(tmp_path):
    plan = numpy_plan(tmp_path)
    # The classic builder builds every stage before the target for the build's one platform and
    # copies only from stages of that platform: each file holds one architecture's stages, all on its base.
    files = {arch: dockerfile.render(plan.of_architecture(arch), classic=True, one_image=False)
             for arch in ("x86_64", "arm64")}  # fmt: skip
    arm, intel = _stages(files["arm64"]), _stages(files["x86_64"])
    assert sorted(arm) == ["code-graviton", "code-param", "deps-numpy-arm64", "graviton", "param"]
    assert sorted(intel) == ["code-intel", "deps-numpy", "intel"]
    assert all(line.startswith("FROM ${BASE_IMAGE_ARM64} AS ") for line in arm.values())
    assert all(line.startswith("FROM ${BASE_IMAGE} AS ") for line in intel.values())
    for text, stages in ((files["arm64"], arm), (files["x86_64"], intel)):
        assert "\nRUN --mount" not in text and "$BUILDPLATFORM" not in text and "builder-all" not in text
        copied = {line.split()[1].removeprefix("--from=") for line in text.splitlines() if line.startswith("COPY --from=")}
        assert copied and copied <= set(stages)
    assert "run under emulation (qemu)" in files["arm64"] and "emulation" not in files["x86_64"]
    assert "BASE_IMAGE_ARM64" not in files["x86_64"]  # no arm64 stage there, so no argument for one


def test_migrate_names_each_function_the_dockerfile_of_its_architecture(tmp_path):
    root = project(tmp_path / "app", ARCHITECTURES, ARCHITECTURES_FILES)
    before = (root / "template.yaml").read_text()
    result = run_cli("--project", str(root), "migrate", "--all", "--dry-run")
    assert result.returncode == 0, result.stderr
    added = [line[1:].strip() for line in result.stdout.splitlines() if line.startswith("+")]
    assert added.count("Dockerfile: .builder/sam/Dockerfile.arm64") == 2  # graviton and param
    assert added.count("Dockerfile: .builder/sam/Dockerfile") == 1  # intel
    assert (root / "template.yaml").read_text() == before


def test_one_image_of_arm64_functions_is_an_arm64_image_and_of_both_architectures_an_error(tmp_path):
    all_arm = ARCHITECTURES.replace("      CodeUri: intel/\n", "      CodeUri: intel/\n      Architectures: [arm64]\n")
    root = project(tmp_path / "arm", all_arm, {**ARCHITECTURES_FILES, "builder.toml": 'images = "one"\n'})
    cfg = config.load(root)
    needs = {fn.name: Needs(frozenset(), (f"{fn.name}/app.py",)) for fn in cfg.functions}
    stages = _stages(dockerfile.render(make_plan(cfg, needs, {})))
    assert stages["builder-all-code"] == "FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS builder-all-code"
    assert stages["builder-all"] == "FROM ${BASE_IMAGE_ARM64} AS builder-all"
    mixed = project(tmp_path / "mixed", ARCHITECTURES, {**ARCHITECTURES_FILES, "builder.toml": 'images = "one"\n'})
    before = (mixed / "template.yaml").read_text()
    result = run_cli("--project", str(mixed), "migrate", "--all")
    assert_clean_error(result, 2, 'images = "one" needs every function on one architecture', "x86_64 and arm64")
    assert (mixed / "template.yaml").read_text() == before
