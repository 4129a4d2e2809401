"""Where the bytes of built images go: ``docker save`` archives read (``archive``), sizes per
layer and distribution (``sizes``), reports on one image (``report``) and on several as a
registry stores them (``registry_view``), formatted by ``tables``, and the size check against
a baseline (``check``, ``check_render``).
"""
