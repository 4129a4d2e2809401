"""API Gateway TOKEN authorizer: check an HMAC-signed bearer token, return a policy.

The token (see shared/tokens.py) is checked with the secret in ``AUTH_SECRET``;
without it the clearly-labelled demo secret ``tokens.DEMO_SECRET`` is used. A valid
token gets an Allow policy for every method of the calling API stage, so that API
Gateway can cache the answer across routes; anything else gets a Deny.
"""

import os

from shared import tokens


def _stage_arn(method_arn: str) -> str:
    # arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/VERB/PATH -> .../API_ID/STAGE/*
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*"


def _policy(principal_id: str, effect: str, resource: str, context: dict) -> dict:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ],
        },
        "context": context,
    }


def handler(event, context):
    secret = os.environ.get("AUTH_SECRET", tokens.DEMO_SECRET)
    header = event.get("authorizationToken") or ""
    scheme, _, token = header.partition(" ")
    resource = _stage_arn(event["methodArn"])
    if scheme.lower() != "bearer" or not token:
        return _policy(
            "anonymous", "Deny", resource, {"reason": "missing bearer token"}
        )
    try:
        claims = tokens.verify(token, secret)
    except tokens.InvalidToken as exc:
        return _policy("anonymous", "Deny", resource, {"reason": str(exc)})
    # Authorizer context values must be strings, numbers or booleans.
    return _policy(
        str(claims.get("sub", "unknown")),
        "Allow",
        resource,
        {
            "scope": str(claims.get("scope", "")),
            "tenant": str(claims.get("tenant", "")),
        },
    )
