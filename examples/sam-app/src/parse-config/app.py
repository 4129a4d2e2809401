"""Turns a YAML document in the request body into JSON."""

import json

import yaml


def lambda_handler(event, context):
    document = yaml.safe_load(event["body"])
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"parsed": document, "libyaml": yaml.__with_libyaml__}, sort_keys=True),
    }
