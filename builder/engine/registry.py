"""Container registries: repository addresses, ECR login, pushing, and ``image-uris.json``.

Naming: every function of a backend goes to ONE repository, as a tag of its own:
``<repository>:<function>-<tag>`` (``123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:orders-api-latest``).
One repository is one ECR resource to create and grant, stores the layers the
functions share once, and is what ``migrate`` adds to a template
(``ImageRepository``). Deploys use the digest, not the tag: ``image-uris.json``
maps each function to ``<repository>@sha256:<digest>`` and ``migrate --pin``
writes those into ``ImageUri``, so a deploy changes exactly the functions whose
image changed.

Everything here is pure but :func:`ecr_login` (asks AWS through boto3, imported
only then: the optional extra ``builder[aws]``) and :func:`push_image` (the
engine). Other registries use the docker credential store (``docker login``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, RegistryError
from ..core.paths import IMAGE_URIS
from ..project.model import ONE_IMAGE, Config
from . import registry_api
from .docker_engine import DockerEngine
from .registry_api import PINNED

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# The grammar of github.com/distribution/reference: a host (with an optional port) and
# lower-case path components separated by "/".
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:localhost|{_LABEL}(?:\.{_LABEL})*)(?::[0-9]+)?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_ECR = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class EcrRegistry:
    """An Amazon ECR private registry: ``<account>.dkr.ecr.<region>.amazonaws.com``."""

    host: str
    account: str
    region: str


@dataclass(frozen=True)
class Repository:
    """A repository in a registry: ``host[:port]/path`` (``docker.io`` when no host is named)."""

    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def ecr(self) -> EcrRegistry | None:
        """The ECR registry the repository is in, or None for any other registry."""
        match = _ECR.match(self.host)
        return EcrRegistry(self.host, match["account"], match["region"]) if match else None

    def tagged(self, function: str, tag: str) -> str:
        """Where ``function``'s image is pushed: ``<repository>:<function>-<tag>`` (``<repository>:<tag>``
        for the one image of every function, ``function`` "")."""
        reference = f"{function}-{tag}" if function else tag
        if not _TAG.match(reference):
            raise ConfigError(
                f"{reference!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most "
                "128 characters). Choose a shorter or simpler --tag."
            )
        return f"{self}:{reference}"

    def pinned(self, digest: str) -> str:
        """The immutable reference ``<repository>@sha256:<digest>``."""
        if not DIGEST.match(digest):
            raise RegistryError(f"The registry reported {digest!r}, which is not a sha256 digest; push again.")
        return f"{self}@{digest}"


def parse_repository(uri: str) -> Repository:
    """Read a repository address such as ``127.0.0.1:5000/shop`` or an ECR repository URI.

    A tag or digest is refused (builder adds its own tags), so is a scheme.
    """
    text = uri.strip()
    what = (
        "Give the repository as host[:port]/name, e.g. "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop or 127.0.0.1:5000/shop."
    )
    if "://" in text:
        raise ConfigError(f"--repository {uri!r} has a scheme; leave out {text.split('://')[0]}://. {what}")
    if "@" in text:
        raise ConfigError(f"--repository {uri!r} names a digest; builder pushes by tag and records digests. {what}")
    first, sep, rest = text.partition("/")
    if sep and (first == "localhost" or "." in first or ":" in first):
        host, path = first, rest
    else:
        host, path = "docker.io", text
    if ":" in path:
        raise ConfigError(
            f"--repository {uri!r} has a tag; builder tags each image <function>-<tag> itself (see --tag). {what}"
        )
    if not _HOST.match(host) or not path or not all(_COMPONENT.match(c) for c in path.split("/")):
        raise ConfigError(f"--repository {uri!r} is not a valid repository address (lower-case names only). {what}")
    if host == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return Repository(host, path)


# --------------------------------------------------------------------------- credentials


def ecr_login(registry: EcrRegistry, *, client: Any = None) -> dict[str, str]:
    """Docker credentials for an ECR registry, from AWS's GetAuthorizationToken.

    ``client`` is an ECR client (for tests); by default boto3 makes one for the
    registry's region with the usual AWS credential chain (env, profile, role).
    """
    if client is None:
        try:
            import boto3  # the optional extra builder[aws]: only ECR pushes need it
        except ImportError as exc:
            raise RegistryError(
                f"Pushing to Amazon ECR ({registry.host}) needs boto3 to log in: install it with "
                "`pip install 'builder[aws]'`. Or log in yourself (`aws ecr get-login-password --region "
                f"{registry.region} | docker login --username AWS --password-stdin {registry.host}`), "
                "which builder cannot detect, and install boto3 anyway."
            ) from exc
        try:
            client = boto3.client("ecr", region_name=registry.region)
        except Exception as exc:
            raise RegistryError(f"Cannot make an AWS ECR client for {registry.region}: {exc}.") from exc
    try:
        data = client.get_authorization_token(registryIds=[registry.account])["authorizationData"][0]
        user, sep, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    except Exception as exc:
        raise RegistryError(
            f"Logging in to {registry.host} failed: {exc}. Check your AWS credentials (AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID, ...) and that they may call ecr:GetAuthorizationToken in "
            f"{registry.region} for account {registry.account}."
        ) from exc
    if not sep:
        raise RegistryError(f"AWS returned an ECR token for {registry.host} that is not user:password; try again.")
    server = data.get("proxyEndpoint") or f"https://{registry.host}"
    return {"username": user, "password": password, "serveraddress": server}


def credentials(repository: Repository, *, ecr_client: Any = None) -> dict[str, str] | None:
    """What ``engine.push`` needs to log in: ECR's token, or None (the docker credential store)."""
    registry = repository.ecr
    return ecr_login(registry, client=ecr_client) if registry else None


# --------------------------------------------------------------------------- push


@dataclass(frozen=True)
class Pushed:
    """One pushed image: the local image, the tag it was pushed as, and its pinned URI."""

    function: str
    image: str
    tag: str
    uri: str  # <repository>@sha256:<digest>
    sent: bool = True  # False: the registry already held this very image under the tag


def push_image(
    engine: DockerEngine,
    config: Config,
    function: str,
    repository: Repository,
    *,
    tag: str = "latest",
    auth: Mapping[str, str] | None = None,
) -> Pushed:
    """Tag ``<project>-<function>:<tag>`` as ``<repository>:<function>-<tag>``, push it, pin it.

    The engine pushes what it holds: one image manifest (Docker v2 schema 2) for
    one platform, no index and no attestations, which is what Lambda accepts. When the
    registry's manifest under that tag already names this image's config (its image ID:
    reproducible, see ``image.reproducible``), nothing is sent.
    """
    config.function(function)
    image = config.image(function, tag)
    one = config.images == ONE_IMAGE
    if not engine.image_exists(image):
        what = "--all" if one else f"--function {function}"
        raise ConfigError(
            f"Image {image} does not exist. Build it first: "
            f"`python -m builder --project {config.root} build {what} --tag {tag}`."
        )
    target = repository.tagged("" if one else function, tag)
    engine.tag(image, target)
    held = registry_api.remote_image(repository.host, repository.path, target.rpartition(":")[2], auth=auth)
    if held is not None and held.config == engine.image_info(image).id:
        return Pushed(function, image, target, repository.pinned(held.digest), sent=False)
    try:
        digest = engine.push(target, auth_config=auth)
    except BaseException:
        engine.remove_image(target)  # the tag only (the image keeps its own): a failed push leaves none
        raise
    return Pushed(function, image, target, repository.pinned(digest))


# --------------------------------------------------------------------------- image-uris.json


def parse_image_uris(text: str, path: str = IMAGE_URIS) -> dict[str, str]:
    """Read image-uris.json: ``{function: "<repository>@sha256:<digest>"}``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"{path} is not valid JSON ({exc}). Fix it, or delete it and push the images again "
                            "(push merges into it, so it cannot rewrite a damaged one).") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path} should map function names to image URIs. Fix it, or delete it and push the "
                            "images again.")
    for name, uri in data.items():
        if not isinstance(uri, str) or not PINNED.match(uri):
            raise RegistryError(
                f"{path}: the image of {name} is {uri!r}, not <repository>@sha256:<64 hex digits>. Fix that "
                "entry, or delete it and push that function again."
            )
    return dict(data)


def read_image_uris(path: str | Path) -> dict[str, str]:
    """image-uris.json at ``path``; a RegistryError saying to push first when it is missing."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RegistryError(
            f"{path} does not exist: push the images first (`python -m builder push --all --repository URI`), "
            "which writes it."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"Cannot read {path}: {exc}.") from exc
    return parse_image_uris(text, str(path))


def render_image_uris(uris: Mapping[str, str]) -> str:
    """image-uris.json's text: sorted, two-space indented, one final newline."""
    return json.dumps(dict(sorted(uris.items())), indent=2) + "\n"


def updated_image_uris(path: str | Path, pushed: Mapping[str, str]) -> str:
    """The text of ``path`` with ``pushed`` merged in: functions not pushed now keep their image."""
    current = read_image_uris(path) if Path(path).exists() else {}
    return render_image_uris({**current, **pushed})
