"""HMAC-SHA256 signed bearer tokens.

A token is ``<payload>.<signature>``: the payload is the base64url-encoded JSON of
the claims, the signature the base64url-encoded HMAC-SHA256 of the payload text.
Padding is stripped from both parts. The claim ``exp`` (Unix seconds), when
present, is checked against the current time.
"""

import base64
import hashlib
import hmac
import json
import time

# Demo only: deployments set AUTH_SECRET. Never use this value for real traffic.
DEMO_SECRET = "demo-secret-not-for-production"


class InvalidToken(ValueError):
    """The token is malformed, wrongly signed or expired."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest)


def sign(claims: dict, secret: str) -> str:
    """Return a token carrying ``claims``, signed with ``secret``."""
    payload = _b64encode(
        json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    )
    return f"{payload}.{_signature(payload, secret)}"


def verify(token: str, secret: str, now: float | None = None) -> dict:
    """Return the claims of ``token`` or raise InvalidToken."""
    payload, sep, signature = token.partition(".")
    if not sep or not payload or not signature:
        raise InvalidToken("token is not <payload>.<signature>")
    # compare_digest: constant time, so the signature cannot be guessed byte by byte.
    if not hmac.compare_digest(signature, _signature(payload, secret)):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_b64decode(payload))
    except ValueError as exc:
        raise InvalidToken("payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("payload is not a JSON object")
    exp = claims.get("exp")
    if exp is not None and (now if now is not None else time.time()) >= exp:
        raise InvalidToken("token expired")
    return claims
