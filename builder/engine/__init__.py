"""The only code that talks to the Docker engine (``docker_engine``: BuildKit builds through
the CLI, the rest through the SDK) or to a registry (``registry``: addresses, ECR logins,
pushes, image-uris.json).
"""
