"""SAM templates as text: reading with CloudFormation's tags and whole-line spans (``spans``,
``template``), what to migrate (``plan``, ``sizes``), and the edits: migrate, pin (``edit``),
Globals moved (``globals_move``), rollback (``rollback``), on shared line edits (``doc``).
"""
