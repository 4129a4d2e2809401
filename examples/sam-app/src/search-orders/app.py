"""Searches the orders in the request body with a JMESPath expression."""

import json

import jmespath
from common.responses import json_response


def lambda_handler(event, context):
    request = json.loads(event.get("body") or "{}")
    found = jmespath.search(request["query"], {"orders": request["orders"]})
    return json_response(200, {"query": request["query"], "found": found, "jmespath": jmespath.__version__})
