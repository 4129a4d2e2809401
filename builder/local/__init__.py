"""Running an image the way Lambda does: the template's settings for a local run (``settings``),
the sandboxed container and the invoke client (``sandbox``), and the runs themselves
(``runner``). The Runtime API emulator inside the image is ``builder/resources/emulator``.
"""
