"""Expected behaviour of the bundled example backend (examples/backend).

A helper module for the tests, not a test module: it names the example's eight
functions, their handlers and sample events, the third-party distributions each
one needs (per examples/backend/requirements/functions.txt), and checks the
result of running a function on its sample event. It imports only the standard
library, so the tests can check results returned by containers without
installing the functions' dependencies.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import struct

from tests.helpers import EXAMPLE

BACKEND_DIR = EXAMPLE

FUNCTIONS = (
    "user-auth",
    "health",
    "orders-api",
    "notify-webhook",
    "media-thumbnail",
    "analytics-report",
    "ml-score",
    "batch-export",
)

_BOTO3 = {
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "python-dateutil",
    "six",
    "urllib3",
}
_PYDANTIC = {
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
}

# Canonical (PEP 503) names of every distribution each function needs, transitively.
THIRD_PARTY: dict[str, frozenset[str]] = {
    "user-auth": frozenset(),
    "health": frozenset(),
    "orders-api": frozenset(_PYDANTIC | _BOTO3),
    "notify-webhook": frozenset(
        {"requests", "certifi", "charset-normalizer", "idna", "urllib3"}
    ),
    "media-thumbnail": frozenset({"pillow"}),
    "analytics-report": frozenset(
        {"pandas", "numpy", "python-dateutil", "pytz", "tzdata", "six"}
    ),
    "ml-score": frozenset({"numpy"}),
    "batch-export": frozenset(_BOTO3),
}


def sample_event(function: str) -> dict:
    """The sample event of ``function`` (examples/backend/events/<function>.json)."""
    return json.loads((BACKEND_DIR / "events" / f"{function}.json").read_text())


def check_result(function: str, result: dict) -> None:
    """Assert that ``result`` is what ``function`` returns for its sample event."""
    try:
        check = _CHECKS[function]
    except KeyError:
        raise AssertionError(
            f"unknown example function {function!r}; known: {FUNCTIONS}"
        ) from None
    check(result)


_API_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"


def _api_body(result: dict, status: int) -> dict:
    """The JSON body of an API Gateway proxy response, after checking its status."""
    assert result.get("statusCode") == status, (
        f"expected status {status}, got {result!r:.500}"
    )
    assert result.get("headers", {}).get("Content-Type") == "application/json", result
    return json.loads(result["body"])


def _check_user_auth(result: dict) -> None:
    # The sample token was signed with shared.tokens.DEMO_SECRET for these claims.
    assert result["principalId"] == "user-123", result
    assert result["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                # The sample methodArn .../prod/POST/orders widened to the stage.
                "Resource": f"{_API_ARN}/prod/*",
            }
        ],
    }, result
    assert result["context"] == {"scope": "orders:write", "tenant": "acme"}, result


def _check_health(result: dict) -> None:
    body = _api_body(result, 200)
    assert body["status"] == "ok", body
    assert body["path"] == "/health", body
    assert body["python"].startswith("3.11."), body
    assert body["tmp_writable"] is True, body


def _check_orders_api(result: dict) -> None:
    body = _api_body(result, 201)
    # 2 x 19.99 + 1 x 5.50 + 3 x 12.00 = 81.48
    # discount 10 % = 8.148 -> 8.15 (half up); total 81.48 - 8.15 = 73.33
    assert body == {
        "order_id": "o-1001",
        "customer_id": "c-1",
        "currency": "EUR",
        "line_count": 3,
        "item_count": 6,
        "subtotal": "81.48",
        "discount": "8.15",
        "total": "73.33",
        "stored": False,
    }, body


def _check_notify_webhook(result: dict) -> None:
    body = _api_body(result, 202)
    payload = {
        "text": "[WARNING] Disk usage high: volume /data is 91% full",
        "level": "warning",
        "tags": ["prod", "storage"],
        "source": "example-backend",
    }
    assert body["sent"] is False, body
    assert body["method"] == "POST", body
    assert body["url"] == "https://hooks.example.invalid/notify", body
    assert body["payload"] == payload, body
    headers = body["headers"]
    assert headers["Content-Type"] == "application/json", headers
    assert headers["User-Agent"] == "example-backend-notify/1.0", headers
    # requests serialises json= with json.dumps' default separators.
    assert headers["Content-Length"] == str(len(json.dumps(payload).encode())), headers


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "thumbnail is not a PNG"
    assert data[12:16] == b"IHDR", "PNG lacks its IHDR chunk"
    return struct.unpack(">II", data[16:24])


def _check_media_thumbnail(result: dict) -> None:
    body = _api_body(result, 200)
    # The sample is a 64x48 PNG; fitting it in 32x32 keeps the 4:3 ratio.
    assert body["original"] == {"width": 64, "height": 48, "format": "PNG"}, body
    assert (body["width"], body["height"], body["format"]) == (32, 24, "PNG"), body
    data = base64.b64decode(body["thumbnail"], validate=True)
    assert len(data) == body["bytes"], body["bytes"]
    assert _png_size(data) == (32, 24)


def _check_analytics_report(result: dict) -> None:
    body = _api_body(result, 200)
    # By hand from events/analytics-report.json, largest revenue first:
    #   apac: 1 row,  4 units, 198.00                 -> 49.50 per unit
    #   eu:   3 rows, 3+1+3 = 7 units, 29.97+49.50+45.00 = 124.47 -> 17.78
    #   us:   3 rows, 5+2+1 = 8 units, 49.95+30.00+9.99  = 89.94  -> 11.24
    expected = [
        ("apac", 1, 4, 198.00, 49.50),
        ("eu", 3, 7, 124.47, 17.78),
        ("us", 3, 8, 89.94, 11.24),
    ]
    assert body["group_by"] == "region", body
    got = [
        (g["region"], g["rows"], g["units"], g["revenue"], g["revenue_per_unit"])
        for g in body["groups"]
    ]
    assert len(got) == len(expected), got
    for (region, rows, units, revenue, per_unit), row in zip(
        expected, got, strict=True
    ):
        assert row[:3] == (region, rows, units), got
        assert math.isclose(row[3], revenue, abs_tol=1e-9), got
        assert math.isclose(row[4], per_unit, abs_tol=1e-9), got
    total = body["total"]
    assert (total["rows"], total["units"]) == (7, 19), total
    assert math.isclose(total["revenue"], 412.41, abs_tol=1e-9), total


def _check_ml_score(result: dict) -> None:
    body = _api_body(result, 200)
    # Standardised features of the sample, (x - mean) / scale, times the weights:
    #   tenure 6:  (6 - 24) / 12 = -1.5 -> x -0.8 = 1.2
    #   spend 80:  (80 - 50) / 20 = 1.5 -> x 0.3 = 0.45
    #   tickets 2: (2 - 1.5) / 1.2 = 0.41667 -> x 0.9 = 0.375
    #   logins 3:  (3 - 12) / 6 = -1.5 -> x -0.6 = 0.9
    # logit = 1.2 + 0.45 + 0.375 + 0.9 - 0.4 (bias) = 2.525; score = 1 / (1 + e^-2.525)
    expected = 1.0 / (1.0 + math.exp(-2.525))
    assert 0.0 < body["score"] < 1.0, body
    assert round(expected, 6) == 0.925876
    assert body["score"] == round(expected, 6), body
    assert body["label"] == "churn" and body["threshold"] == 0.5, body
    assert (body["customer_id"], body["model"]) == ("c-2", "churn-logreg-v1"), body


def _check_batch_export(result: dict) -> None:
    columns = ["order_id", "customer.id", "customer.name", "total", "status", "note"]
    assert result["bucket"] is None and result["uploaded"] is False, result
    assert result["key"] == "exports/orders-2024-06-01.csv", result
    assert result["columns"] == columns, result
    assert result["row_count"] == 3, result
    text = result["csv"]
    assert result["bytes"] == len(text.encode()), result
    assert text.startswith(",".join(columns) + "\r\n"), text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        columns,
        ["o-1001", "c-1", "Ada Lovelace", "73.33", "paid", ""],
        ["o-1002", "c-2", "Grace Hopper", "12.00", "refunded", ""],
        ["o-1003", "c-1", "Ada Lovelace", "5.50", "paid", "gift, wrapped"],
    ], rows


_CHECKS = {
    "user-auth": _check_user_auth,
    "health": _check_health,
    "orders-api": _check_orders_api,
    "notify-webhook": _check_notify_webhook,
    "media-thumbnail": _check_media_thumbnail,
    "analytics-report": _check_analytics_report,
    "ml-score": _check_ml_score,
    "batch-export": _check_batch_export,
}
