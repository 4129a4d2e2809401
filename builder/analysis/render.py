"""Pure renderers of closures: the "tree of why" text and the JSON documented in docs/closure-json.md.

Nothing here prints; the CLI decides where the text goes. Output is deterministic
(sorted, no timestamps, no absolute paths).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from ..core.units import human as human_size
from .records import Closure, DistNode, LocalFile, Reason

if TYPE_CHECKING:
    from ..deps.dists import DistIndex

SCHEMA_VERSION = 1


def _reason_text(reason: Reason) -> str:
    if reason.kind == "import":
        return f"import at {reason.origin}:{reason.detail}"
    if reason.kind == "requires":
        return f"{reason.origin} requires {reason.detail}"
    if reason.kind == "handler":
        return "handler"
    if reason.kind == "package":
        return f"package of {reason.origin}"
    if reason.kind == "data":
        return f"a file of {reason.origin} (its ZIP held it)"
    if reason.kind == "keep":
        return f"keep {reason.origin}"
    return f"include {reason.origin}"


def _reasons_text(reasons: tuple, optional: bool) -> str:
    text = "<- " + _reason_text(reasons[0])
    if len(reasons) > 1:
        text += f" (+{len(reasons) - 1} more)"
    return text + ("  [optional]" if optional else "")


def render_tree(closure: Closure, why: str | None = None) -> str:
    """The closure as text: local files, then distributions as a tree of why, then warnings.

    With ``why`` (a distribution, a local file path or a module), only the chains that pull it in.
    """
    if why is not None:
        return _render_why(closure, why)
    fn = closure.function
    lines = [f"{fn.name}  (handler {fn.handler}, Python {closure.target.short_version} "
             f"{closure.target.sys_platform}/{closure.target.platform_machine})", ""]  # fmt: skip
    lines.append(f"local files: {len(closure.local_files)}, {human_size(closure.local_size)}")
    lock = f", locked in {closure.lock_file}" if closure.lock_file else ""
    width = max((len(f.path) for f in closure.local_files), default=0)
    for f in closure.local_files:
        lines.append(f"  {f.path:<{width}}  {human_size(f.size):>9}  {_reasons_text(f.reasons, f.optional)}")
    lines.append("")
    if not closure.distributions:
        lines.append("distributions: none")
    else:
        lines.append(f"distributions: {len(closure.distributions)}, {human_size(closure.distribution_size)}{lock}")
        by_name = {d.name: d for d in closure.distributions}
        children: dict[str, list[str]] = {}
        roots = []
        for d in closure.distributions:
            first = d.reasons[0]
            if first.kind == "requires" and first.origin in by_name and first.origin != d.name:
                children.setdefault(first.origin, []).append(d.name)
            else:
                roots.append(d.name)
        rows: list[tuple[str, str, str]] = []

        def walk(name: str, depth: int) -> None:
            d = by_name[name]
            label = "  " * depth + f"{d.name} {d.version}"
            rows.append((label, human_size(d.size), _reasons_text(d.reasons, d.optional)))
            for child in sorted(children.get(name, ())):
                walk(child, depth + 1)

        for name in sorted(roots):
            walk(name, 0)
        width = max(len(r[0]) for r in rows)
        lines.extend(f"  {label:<{width}}  {size:>9}  {reasons}" for label, size, reasons in rows)
    if closure.runtime:
        lines += ["", "from the Lambda runtime (every Lambda Python base image has them; a requirement pins a version):"]
        lines.extend(f"  {name}  {_reasons_text(why, False)}" for name, why in closure.runtime)
    if closure.warnings:
        lines += ["", f"warnings: {len(closure.warnings)}"]
        lines.extend(f"  {w.path}:{w.line}: {w.message}" for w in closure.warnings)
    return "\n".join(lines) + "\n"


def _render_why(closure: Closure, why: str) -> str:
    dists = {d.name: d for d in closure.distributions}
    files = {f.path: f for f in closure.local_files}
    modules = {f.module: f for f in closure.local_files if f.module}
    wanted = canonicalize_name(why)
    node: DistNode | LocalFile
    if wanted in dists:
        node, label = dists[wanted], f"{wanted} {dists[wanted].version} ({human_size(dists[wanted].size)})"
    elif why in files or why in modules:
        node = files.get(why) or modules[why]
        label = node.path
    elif any(p.endswith("/" + why.lstrip("/")) for p in files):  # relative to a code folder, as in the image
        node = next(f for p, f in files.items() if p.endswith("/" + why.lstrip("/")))
        label = node.path
    else:
        runtime = dict(closure.runtime).get(wanted)
        if runtime:
            return f"{why} comes from the Lambda runtime in {closure.function.name}:\n" + "".join(
                f"  {why} <- {_reason_text(r)}\n" for r in runtime)
        return f"{why} is not in the closure of {closure.function.name}.\n"
    lines = [f"why {label} is in {closure.function.name}:"]
    for reason in node.reasons:
        chain = [_reason_text(reason)]
        seen = {node.name if isinstance(node, DistNode) else node.path}
        step = reason
        while step.kind in ("import", "package", "requires") and step.origin not in seen:
            seen.add(step.origin)
            parent = dists.get(step.origin) if step.kind == "requires" else files.get(step.origin)
            if parent is None:
                break
            step = parent.reasons[0]
            chain.append(_reason_text(step) if step.kind != "handler" else f"handler {step.origin}")
        lines.append(f"  {why} <- " + " <- ".join(chain))
    return "\n".join(lines) + "\n"


def _reason_json(reason: Reason) -> dict[str, Any]:
    if reason.kind == "import":
        return {"kind": "import", "path": reason.origin, "line": reason.detail}
    if reason.kind == "requires":
        return {"kind": "requires", "by": reason.origin, "requirement": reason.detail}
    if reason.kind == "handler":
        return {"kind": "handler", "handler": reason.origin}
    if reason.kind == "package":
        return {"kind": "package", "of": reason.origin}
    if reason.kind == "data":
        return {"kind": "data", "root": reason.origin}
    if reason.kind == "keep":
        return {"kind": "keep", "name": reason.origin}
    return {"kind": "include", "pattern": reason.origin}


def closure_to_json(closure: Closure) -> dict[str, Any]:
    """The closure as a JSON-able dict (schema_version 1, docs/closure-json.md)."""
    fn, target = closure.function, closure.target
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "closure",
        "function": {"name": fn.name, "handler": fn.handler, "module": fn.module},
        "target": {
            "python_version": target.python_version,
            "sys_platform": target.sys_platform,
            "platform_machine": target.platform_machine,
            "implementation_name": target.implementation_name,
        },
        "lock_file": closure.lock_file,
        "local_files": [
            {"path": f.path, "module": f.module or None, "size": f.size, "optional": f.optional,
             "reasons": [_reason_json(r) for r in f.reasons]}  # fmt: skip
            for f in closure.local_files
        ],
        "distributions": [
            {"name": d.name, "version": d.version, "size": d.size, "optional": d.optional,
             "reasons": [_reason_json(r) for r in d.reasons]}  # fmt: skip
            for d in closure.distributions
        ],
        "warnings": [{"path": w.path, "line": w.line, "message": w.message} for w in closure.warnings],
        "runtime": [{"name": name, "reasons": [_reason_json(r) for r in why]} for name, why in closure.runtime],
        "totals": {
            "local_files": len(closure.local_files),
            "local_size": closure.local_size,
            "distributions": len(closure.distributions),
            "distribution_size": closure.distribution_size,
            "size": closure.local_size + closure.distribution_size,
        },
    }


def closures_to_json(closures: Mapping[str, Closure]) -> dict[str, Any]:
    """Several closures: ``{"schema_version": 1, "kind": "closures", "functions": [...]}`` by function name."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "closures",
        "functions": [closure_to_json(closures[name]) for name in sorted(closures)],
    }


def render_unused(names: tuple[str, ...], index: DistIndex) -> str:
    """The ``closure --unused`` text: locked distributions that no function needs."""
    if not names:
        return "Every locked distribution is needed by at least one function.\n"
    rows = [(f"{n} {index.dist(n).version}", human_size(index.dist(n).size)) for n in names]
    width = max(len(r[0]) for r in rows)
    total = sum(index.dist(n).size for n in names)
    lines = [f"locked but needed by no function: {len(names)}, {human_size(total)}"]
    lines.extend(f"  {label:<{width}}  {size:>9}" for label, size in rows)
    return "\n".join(lines) + "\n"


def unused_to_json(names: tuple[str, ...], index: DistIndex) -> dict[str, Any]:
    """``{"schema_version": 1, "kind": "unused", "unused": [{"name", "version", "size"}]}``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "unused",
        "unused": [{"name": n, "version": index.dist(n).version, "size": index.dist(n).size} for n in names],
    }
