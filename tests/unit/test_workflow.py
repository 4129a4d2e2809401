"""`ci --github`: the GitHub Actions workflow builder writes for a backend, checked against GitHub's
workflow schema as check-jsonschema ships it (offline), for both bundled examples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import EXAMPLE, REPO, SAM_APP, run_cli
from tests.unit.sam_projects import ARCHITECTURES, ARCHITECTURES_FILES, project


def schema_check(path: Path) -> subprocess.CompletedProcess:
    beside = Path(sys.executable).with_name("check-jsonschema")
    exe = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is missing: scripts/setup installs it (requirements/dev.txt)"
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("example", [EXAMPLE, SAM_APP], ids=lambda p: p.name)
def test_the_workflow_is_valid_and_builds_checks_pushes_and_pins_on_main(example, tmp_path):
    out = tmp_path / "builder.yml"
    result = run_cli("--project", str(example), "ci", "--github", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "fill in the values under `env`" in result.stdout
    checked = schema_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    workflow = yaml.safe_load(out.read_text(encoding="utf-8"))
    project = example.relative_to(REPO).as_posix()  # the backend's folder in its git work tree
    assert workflow[True] == {"push": {"branches": ["main"]}, "pull_request": None}  # YAML 1.1 reads `on` as True
    assert set(workflow["env"]) == {"BASE_IMAGE", "REPOSITORY", "AWS_REGION", "BUILDER"}
    assert workflow["env"]["BASE_IMAGE"] == "public.ecr.aws/lambda/python:3.11"
    steps = workflow["jobs"]["images"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    for command in (f"python -m builder --project {project} build --all",
                    f'python -m builder --project {project} check --markdown "$GITHUB_STEP_SUMMARY"',
                    f'python -m builder --project {project} push --all --repository "$REPOSITORY"',
                    f"python -m builder --project {project} migrate --pin",
                    f"git add {project}/template.yaml {project}/image-uris.json"):  # fmt: skip
        assert command in runs
    on_main = [s["name"] for s in steps if s.get("if") == "github.event_name == 'push' && github.ref == 'refs/heads/main'"]
    assert on_main == ["AWS credentials", "Push the images and pin their digests", "Commit the pinned template"]


def test_the_schema_check_fails_a_broken_workflow(tmp_path):
    out = tmp_path / "builder.yml"
    assert run_cli("--project", str(EXAMPLE), "ci", "--github", "--output", str(out)).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(out.read_text(encoding="utf-8").replace("    runs-on: ubuntu-latest\n", ""), encoding="utf-8")
    assert schema_check(broken).returncode != 0


def test_an_existing_workflow_is_replaced_only_when_asked(tmp_path):
    out = tmp_path / "builder.yml"
    args = ("--project", str(EXAMPLE), "ci", "--github", "--output", str(out))
    assert run_cli(*args).returncode == 0
    assert run_cli(*args).returncode == 0  # the same text again: nothing to ask
    out.write_text("# ours\n", encoding="utf-8")
    refused = run_cli(*args)
    assert refused.returncode == 2 and "exists and is not what builder would write. Pass --force" in refused.stderr
    assert out.read_text(encoding="utf-8") == "# ours\n"
    assert run_cli(*args, "--force").returncode == 0 and out.read_text(encoding="utf-8") != "# ours\n"
    bare = run_cli("--project", str(EXAMPLE), "ci")
    assert bare.returncode == 2 and "--github" in bare.stderr and "Traceback" not in bare.stderr


def test_a_backend_with_arm64_functions_pulls_aws_s_arm64_base_too(tmp_path):
    root = project(tmp_path / "app", ARCHITECTURES, ARCHITECTURES_FILES)
    out = tmp_path / "builder.yml"
    assert run_cli("--project", str(root), "ci", "--github", "--output", str(out)).returncode == 0
    assert schema_check(out).returncode == 0
    workflow = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert workflow["env"]["BASE_IMAGE_ARM64"] == "public.ecr.aws/lambda/python:3.11-arm64"
    base = next(step["run"] for step in workflow["jobs"]["images"]["steps"] if step.get("name") == "Base image")
    # the arm64 images' stages are FROM the arm64 base; the builder stages FROM the runner's (x86_64) one
    assert base.splitlines() == ['docker pull "$BASE_IMAGE"', 'docker tag "$BASE_IMAGE" public.ecr.aws/lambda/python:3.11',
                                 'docker pull --platform linux/arm64 "$BASE_IMAGE_ARM64"',
                                 'docker tag "$BASE_IMAGE_ARM64" public.ecr.aws/lambda/python:3.11-arm64']  # fmt: skip
