"""From closures to a Dockerfile: dependency groups and per-function layouts (``plan``), strip
rules (``strip``), the one image of every function (``one_image``), the Dockerfile text
(``dockerfile``), and the Lambda-compatible base image (``base``).
"""
