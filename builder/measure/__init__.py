"""Where the bytes of built images go: ``docker save`` archives read (``archive``), sizes per
layer and distribution (``sizes``), reports (``report``), and the size check against a
baseline (``check``, ``check_render``).
"""
