"""Acceptance: migrated templates that deploy. The real SAM CLI builds every migrated function from the
Dockerfile builder names (its classic builder, no registry) and `sam local invoke` answers like
`builder invoke`; cfn-lint finds nothing the original did not have; rollback gives the bytes back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder.core.paths import SAM_DOCKERFILE
from builder.project import config
from builder.sam import edit as sam_edit
from builder.sam import template as sam
from tests.helpers import TEST_TAG, copy_example, copy_sam_app, run_cli, run_sam

EXAMPLES = {"backend": copy_example, "sam-app": copy_sam_app}


def findings(tmp_path: Path, text: str, name: str) -> set[tuple[str, str]]:
    """cfn-lint's (rule, message) findings on a template, line numbers left out."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    exe = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(exe), "--format", "parseable", "--", str(path)], capture_output=True, text=True)
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    rows = [line.split(":", 5) for line in result.stdout.splitlines() if line.strip()]
    return {(row[4], row[5]) for row in rows if len(row) == 6}


@pytest.fixture(params=sorted(EXAMPLES), scope="module")
def migrated(request, tmp_path_factory, base_image):
    """A copy of each bundled example with every function migrated by `migrate --all`."""
    root = EXAMPLES[request.param](tmp_path_factory.mktemp("migrate") / request.param)
    original = (root / "template.yaml").read_text(encoding="utf-8")
    result = run_cli("--project", str(root), "migrate", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    return request.param, root, original


@pytest.mark.docker
def test_migrated_functions_run_their_handler_from_a_dockerfile_that_exists(migrated):
    name, root, original = migrated
    before = sam.parse_template(original)
    after = sam.load_template(root / "template.yaml")
    functions = {f.logical_id: f.name for f in config.load(root).functions}
    assert set(functions) == set(sam_edit.migrated(after))
    for info in after.functions:
        if info.logical_id not in functions:
            continue  # left alone (the Node.js function of sam-app)
        assert info.properties["ImageConfig"]["Command"] == [before.function(info.logical_id).handler]
        meta = info.metadata
        assert (root / meta["DockerContext"] / meta["Dockerfile"]).is_file(), meta
        assert meta["Dockerfile"] == SAM_DOCKERFILE and meta["DockerBuildTarget"] == functions[info.logical_id]
        # the tag `push` gives the function's image, in the template's repository
        assert info.properties["ImageUri"] == {"Fn::Sub": f"${{ImageRepository.RepositoryUri}}:{functions[info.logical_id]}-latest"}
    assert "--mount=" not in (root / SAM_DOCKERFILE).read_text()  # SAM's classic builder has no mounts


@pytest.mark.docker
def test_a_migrated_template_has_no_lint_finding_the_original_had_not(migrated, tmp_path):
    name, root, original = migrated
    new = findings(tmp_path, (root / "template.yaml").read_text(encoding="utf-8"), "migrated") - findings(
        tmp_path, original, "original")  # fmt: skip
    assert new == set()


def test_lint_clean_with_subs_of_pseudo_parameters_and_parameters_and_rollback_is_exact(tmp_path):
    root = copy_sam_app(tmp_path / "subs")
    text = (root / "template.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "      CodeUri: src/legacy-export/\n",
        "      CodeUri: src/legacy-export/\n      Layers:\n"
        '        - !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:layer:${Stage}-tools:3"\n'
        "        - !Sub arn:aws:lambda:${AWS::Region}:017000801446:layer:Literal-${!NotASub}:1\n",
    )
    (root / "template.yaml").write_text(text, encoding="utf-8")
    result = run_cli("--project", str(root), "migrate", "--all")
    assert result.returncode == 0, result.stderr
    migrated_text = (root / "template.yaml").read_text(encoding="utf-8")
    assert findings(tmp_path, migrated_text, "migrated") - findings(tmp_path, text, "original") == set()
    record = sam.parse_template(migrated_text).function("LegacyExportFunction").metadata["BuilderRollback"]
    assert "${" not in json.dumps(record) and record["Properties"][0]["Escaped"] is True
    back = run_cli("--project", str(root), "migrate", "--rollback", "--all")
    assert back.returncode == 0, back.stderr
    assert (root / "template.yaml").read_text(encoding="utf-8") == text


@pytest.mark.docker
def test_sam_build_and_sam_local_invoke_answer_as_builder_invoke_does(migrated, docker_engine):
    name, root, _ = migrated
    cfg, tag = config.load(root), f"{TEST_TAG}-sam"  # images of its own: other tests use the examples' too
    built = run_cli("--project", str(root), "build", "--all", "--tag", tag)
    assert built.returncode == 0, built.stderr
    try:
        for fn in cfg.functions:
            build = run_sam(root, "build", fn.logical_id)
            assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
            assert "Build Succeeded" in build.stdout
            event = str(root / fn.event)
            answer = run_sam(root, "local", "invoke", fn.logical_id, "-e", event, timeout=180)
            assert answer.returncode == 0, answer.stderr[-3000:]
            ours = run_cli("--project", str(root), "invoke", "--function", fn.name, "--tag", tag)
            assert ours.returncode == 0, ours.stderr
            assert json.loads(answer.stdout.strip().splitlines()[-1]) == json.loads(ours.stdout), fn.name
    finally:
        for fn in cfg.functions:
            for ref in (f"{fn.logical_id.lower()}:latest", f"{fn.logical_id.lower()}:rapid-x86_64", cfg.image(fn.name, tag)):
                docker_engine.remove_image(ref)


def test_builders_work_folder_keeps_itself_out_of_git_and_the_locks_in(tmp_path):
    root = copy_sam_app(tmp_path / "repo")
    result = run_cli("--project", str(root), "dockerfile")
    assert result.returncode == 0, result.stderr
    assert (root / ".builder" / ".gitignore").is_file() and any((root / ".builder" / "wheelhouse").iterdir())
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, capture_output=True, text=True).stdout
    assert ".builder/" not in staged
    assert "builder-locks/shared.txt" in staged and "Dockerfile" in staged.splitlines()
