"""arm64 (Graviton) images, built on this x86_64 machine without emulation: the base made with
debootstrap under qemu (once per module), a copy of the example whose template says
`Architectures: [arm64]` for every function but orders-api (`[x86_64]`), built, inspected, invoked
(under qemu) and pushed; a distribution with no aarch64 wheel is one paragraph naming the choices;
migrated arm64 functions built by `sam build` (under qemu) and invoked by `sam local invoke` (or, where
SAM gives up on an emulated container too soon, its image run as SAM runs it)."""

from __future__ import annotations

import json
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from builder.core.paths import SAM_DOCKERFILES
from builder.project import config
from builder.sam import template as sam
from tests.acceptance.example_cases import check_result, sample_event
from tests.helpers import (
    TEST_TAG,
    assert_clean_error,
    copy_with_wheels,
    free_port,
    run_cli,
    run_python,
    run_sam,
    skopeo,
)

pytestmark = pytest.mark.docker

ARM_BASE = "builder-lambda-python:3.11-arm64"
X86_ONLY = "orders-api"  # Architectures: [x86_64]; the others' is [arm64]

ELF_MACHINES = """
import glob, json, sys
found = {}
for path in glob.glob('/opt/deps/**/*.so', recursive=True):
    with open(path, 'rb') as fh:
        found[path] = int.from_bytes(fh.read(20)[18:20], 'little')  # e_machine: 62 x86-64, 183 AArch64
print(json.dumps({"machines": sorted(set(found.values())), "count": len(found)}))
"""


@pytest.fixture(scope="module")
def arm64_base(docker_engine, base_image):
    """The arm64 base, made locally: debootstrap's second stage and the base's pip under qemu."""
    result = run_cli("base", "--bootstrap", "--architecture", "arm64")
    assert result.returncode == 0, result.stdout + result.stderr
    assert docker_engine.image_info(ARM_BASE).platform == "linux/arm64"
    return ARM_BASE


@pytest.fixture(scope="module")
def arm_example(built_example, arm64_base, docker_engine, tmp_path_factory):
    """A copy of the example, every function arm64 but orders-api, built for both architectures."""
    source, _ = built_example
    root = copy_with_wheels(source, tmp_path_factory.mktemp("arm") / "backend")
    template = root / "template.yaml"
    text = template.read_text().replace("    Architectures:\n      - x86_64\n", "", 1)  # not in Globals: per function
    head = "    Type: AWS::Serverless::Function\n    Properties:\n"
    assert text.count(head) == 8
    text = text.replace(head, head + "      Architectures: [arm64]\n")
    x86 = "  OrdersApiFunction:\n" + head + "      Architectures: [arm64]\n"
    template.write_text(text.replace(x86, x86.replace("arm64", "x86_64")))
    tag = f"{TEST_TAG}-arm"
    result = run_cli("--project", str(root), "build", "--all", "--tag", tag)
    assert result.returncode == 0, result.stdout + result.stderr
    yield root, tag
    cfg = config.load(root)
    for fn in cfg.functions:
        docker_engine.remove_image(cfg.image(fn.name, tag))


def test_each_image_is_for_its_functions_architecture(arm_example, docker_engine):
    root, tag = arm_example
    cfg = config.load(root)
    for fn in cfg.functions:
        expected = "linux/amd64" if fn.name == X86_ONLY else "linux/arm64"
        assert docker_engine.image_info(cfg.image(fn.name, tag)).platform == expected, fn.name
    # numpy's, pandas' and pillow's extensions in the arm64 images are AArch64 code, and nothing else.
    for name in ("ml-score", "analytics-report", "media-thumbnail"):
        found = run_python(docker_engine, cfg.image(name, tag), ELF_MACHINES)
        assert found["count"] > 0 and found["machines"] == [183], name


def test_the_build_ran_no_emulated_step(arm_example):
    root, _ = arm_example
    rendered = run_cli("--project", str(root), "dockerfile", "--output", "-")
    assert rendered.returncode == 0, rendered.stderr
    text = rendered.stdout
    # Every stage that runs a program runs on the build machine's platform; arm64 stages only COPY.
    for stage in text.split("\nFROM ")[1:]:
        header, *body = stage.splitlines()
        runs = [line for line in body if line.startswith("RUN ")]
        if runs:
            assert header.startswith("--platform=$BUILDPLATFORM "), header
        if "BASE_IMAGE_ARM64" in header:
            assert not runs and all(not line.startswith(("RUN", "ADD")) for line in body), header


@pytest.mark.parametrize("function", ["ml-score", "health", X86_ONLY])
def test_functions_answer_their_sample_events_and_say_how_they_run(arm_example, function, tmp_path):
    root, tag = arm_example
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sample_event(function)))
    result = run_cli("--project", str(root), "invoke", "--function", function, "--tag", tag,
                     "--port", str(free_port()), "--event", str(event))  # fmt: skip
    assert result.returncode == 0, result.stderr
    check_result(function, json.loads(result.stdout))
    said = f"{function} is an arm64 image: it runs under emulation (qemu) on this machine"
    assert (said in result.stderr) == (function != X86_ONLY), result.stderr


def test_push_sends_one_arm64_manifest_lambda_accepts(arm_example, registry_server):
    root, tag = arm_example
    repository = f"{registry_server}/arm"
    result = run_cli("--project", str(root), "push", "--function", "ml-score", "--repository", repository, "--tag", tag)
    assert result.returncode == 0, result.stdout + result.stderr
    uri = json.loads((root / "image-uris.json").read_text())["ml-score"]
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{uri}"))
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"  # one image, no list
    image_config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", f"docker://{uri}"))
    assert (image_config["os"], image_config["architecture"]) == ("linux", "arm64")


def graviton_app(root: Path, handler: str, requirements: str = "") -> Path:
    """A one-function SAM project (``GravitonFunction``, arm64) with ``handler`` as src/app.py."""
    (root / "src").mkdir(parents=True)
    (root / "template.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n"
        "  GravitonFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n"
        "      Handler: app.handler\n      Runtime: python3.11\n      Architectures: [arm64]\n"
    )
    (root / "src" / "app.py").write_text(handler)
    if requirements:
        (root / "src" / "requirements.txt").write_text(requirements)
    return root


def x86_wheel(folder) -> None:
    """A real (installable) wheel of ``builder-test-x86only`` for x86_64 Linux alone, and no sdist."""
    dist, tag = "builder_test_x86only-1.0", "cp311-cp311-manylinux2014_x86_64"
    files = {
        "x86only/__init__.py": "",
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: builder-test-x86only\nVersion: 1.0\n",
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{dist}-{tag}.whl", "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def test_a_distribution_without_an_aarch64_wheel_is_one_paragraph_with_the_choices(arm64_base, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    x86_wheel(index)
    root = graviton_app(tmp_path / "app", "import x86only\n\n\ndef handler(event, context):\n    return 1\n",
                        "builder-test-x86only==1.0\n")  # fmt: skip
    result = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG, env={"PIP_FIND_LINKS": str(index)})
    assert_clean_error(result, 5, "on manylinux2014_aarch64: no wheel for builder-test-x86only==1.0",
                       "no source distribution", "Architectures: [x86_64]")  # fmt: skip


def test_a_sam_project_with_no_configuration_builds_and_runs_on_the_local_arm64_stand_in(arm64_base, docker_engine,
                                                                                          tmp_path):  # fmt: skip
    root = graviton_app(tmp_path / "graviton-app",
                        "import platform\n\n\ndef handler(event, context):\n    return {'machine': platform.machine()}\n")  # fmt: skip
    image = f"graviton-app-graviton:{TEST_TAG}"
    try:
        built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
        assert built.returncode == 0, built.stdout + built.stderr
        assert docker_engine.image_info(image).platform == "linux/arm64"
        (root / "event.json").write_text("{}")
        invoked = run_cli("--project", str(root), "invoke", "--function", "graviton", "--tag", TEST_TAG,
                          "--port", str(free_port()), "--event", str(root / "event.json"))  # fmt: skip
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout) == {"machine": "aarch64"}
    finally:
        docker_engine.remove_image(image)


MIXED_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    # Under qemu a cold start takes longer and the emulator's own memory counts: SAM's defaults (3 s,
    # 128 MB; here 0.56 s and 128 MB used, on a quiet machine) leave no room on a busy one. An invoke
    # SAM gives up on waits out the timeout (see _sam_invoke).
    Timeout: 20
    MemorySize: 512
Resources:
  GravitonFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: graviton/
      Architectures: [arm64]
  IntelFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: intel/
"""
MIXED = {"GravitonFunction": ("arm64", "aarch64", "linux/arm64"), "IntelFunction": ("x86_64", "x86_64", "linux/amd64")}
MACHINE_HANDLER = """\
import platform

import six


def handler(event, context):
    return {"machine": platform.machine(), "six": six.__version__, "event": event}
"""


SAM_GAVE_UP = "No response from invoke container"


def _sam_invoke(root: Path, fid: str, architecture: str, engine) -> dict:
    """The function's answer to `sam local invoke`; where SAM gives up before the container answers,
    the answer of the image SAM made for it (``<id>:rapid-<arch>``), run as SAM runs it (its runtime
    emulator as the entrypoint). SAM posts the event through docker-proxy, which accepts at once, and
    retries for about a second, which the emulator's start under qemu often outlasts (3 invokes in 6
    at a 120 s timeout, none in 4 at 20 s, on a quiet machine here; never an x86_64 one): SAM's limit,
    not the image's, which answers every time (docs/benchmarks.md)."""
    answer = run_sam(root, "local", "invoke", fid, "-e", str(root / "event.json"), timeout=300)
    assert answer.returncode == 0, answer.stderr[-3000:]
    if answer.stdout.strip() or SAM_GAVE_UP not in answer.stderr or architecture != "arm64":
        assert answer.stdout.strip(), answer.stderr[-3000:]
        return json.loads(answer.stdout.strip().splitlines()[-1])
    image = f"{fid.lower()}:rapid-{architecture}"
    port = free_port()
    container = engine.client().containers.run(image, ["/lambda-entrypoint.sh", "app.handler"], detach=True,
                                               entrypoint=["/var/rapid/aws-lambda-rie"],
                                               ports={"8080/tcp": ("127.0.0.1", port)})  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, data=(root / "event.json").read_bytes(), timeout=60) as response:
                    return json.loads(response.read())
            except OSError:
                assert time.monotonic() < deadline, container.logs().decode()[-3000:]
                time.sleep(0.5)
    finally:
        container.remove(force=True)


def test_migrated_arm64_functions_build_with_sam_and_answer_sam_local_invoke(arm64_base, docker_engine, tmp_path):
    root = tmp_path / "mixed-app"
    for folder in ("graviton", "intel"):
        (root / folder).mkdir(parents=True)
        (root / folder / "app.py").write_text(MACHINE_HANDLER)
        (root / folder / "requirements.txt").write_text("six==1.17.0\n")
    (root / "template.yaml").write_text(MIXED_TEMPLATE)
    (root / "event.json").write_text('{"order": 7}')
    migrated = run_cli("--project", str(root), "migrate", "--all")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "GravitonFunction for linux/arm64 alone" in migrated.stderr and "emulation" in migrated.stderr
    assert "builder-all" not in (root / SAM_DOCKERFILES["arm64"]).read_text()  # one image: not of two architectures
    template = sam.load_template(root / "template.yaml")
    for fid, (architecture, _, _) in MIXED.items():
        info = template.function(fid)
        assert info.package_type == "Image" and info.metadata["Dockerfile"] == SAM_DOCKERFILES[architecture], fid
    try:
        for fid, (architecture, machine, platform) in MIXED.items():
            built = run_sam(root, "build", fid)
            assert built.returncode == 0 and "Build Succeeded" in built.stdout, built.stdout[-3000:] + built.stderr
            assert docker_engine.image_info(f"{fid.lower()}:latest").platform == platform
            said = _sam_invoke(root, fid, architecture, docker_engine)
            assert said == {"machine": machine, "six": "1.17.0", "event": {"order": 7}}, fid
    finally:
        for ref in ("gravitonfunction:latest", "gravitonfunction:rapid-arm64", "intelfunction:latest",
                    "intelfunction:rapid-x86_64"):  # fmt: skip
            docker_engine.remove_image(ref)
