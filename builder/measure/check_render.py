"""The ``check`` comparison as text, GitHub markdown and the JSON of ``docs/ci.md``.

Pure: each renderer takes a :class:`~builder.check.CheckResult` and returns text or data.
"""

from __future__ import annotations

import dataclasses

from ..core.units import human
from .check import SCHEMA_VERSION, CheckResult, Row, growth, percent, signed


def _heading(row: Row) -> str:
    return f"{row.name}: {human(row.baseline or 0)} -> {human(row.now or 0)}, {growth(row)}"


def _cells(row: Row) -> list[str]:
    if row.now is None:
        return [row.name, human(row.baseline or 0), "-", signed(row.delta), "removed"]
    if row.baseline is None:
        return [row.name, "-", human(row.now), signed(row.delta), "new"]
    return [row.name, human(row.baseline), human(row.now), signed(row.delta), percent(row)]


def _verdict(result: CheckResult) -> str:
    if result.errors:
        return f"over budget ({', '.join(sorted({p.scope for p in result.errors}))})"
    saved = -result.total.delta if result.total.baseline is not None else 0
    return "within budget" + (f", {human(saved)} smaller than the baseline" if saved > 0 else "")


def render_text(result: CheckResult) -> str:
    """A table of every function (baseline, now, delta, percent), each change's reasons, problems."""
    rows = [["Function", "Baseline", "Now", "Delta", "%"]] + [_cells(r) for r in result.rows] + [_cells(result.total)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"Image sizes above the base, against the baseline (tolerance {result.budget.tolerance:.1%}):", ""]
    for i, cells in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("  ".join("-" * w for w in widths))
        lines.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths))).rstrip())
    for row in result.rows:
        if row.changes:
            lines += ["", _heading(row)] + [f"  {c}" for c in row.changes]
    if result.problems:
        lines += [""] + [f"{p.level}: {p.message}" for p in result.problems]
    return "\n".join([*lines, "", f"Result: {_verdict(result)}."]) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(result: CheckResult) -> str:
    """GitHub-flavoured markdown for a pull request or a job summary."""
    lines = [f"### Image size check: {_verdict(result)}", ""]
    lines += ["| Function | Baseline | Now | Delta | % |", "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(_md(c) for c in _cells(row)) + " |" for row in result.rows]
    lines.append("| " + " | ".join(f"**{_md(c)}**" for c in _cells(result.total)) + " |")
    lines += ["", f"Sizes are bytes above the base image; tolerance {result.budget.tolerance:.1%}."]
    changed = [row for row in result.rows if row.changes]
    if changed:
        lines += ["", "#### Changes", ""]
        for row in changed:
            lines += [f"- **{_md(_heading(row))}**"] + [f"  - {_md(str(c))}" for c in row.changes]
    if result.problems:
        lines += ["", "#### Problems", ""] + [f"- **{p.level}**: {_md(p.message)}" for p in result.problems]
    return "\n".join(lines) + "\n"


def _row_json(row: Row) -> dict:
    changes = [
        {"kind": c.kind, "name": c.name, "delta_bytes": c.delta, "old_version": c.old_version,
         "new_version": c.new_version, "pulled_in_by": c.pulled_in_by, "text": str(c)}
        for c in row.changes
    ]  # fmt: skip
    percent = None if row.percent is None else round(row.percent, 3)
    return {"name": row.name, "baseline_bytes": row.baseline, "now_bytes": row.now, "delta_bytes": row.delta, "percent": percent, "changes": changes}  # fmt: skip


def to_json(result: CheckResult) -> dict:
    """The ``check --json`` document of ``docs/ci.md`` (sizes in bytes)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "check",
        "passed": not result.errors,
        "budget": dataclasses.asdict(result.budget),  # tolerance, max_function_bytes, max_total_bytes
        "functions": [_row_json(row) for row in result.rows],
        "total": _row_json(result.total),
        "problems": [{"level": p.level, "kind": p.kind, "scope": p.scope, "message": p.message} for p in result.problems],
    }
