"""Returns one order from the catalogue in data/orders.json."""

import os

import orders  # a module beside this one: at the top of the function's code, as on Lambda
from common.responses import json_response  # from CommonLayer


def lambda_handler(event, context):
    order_id = (event.get("pathParameters") or {}).get("order_id")
    order = orders.find(order_id)
    if order is None:
        return json_response(404, {"error": f"no order {order_id}"})
    return json_response(200, {"order": order, "table": os.environ["TABLE_NAME"]})
