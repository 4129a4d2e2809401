"""What a registry already holds, asked over the Registry HTTP API (v2): a tag's or a digest's
manifest, and the image config it names.

An image ID is the digest of its config, and builder's configs are reproducible, so a manifest
whose config is the local image's ID holds that very image: ``push`` then sends nothing, and
``report`` can say whether a pinned digest is still what was built. An answer that cannot be had
(no registry, no permission, an index rather than one manifest) is None: callers then push as
usual or say they cannot tell; it never makes them skip anything.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
PINNED = re.compile(r"^(?P<repository>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")  # repo@digest
_UNREADABLE = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)  # no answer to use
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class RemoteImage:
    """A manifest in a registry: its digest and the digest of the image config it names."""

    digest: str
    config: str


def api_base(host: str) -> str:
    """``https://host`` (``http://`` for loopback, as the engine treats it; Docker Hub's API host)."""
    name = host[1 : host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host == "docker.io":
        return "https://registry-1.docker.io"
    loopback = name == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    return f"{'http' if loopback else 'https'}://{host}"


def remote_image(
    host: str, path: str, reference: str, *, auth: Mapping[str, str] | None = None, timeout: float = 10
) -> RemoteImage | None:
    """The manifest ``reference`` (a tag or ``sha256:...``) of ``host/path``, or None when there is
    none, or it cannot be read (see the module docstring)."""
    url = f"{api_base(host)}/v2/{path}/manifests/{reference}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    basic = _basic(auth)
    if basic:
        headers["Authorization"] = basic
    try:
        body, digest = _get(url, headers, timeout)
    except urllib.error.HTTPError as exc:
        token = _bearer_token(exc, basic, timeout) if exc.code == 401 else None
        if token is None:
            return None
        try:
            body, digest = _get(url, {**headers, "Authorization": f"Bearer {token}"}, timeout)
        except _UNREADABLE:
            return None
    except _UNREADABLE:
        return None
    try:
        manifest = json.loads(body)
        config = manifest["config"]["digest"]
    except (ValueError, KeyError, TypeError):
        return None  # an index, or not a manifest at all
    if manifest.get("mediaType", MANIFEST_TYPES[0]) not in MANIFEST_TYPES:
        return None
    return RemoteImage(digest or f"sha256:{hashlib.sha256(body).hexdigest()}", config)


def _get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers=dict(headers))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read(), response.headers.get("Docker-Content-Digest", "")


def _basic(auth: Mapping[str, str] | None) -> str:
    if not auth or not auth.get("username"):
        return ""
    pair = f"{auth['username']}:{auth.get('password', '')}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _bearer_token(challenge: urllib.error.HTTPError, basic: str, timeout: float) -> str | None:
    """The token a ``WWW-Authenticate: Bearer realm=...`` challenge asks for (Docker Hub, GHCR, ...)."""
    header = challenge.headers.get("WWW-Authenticate", "")
    if not header.lower().startswith("bearer "):
        return None
    params: dict[str, Any] = dict(_CHALLENGE.findall(header))
    realm = params.pop("realm", "")
    if not realm.startswith("https://"):
        return None
    query = "&".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in sorted(params.items()))
    try:
        body, _ = _get(f"{realm}?{query}", {"Authorization": basic} if basic else {}, timeout)
        data = json.loads(body)
    except _UNREADABLE:
        return None
    token = data.get("token") or data.get("access_token")
    return token if isinstance(token, str) else None
