"""Batch export: write records to CSV and upload the file to S3.

Invoked by an EventBridge schedule (or directly) with ``{"export_name": ...,
"records": [...]}``. Nested records are flattened with shared.records. The CSV is
uploaded to ``s3://$EXPORT_BUCKET/exports/<name>.csv`` only when ``EXPORT_BUCKET``
is set (not empty); either way the answer carries the CSV text and its shape.
"""

import csv
import io
import os
import re

import boto3

from shared.records import field_names, flatten

# Lambda sets AWS_REGION; the fallback lets the module load anywhere (tests, locally).
REGION = (
    os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
)
s3 = boto3.client("s3", region_name=REGION)

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def to_csv(records: list[dict]) -> tuple[str, list[str]]:
    """CSV text (header first, CRLF line ends as csv writes them) and its columns."""
    rows = [flatten(record) for record in records]
    columns = field_names(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue(), columns


def handler(event, context):
    records = event.get("records") or []
    name = (
        SAFE_NAME.sub("-", str(event.get("export_name") or "export")).strip("-")
        or "export"
    )
    text, columns = to_csv(records)
    key = f"exports/{name}.csv"
    bucket = os.environ.get("EXPORT_BUCKET") or None
    if bucket:
        s3.put_object(
            Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/csv"
        )
    return {
        "bucket": bucket,
        "key": key,
        "uploaded": bool(bucket),
        "columns": columns,
        "row_count": len(records),
        "bytes": len(text.encode()),
        "csv": text,
    }
