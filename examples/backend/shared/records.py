"""Helpers to turn nested JSON records into flat table rows."""


def flatten(record: dict, prefix: str = "") -> dict:
    """Flatten nested dicts into one level with dotted keys.

    ``{"id": 1, "customer": {"name": "Ada"}}`` becomes
    ``{"id": 1, "customer.name": "Ada"}``. Lists are kept as values.
    """
    flat: dict = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def field_names(rows: list[dict]) -> list[str]:
    """Return every key of ``rows``, in the order they first appear."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)
