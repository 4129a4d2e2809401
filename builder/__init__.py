"""builder: small, fast, verified container images for Python AWS Lambda functions."""

__version__ = "0.1.0"
