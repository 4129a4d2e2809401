"""Notification webhook: turn an alert into a chat-style webhook message and POST it.

The request is built and prepared with requests. It is sent only when
``WEBHOOK_URL`` is set; otherwise the response describes the request that would
have been sent, so the function can be tried without a receiver.
"""

import json
import os

import requests

PLACEHOLDER_URL = "https://hooks.example.invalid/notify"
USER_AGENT = "example-backend-notify/1.0"
LEVELS = ("info", "warning", "error")


def build_request(alert: dict, url: str) -> requests.PreparedRequest:
    """Prepare the webhook POST for ``alert`` (keys: level, title, message, tags)."""
    level = alert.get("level", "info")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    tags = sorted(alert.get("tags", []))
    payload = {
        "text": f"[{level.upper()}] {alert['title']}: {alert['message']}",
        "level": level,
        "tags": tags,
        "source": "example-backend",
    }
    request = requests.Request(
        "POST", url, json=payload, headers={"User-Agent": USER_AGENT}
    )
    return request.prepare()


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def handler(event, context):
    alert = json.loads(event.get("body") or "{}")
    url = os.environ.get("WEBHOOK_URL")
    try:
        prepared = build_request(alert, url or PLACEHOLDER_URL)
    except (KeyError, ValueError) as exc:
        return _response(400, {"error": f"invalid alert: {exc}"})

    body = prepared.body.decode() if isinstance(prepared.body, bytes) else prepared.body
    result = {
        "sent": False,
        "method": prepared.method,
        "url": prepared.url,
        "headers": {
            "Content-Type": prepared.headers["Content-Type"],
            "Content-Length": prepared.headers["Content-Length"],
            "User-Agent": prepared.headers["User-Agent"],
        },
        "payload": json.loads(body),
    }
    if url:
        with requests.Session() as session:
            reply = session.send(prepared, timeout=5)
        result.update(sent=True, status=reply.status_code)
    return _response(202, result)
