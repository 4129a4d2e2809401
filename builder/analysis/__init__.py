"""What each function's image must hold: imports scanned (``imports``, ``fastscan``, cached by
``parse_cache``), local modules found on the code roots (``source_tree``), imports resolved to them
and to locked distributions (``import_graph``), closed over per function (``closure``, kept by
``closure_store``) into ``records``, and explained (``render``).
"""
