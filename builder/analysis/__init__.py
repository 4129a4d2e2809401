"""What each function's image must hold: imports scanned (``imports``, ``fastscan``, cached by
``parse_cache``), resolved across its code roots and locked distributions (``import_graph``),
closed over per function (``closure``), and explained (``render``).
"""
