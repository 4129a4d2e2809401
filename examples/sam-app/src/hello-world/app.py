"""Says hello in the words of greeting.txt, which sits next to this file."""

import json
import os

import boto3  # not in a requirements file: the Lambda runtime has the AWS SDK, and so does every base

HERE = os.path.dirname(os.path.abspath(__file__))


def lambda_handler(event, context):
    with open(os.path.join(HERE, "greeting.txt"), encoding="utf-8") as handle:
        words = handle.read().strip()
    body = {
        "message": words.format(name=os.environ.get("GREETING_NAME", "nobody")),
        "stage": os.environ["STAGE"],
        "service": os.environ["SERVICE_NAME"],
        "path": event.get("path"),
        "sdk": boto3.__name__,
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
