"""Health check: report the runtime and that /tmp, the only writable path, works."""

import json
import os
import platform
import tempfile


def _tmp_writable() -> bool:
    # The image's root filesystem is read-only; Lambda gives each sandbox a /tmp.
    try:
        with tempfile.TemporaryFile(dir=tempfile.gettempdir()) as handle:
            handle.write(b"ok")
            handle.seek(0)
            return handle.read() == b"ok"
    except OSError:
        return False


def handler(event, context):
    body = {
        "status": "ok",
        "service": os.environ.get("SERVICE_NAME", "example"),
        "python": platform.python_version(),
        "path": event.get("path"),
        "tmp_writable": _tmp_writable(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }
