"""Orders API: validate an order with pydantic, total it, store it in DynamoDB.

The order is written to the table named by ``ORDERS_TABLE``; without it nothing
is sent anywhere and the response says ``"stored": false``.
"""

import json
import os
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import boto3
from pydantic import BaseModel, Field, ValidationError

# Lambda sets AWS_REGION; the fallback lets the module load anywhere (tests, locally).
REGION = (
    os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
)
# Made once per sandbox, reused by every invocation; making it sends no request.
dynamodb = boto3.resource("dynamodb", region_name=REGION)

CENT = Decimal("0.01")


class OrderLine(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(gt=0, decimal_places=2)


class Order(BaseModel):
    order_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    currency: Literal["EUR", "GBP", "USD"] = "EUR"
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    lines: list[OrderLine] = Field(min_length=1)


def totals(order: Order) -> dict:
    """Subtotal, discount and total of ``order``, rounded to cents (half up)."""
    subtotal = sum(
        (line.unit_price * line.quantity for line in order.lines), Decimal(0)
    )
    discount = (subtotal * order.discount_percent / 100).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    return {
        "subtotal": subtotal.quantize(CENT),
        "discount": discount,
        "total": (subtotal - discount).quantize(CENT),
    }


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True, default=str),
    }


def handler(event, context):
    try:
        order = Order.model_validate_json(event.get("body") or "{}")
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return _response(400, {"errors": errors})

    amounts = totals(order)
    table_name = os.environ.get("ORDERS_TABLE")
    if table_name:
        # DynamoDB takes numbers as Decimal, which is what the model holds.
        item = order.model_dump(mode="python") | amounts
        dynamodb.Table(table_name).put_item(Item=item)

    return _response(
        201,
        {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "currency": order.currency,
            "line_count": len(order.lines),
            "item_count": sum(line.quantity for line in order.lines),
            **{key: str(value) for key, value in amounts.items()},
            "stored": bool(table_name),
        },
    )
