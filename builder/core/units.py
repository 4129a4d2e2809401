"""Human-readable sizes, the same everywhere the tool shows bytes."""

from __future__ import annotations


def human(n: float) -> str:
    """Bytes as a short figure in base 1000, as docker prints them: ``41.8 MB``."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1000
    return f"{sign}{n:.1f} GB"
