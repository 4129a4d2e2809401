"""Third-party distributions: requirements files, locking them (pip-tools), the lock parser,
the wheelhouse downloaded on the host, and the index of the wheels' metadata, all for the
target interpreter and platform (``target``), never the host's.
"""
