"""Formatting shared by the reports: sizes in MB, aligned text columns, markdown tables.

Sizes are MB (1000 * 1000 bytes, one decimal) in text and markdown; JSON documents carry
integer bytes and ``SCHEMA_VERSION`` (documented in ``docs/report-json.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

SCHEMA_VERSION = 1


def mb(size: int) -> str:
    """Bytes as decimal megabytes with one decimal: ``12_345_678`` -> ``"12.3 MB"``."""
    return f"{size / 1_000_000:.1f} MB"


def num(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


def short_id(diff_id: str) -> str:
    return diff_id.split(":", 1)[-1][:12]


def columns(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Aligned text columns; ``right`` holds the indexes of right-aligned (numeric) ones."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]


def md_cell(text: str) -> str:
    # GitHub tables need the pipe escaped even inside a code span.
    return text.replace("|", "\\|")


def md_table(header: Sequence[str], right: set[int], rows: Sequence[Sequence[str]]) -> list[str]:
    separator = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(row) + " |" for row in (header, separator, *rows)]
