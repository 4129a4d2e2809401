"""`push` before any work: repository addresses, ECR login, image-uris.json, wrong requests."""

from __future__ import annotations

import base64
import sys

import pytest

from builder.core.errors import ConfigError, RegistryError
from builder.engine import registry
from tests.helpers import copy_example, run_cli

DIGEST = "sha256:" + "ab" * 32


# --------------------------------------------------------------------------- unit


@pytest.mark.parametrize(
    ("uri", "host", "path", "ecr"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "shop",
         ("123456789012", "eu-west-1")),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/shop", None, "team/shop",
         ("123456789012", "us-gov-west-1")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/shop", None, "shop", ("123456789012", "cn-north-1")),
        ("127.0.0.1:5000/example", "127.0.0.1:5000", "example", None),
        ("localhost/a/b", "localhost", "a/b", None),
        ("registry.example.com/x_y.z-w", "registry.example.com", "x_y.z-w", None),
        ("user/repo", "docker.io", "user/repo", None),
        ("repo", "docker.io", "library/repo", None),
        ("public.ecr.aws/abc/shop", "public.ecr.aws", "abc/shop", None),  # ECR Public: docker login
    ],
)  # fmt: skip
def test_repository_addresses_are_parsed_and_ecr_is_recognised(uri, host, path, ecr):
    repository = registry.parse_repository(uri)
    assert repository.host == (host or uri.split("/")[0])
    assert repository.path == path
    assert (repository.ecr.account, repository.ecr.region) == ecr if ecr else repository.ecr is None


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("https://127.0.0.1:5000/example", "scheme"),
        ("127.0.0.1:5000/example:v1", "has a tag"),
        ("127.0.0.1:5000/example@" + DIGEST, "digest"),
        ("127.0.0.1:5000/Example", "lower-case"),
        ("127.0.0.1:5000/", "not a valid repository"),
    ],
)
def test_a_wrong_repository_says_how_to_write_it(uri, words):
    with pytest.raises(ConfigError, match=words) as info:
        registry.parse_repository(uri)
    assert "host[:port]/name" in str(info.value)


def test_every_function_is_a_tag_of_one_repository_and_is_recorded_by_digest():
    repository = registry.parse_repository("127.0.0.1:5000/example")
    assert repository.tagged("orders-api", "latest") == "127.0.0.1:5000/example:orders-api-latest"
    assert repository.pinned(DIGEST) == f"127.0.0.1:5000/example@{DIGEST}"
    with pytest.raises(ConfigError, match="not a valid image tag"):
        repository.tagged("orders-api", "x" * 130)
    with pytest.raises(RegistryError, match="not a sha256 digest"):
        repository.pinned("sha256:short")


def test_image_uris_json_is_sorted_validated_and_merged(tmp_path):
    path = tmp_path / registry.IMAGE_URIS
    uri = f"127.0.0.1:5000/example@{DIGEST}"
    assert registry.render_image_uris({"b": uri, "a": uri}) == f'{{\n  "a": "{uri}",\n  "b": "{uri}"\n}}\n'
    path.write_text(registry.updated_image_uris(path, {"health": uri, "ml-score": uri}), encoding="utf-8")
    newer = uri[:-1] + "c"
    assert registry.parse_image_uris(registry.updated_image_uris(path, {"health": newer})) == {
        "health": newer, "ml-score": uri,
    }  # fmt: skip
    bad = [("[]", "should map"), ("{", "not valid JSON"), ('{"a": "repo:latest"}', "not <repository>@sha256")]
    for text, words in bad:
        with pytest.raises(RegistryError, match=words) as raised:
            registry.parse_image_uris(text)
        assert "Fix " in str(raised.value) and "delete it" in str(raised.value)  # pushing again cannot mend it
    with pytest.raises(RegistryError, match="push the images first"):
        registry.read_image_uris(tmp_path / "missing.json")


class FakeEcr:
    """An ECR client that hands out a token, as GetAuthorizationToken does."""

    def __init__(self) -> None:
        self.calls = []

    def get_authorization_token(self, registryIds):
        self.calls.append(registryIds)
        token = base64.b64encode(b"AWS:secret-password").decode()
        return {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": "https://x.example"}]}


def test_ecr_login_asks_aws_for_the_registry_s_account():
    repository = registry.parse_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop")
    client = FakeEcr()
    auth = registry.credentials(repository, ecr_client=client)
    assert auth == {"username": "AWS", "password": "secret-password", "serveraddress": "https://x.example"}
    assert client.calls == [["123456789012"]]
    assert registry.credentials(registry.parse_repository("127.0.0.1:5000/x")) is None  # docker's store


def test_ecr_login_failures_say_what_to_check():
    class Denied:
        def get_authorization_token(self, registryIds):
            raise RuntimeError("AccessDeniedException")

    ecr = registry.parse_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop").ecr
    with pytest.raises(RegistryError, match="AccessDeniedException.*ecr:GetAuthorizationToken"):
        registry.ecr_login(ecr, client=Denied())


def test_without_boto3_an_ecr_push_says_to_install_the_aws_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    ecr = registry.parse_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop").ecr
    with pytest.raises(RegistryError, match=r"pip install 'builder\[aws\]'"):
        registry.ecr_login(ecr)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--repository", "127.0.0.1:5000/example"], 2, ["--function NAME", "--all"]),
        (["--all", "--function", "health", "--repository", "127.0.0.1:5000/example"], 2, ["--function NAME"]),
        (["--function", "helth", "--repository", "127.0.0.1:5000/example"], 2, ["Did you mean 'health'?"]),
        (["--all", "--repository", "127.0.0.1:5000/example:v1"], 2, ["has a tag"]),
    ],
)
def test_wrong_push_requests_fail_before_any_work(tmp_path, args, code, words):
    root = copy_example(tmp_path / "backend")
    result = run_cli("--project", str(root), "push", *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not (root / registry.IMAGE_URIS).exists()
