"""Thumbnail maker: shrink a base64-encoded image with Pillow, keeping its aspect ratio.

The request body is JSON: ``{"image": <base64>, "max_width": 32, "max_height": 32,
"format": "PNG"}``. Everything happens in memory; nothing is written to disk.
"""

import base64
import binascii
import io
import json

from PIL import Image, UnidentifiedImageError

FORMATS = ("JPEG", "PNG", "WEBP")
MAX_SIDE = 1024


def make_thumbnail(
    data: bytes, max_size: tuple[int, int], fmt: str
) -> tuple[bytes, Image.Image]:
    """Return the encoded thumbnail of the image in ``data`` and the source image."""
    with Image.open(io.BytesIO(data)) as source:
        source.load()
        thumb = source.copy()
    thumb.thumbnail(max_size, Image.Resampling.LANCZOS)
    if fmt == "JPEG" and thumb.mode not in ("RGB", "L"):
        thumb = thumb.convert("RGB")  # JPEG has no alpha channel
    out = io.BytesIO()
    thumb.save(out, format=fmt)
    return out.getvalue(), source


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def handler(event, context):
    request = json.loads(event.get("body") or "{}")
    fmt = str(request.get("format", "PNG")).upper()
    width = int(request.get("max_width", 128))
    height = int(request.get("max_height", 128))
    if fmt not in FORMATS or not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return _response(
            400, {"error": f"format must be one of {FORMATS}, sizes 1..{MAX_SIDE}"}
        )
    try:
        data = base64.b64decode(request["image"], validate=True)
        encoded, source = make_thumbnail(data, (width, height), fmt)
    except (KeyError, binascii.Error, UnidentifiedImageError) as exc:
        return _response(400, {"error": f"no readable image in 'image': {exc}"})

    with Image.open(io.BytesIO(encoded)) as thumb:
        size = thumb.size
    return _response(
        200,
        {
            "original": {
                "width": source.width,
                "height": source.height,
                "format": source.format,
            },
            "width": size[0],
            "height": size[1],
            "format": fmt,
            "bytes": len(encoded),
            "thumbnail": base64.b64encode(encoded).decode("ascii"),
        },
    )
