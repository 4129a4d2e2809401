"""`push`: repository addresses, ECR login, image-uris.json, and a real push to a real registry.

The registry is Debian's docker-registry (distribution 2.8) on a free 127.0.0.1 port, which
the engine treats as insecure (plain HTTP) by default. skopeo reads what was pushed, as
Lambda would: one image manifest for one platform, no index, no attestations.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from builder.engine import registry
from builder.local import runner
from builder.local import sandbox as local
from builder.project import config
from builder.sam import template as sam
from tests.acceptance.example_cases import FUNCTIONS, check_result, sample_event
from tests.helpers import TEST_TAG, copy_example, copy_sam_app, copy_with_wheels, free_port, lint, run_cli, skopeo

MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
}
LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar",
}


@pytest.fixture(scope="module")
def pushed(built_example, registry_server, docker_engine):
    """All eight example images pushed through the CLI; every local reference to them removed at the end."""
    root, _ = built_example
    repository = f"{registry_server}/example"
    try:
        result = run_cli("--project", str(root), "push", "--all", "--repository", repository, "--tag", TEST_TAG)
        assert result.returncode == 0, result.stdout + result.stderr
        uris = json.loads((root / registry.IMAGE_URIS).read_text(encoding="utf-8"))
        yield root, repository, uris, result
    finally:  # the registry's tags and digests in the engine, also after a failed push
        for image in docker_engine.client().images.list(name=repository):
            refs = [*image.tags, *image.attrs.get("RepoDigests", [])]
            for ref in refs:
                if ref.startswith((f"{repository}:", f"{repository}@")):
                    docker_engine.remove_image(ref)


@pytest.mark.docker
def test_push_all_records_every_function_by_digest(pushed):
    root, repository, uris, result = pushed
    assert sorted(uris) == sorted(FUNCTIONS)
    for name, uri in uris.items():
        assert registry.PINNED.match(uri) and uri.startswith(f"{repository}@sha256:")
        assert f"{repository}:{name}-{TEST_TAG}" in result.stdout and uri in result.stdout
    assert (root / registry.IMAGE_URIS).read_text(encoding="utf-8") == registry.render_image_uris(uris)


@pytest.mark.docker
@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_registry_holds_one_single_platform_manifest_lambda_accepts(pushed, function):
    _, repository, uris, _ = pushed
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{uris[function]}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == uris[function].split("@")[1]
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] in MANIFEST_TYPES  # not a manifest list / image index
    assert "manifests" not in manifest and "subject" not in manifest  # no index, no attestation
    assert manifest["config"]["mediaType"] in {
        "application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json",
    }  # fmt: skip
    assert manifest["layers"] and {layer["mediaType"] for layer in manifest["layers"]} <= LAYER_TYPES
    tagged = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repository}:{function}-{TEST_TAG}"))
    assert (tagged["Os"], tagged["Architecture"]) == ("linux", "amd64")
    assert tagged["Digest"] == uris[function].split("@")[1]


@pytest.mark.docker
def test_pushing_an_unchanged_image_again_gives_the_same_digest(pushed, tmp_path):
    root, repository, uris, _ = pushed
    again = tmp_path / "again.json"
    result = run_cli("--project", str(root), "push", "--function", "health", "--repository", repository,
                     "--tag", TEST_TAG, "--output", str(again), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"health": uris["health"]}
    assert json.loads(again.read_text(encoding="utf-8")) == {"health": uris["health"]}


@pytest.mark.docker
def test_migrate_pin_writes_the_pushed_digests_into_the_template(pushed, tmp_path):
    root, _, uris, _ = pushed
    work = copy_example(tmp_path / "backend")
    shutil.copy(root / registry.IMAGE_URIS, work / registry.IMAGE_URIS)
    original = (work / "template.yaml").read_bytes()
    result = run_cli("--project", str(work), "migrate", "--all", "--pin")
    assert result.returncode == 0, result.stdout + result.stderr
    template = sam.load_template(work / "template.yaml")
    handlers = {fn.handler: fn.name for fn in config.load(work).functions}
    assert {info.properties["ImageUri"] for info in template.functions} == set(uris.values())
    for info in template.functions:
        assert info.properties["ImageUri"] == uris[handlers[sam.function_handler(info)]]
    lint(tmp_path, pinned=template.text)
    assert run_cli("--project", str(work), "migrate", "--rollback", "--all").returncode == 0
    assert (work / "template.yaml").read_bytes() == original


@pytest.mark.docker
def test_an_image_pulled_back_by_digest_runs_and_answers_its_sample_event(pushed, docker_engine, tmp_path):
    """skopeo downloads every blob by digest (the registry holds the whole image); the engine pulls
    it by digest and runs it under the local emulator on its sample event."""
    root, repository, uris, _ = pushed
    cfg = config.load(root)
    copy = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{uris['health']}", f"dir:{copy}")
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    for blob in [manifest["config"], *manifest["layers"]]:
        data = (copy / blob["digest"].split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"] and len(data) == blob["size"]
    image_id = docker_engine.image_info(cfg.image("health", TEST_TAG)).id
    assert manifest["config"]["digest"] == image_id  # the image pushed is the image built
    for ref in (f"{repository}:health-{TEST_TAG}", uris["health"]):  # this test's references only
        docker_engine.remove_image(ref)
    assert not docker_engine.image_exists(uris["health"])
    assert docker_engine.pull(uris["health"]) == image_id
    spec = local.sandbox_spec(uris["health"], "health", cfg.function("health").handler, port=free_port())
    result = runner.invoke(docker_engine, spec, json.dumps(sample_event("health")).encode())
    assert result.invocation.ok, result.invocation.body.decode() + "\n".join(result.logs)
    check_result("health", json.loads(result.invocation.body))
    assert any(line.startswith("REPORT") for line in result.logs)


@pytest.mark.docker
def test_pin_matches_images_by_logical_id_on_sams_usual_layout(sam_app, registry_server, docker_engine, tmp_path):
    """Every handler of sam-app is app.lambda_handler: pinning finds each function's image by its logical ID,
    and each ImageUri is the digest of the image built for that function."""
    root, _ = sam_app
    repository = f"{registry_server}/sam-app"
    result = run_cli("--project", str(root), "push", "--all", "--repository", repository, "--tag", TEST_TAG)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        work = copy_sam_app(tmp_path / "sam-app")
        shutil.copy(root / registry.IMAGE_URIS, work / registry.IMAGE_URIS)
        uris = json.loads((work / registry.IMAGE_URIS).read_text(encoding="utf-8"))
        pinned = run_cli("--project", str(work), "migrate", "--all", "--pin")
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        template = sam.load_template(work / "template.yaml")
        names = {fn.logical_id: fn.name for fn in config.load(work).functions}
        for fid, name in names.items():
            uri = template.function(fid).properties["ImageUri"]
            assert uri == uris[name] and uri.startswith(f"{repository}@sha256:")
            manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{uri}"))
            assert manifest["config"]["digest"] == docker_engine.image_info(f"sam-app-{name}:{TEST_TAG}").id
        assert template.function("NotifyNodeFunction").package_type == "Zip"  # left alone: not builder's
    finally:
        for image in docker_engine.client().images.list(name=repository):
            for ref in [*image.tags, *image.attrs.get("RepoDigests", [])]:
                if ref.startswith((f"{repository}:", f"{repository}@")):
                    docker_engine.remove_image(ref)


@pytest.mark.docker
def test_after_one_handler_changed_a_deploy_touches_that_function_alone(built_example, registry_server, docker_engine,
                                                                       tmp_path):  # fmt: skip
    """Push and pin; push again (nothing sent); change one handler, rebuild: report names it alone,
    push sends it alone, and pinning again changes one ImageUri line of the template."""
    root, _ = built_example
    work = copy_with_wheels(root, tmp_path / "backend")
    repository, tag = f"{registry_server}/deploy", f"{TEST_TAG}-deploy"

    def cli(*args: str) -> str:
        result = run_cli("--project", str(work), *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def pins() -> dict:
        return json.loads(cli("report", "--all", "--json", "--tag", tag))["pins"]

    def rows(stdout: str) -> dict[str, str]:
        return {line.split()[0]: line for line in stdout.splitlines() if line.split()[:1] and line.split()[0] in FUNCTIONS}

    try:
        cli("build", "--all", "--tag", tag)
        assert all("already there" not in row for row in rows(cli("push", "--all", "--repository", repository,
                                                                      "--tag", tag)).values())  # fmt: skip
        cli("migrate", "--all", "--pin")
        pinned = (work / "template.yaml").read_text(encoding="utf-8")
        assert {p["status"] for p in pins()["functions"]} == {"unchanged"}
        again = rows(cli("push", "--all", "--repository", repository, "--tag", tag))
        assert sorted(again) == sorted(FUNCTIONS) and all("already there, nothing sent" in r for r in again.values())

        handler = work / "functions" / "health" / "ping.py"
        handler.write_text(handler.read_text() + "\n# edited\n")
        cli("build", "--all", "--tag", tag)
        assert pins()["changed"] == ["health"]
        pushed = rows(cli("push", "--all", "--repository", repository, "--tag", tag))
        assert [name for name, row in sorted(pushed.items()) if "already there" not in row] == ["health"]
        cli("migrate", "--pin")
        repinned = (work / "template.yaml").read_text(encoding="utf-8")
        diff = [line for line in sam.unified_diff(pinned, repinned, "t").splitlines()[2:] if line[:1] in "+-"]
        uris = json.loads((work / registry.IMAGE_URIS).read_text(encoding="utf-8"))
        assert [line[1:].strip() for line in diff if line.startswith("+")] == [f"ImageUri: {uris['health']}"]
        assert len(diff) == 2 and pins()["changed"] == []
    finally:
        for fn in config.load(work).functions:
            docker_engine.remove_image(config.load(work).image(fn.name, tag))
        for image in docker_engine.client().images.list(name=repository):
            for ref in [*image.tags, *image.attrs.get("RepoDigests", [])]:
                if ref.startswith((f"{repository}:", f"{repository}@")):
                    docker_engine.remove_image(ref)


@pytest.mark.docker
def test_a_failed_push_leaves_no_registry_tag_behind(built_example, docker_engine):
    root, _ = built_example
    repository = f"127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    result = run_cli("--project", str(root), "push", "--function", "health", "--repository", repository,
                     "--tag", TEST_TAG)  # fmt: skip
    assert result.returncode == 8 and "Pushing" in result.stderr and "Traceback" not in result.stderr
    assert not docker_engine.image_exists(f"{repository}:health-{TEST_TAG}")
    assert docker_engine.image_exists(config.load(root).image("health", TEST_TAG))  # the image itself stays
