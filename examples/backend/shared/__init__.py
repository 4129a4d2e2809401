"""Code shared by several functions of the example backend.

Deployed as the ``SharedLayer`` in template.yaml; the builder copies it into each
image that imports it.
"""
