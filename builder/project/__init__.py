"""The backend as one model: the SAM template read as SAM reads it (``template``), builder.toml
merged over it (``config``), into frozen dataclasses (``model``) that every later stage reads.
"""
