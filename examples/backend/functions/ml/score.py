"""Churn score: a logistic regression with fixed weights, computed with numpy.

The request body is JSON: ``{"customer_id": ..., "features": {name: value}}``
with every name in FEATURES. Each feature is standardised with the training mean
and scale below, then ``score = 1 / (1 + exp(-(weights . z + bias)))``.
"""

import json

import numpy as np

MODEL = "churn-logreg-v1"
FEATURES = ("tenure_months", "monthly_spend", "support_tickets", "logins_last_30d")
MEAN = np.array([24.0, 50.0, 1.5, 12.0])
SCALE = np.array([12.0, 20.0, 1.2, 6.0])
WEIGHTS = np.array([-0.8, 0.3, 0.9, -0.6])
BIAS = -0.4
THRESHOLD = 0.5


def score(features: dict) -> float:
    """Probability of churn for one customer."""
    missing = [name for name in FEATURES if name not in features]
    if missing:
        raise ValueError(f"missing feature(s): {', '.join(missing)}")
    x = np.array([float(features[name]) for name in FEATURES])
    z = (x - MEAN) / SCALE
    logit = float(WEIGHTS @ z + BIAS)
    return float(1.0 / (1.0 + np.exp(-logit)))


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def handler(event, context):
    request = json.loads(event.get("body") or "{}")
    try:
        probability = score(request.get("features") or {})
    except (TypeError, ValueError) as exc:
        return _response(400, {"error": str(exc)})
    return _response(
        200,
        {
            "customer_id": request.get("customer_id"),
            "model": MODEL,
            "score": round(probability, 6),
            "label": "churn" if probability >= THRESHOLD else "stay",
            "threshold": THRESHOLD,
        },
    )
