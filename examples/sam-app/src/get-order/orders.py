"""The order catalogue, read from data/orders.json relative to the working directory.

Lambda starts the function in /var/task, where the CodeUri's files are.
"""

import json


def load():
    with open("data/orders.json", encoding="utf-8") as handle:
        return json.load(handle)


def find(order_id):
    return next((order for order in load() if order["id"] == order_id), None)
