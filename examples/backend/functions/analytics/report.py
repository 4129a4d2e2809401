"""Sales report: group the rows of the request with pandas and total each group.

The request body is JSON: ``{"group_by": "region", "rows": [{"region": ...,
"units": ..., "revenue": ...}, ...]}``. The answer lists, per group, the number of
rows, units and revenue, and the revenue per unit.
"""

import json

import numpy as np
import pandas as pd

METRICS = ("units", "revenue")


def report(rows: list[dict], group_by: str) -> dict:
    """Totals per value of ``group_by``, largest revenue first, ties by name."""
    frame = pd.DataFrame.from_records(rows)
    missing = [column for column in (group_by, *METRICS) if column not in frame.columns]
    if missing:
        raise ValueError(f"rows lack column(s): {', '.join(missing)}")
    grouped = frame.groupby(group_by).agg(
        rows=("units", "size"), units=("units", "sum"), revenue=("revenue", "sum")
    )
    grouped["revenue"] = np.round(grouped["revenue"], 2)
    # Revenue per unit; a group with zero units gets 0 rather than inf.
    grouped["revenue_per_unit"] = np.round(
        np.divide(
            grouped["revenue"],
            grouped["units"],
            out=np.zeros(len(grouped)),
            where=grouped["units"].to_numpy() != 0,
        ),
        2,
    )
    grouped = grouped.reset_index().sort_values(
        ["revenue", group_by], ascending=[False, True]
    )
    groups = [
        {
            group_by: str(record[group_by]),
            "rows": int(record["rows"]),
            "units": int(record["units"]),
            "revenue": float(record["revenue"]),
            "revenue_per_unit": float(record["revenue_per_unit"]),
        }
        for record in grouped.to_dict(orient="records")
    ]
    return {
        "group_by": group_by,
        "groups": groups,
        "total": {
            "rows": len(frame),
            "units": int(frame["units"].sum()),
            "revenue": float(np.round(frame["revenue"].sum(), 2)),
        },
    }


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def handler(event, context):
    request = json.loads(event.get("body") or "{}")
    rows = request.get("rows") or []
    if not rows:
        return _response(400, {"error": "'rows' must be a non-empty list"})
    try:
        return _response(200, report(rows, request.get("group_by", "region")))
    except ValueError as exc:
        return _response(400, {"error": str(exc)})
