"""API Gateway TOKEN authorizer: "allow-<user>" tokens are let in, anything else is denied."""

from common.policy import policy


def lambda_handler(event, context):
    token = event.get("authorizationToken", "")
    if token.startswith("allow-"):
        return policy(token[len("allow-"):], "Allow", event["methodArn"])
    return policy("anonymous", "Deny", event["methodArn"])
