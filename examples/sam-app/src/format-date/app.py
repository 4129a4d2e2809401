"""Formats a date for a locale-free report, with the FormattingLayer's helper."""

import json

from common.responses import json_response
from formatting import long_date  # from FormattingLayer, which `sam build` builds


def lambda_handler(event, context):
    request = json.loads(event.get("body") or "{}")
    return json_response(200, {"input": request["date"], "formatted": long_date(request["date"])})
