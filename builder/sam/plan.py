"""Plan which functions of a SAM template become container images.

Pure over a parsed :class:`~builder.sam.Template`: sizes and git history come
from callers (``git_change_counts`` is the one helper that runs git).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core import proc
from ..core.errors import BuildError
from ..core.limits import LIMIT_BYTES

if TYPE_CHECKING:  # sam re-exports this module's names, so it is imported for types only
    from .template import FunctionInfo, Template

HEAVY_SHARE = 0.5  # above this share of the limit a function should become an image
TINY_SHARE = 0.1
FREQUENT_CHANGES = 10  # commits in the git window that make a function "frequently changed"
SYNC_EVENTS = frozenset({"Api", "HttpApi"})


@dataclass(frozen=True)
class Advice:
    """What ``plan`` says about one function; sizes are unzipped bytes."""

    logical_id: str
    package_type: str
    runtime: str | None
    handler: str | None
    code_uri: str | None
    layers: tuple[str, ...]
    unzipped_bytes: int
    headroom_bytes: int
    recommendation: str  # "convert", "keep-zip" or "already-image"
    reasons: tuple[str, ...]


_SUB_VAR = re.compile(r"\$\{([^!}][^}]*)\}")


def references(value: Any) -> set[str]:
    """Logical ids that ``value`` names through Ref, GetAtt or Sub (pseudo parameters left out)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, arg in value.items():
            if name == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif name == "Fn::GetAtt" and isinstance(arg, list) and arg:
                found.add(str(arg[0]))
            elif name == "Fn::Sub":
                text, local = (
                    (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
                )
                if isinstance(text, str):
                    found |= {m.split(".")[0] for m in _SUB_VAR.findall(text)} - set(local or {})
                found |= references(local)
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return {name for name in found if not name.startswith("AWS::")}


def find_authorizers(template: Template) -> dict[str, str]:
    """Function id -> why it is an authorizer (API Auth, ApiGateway Authorizer or its name)."""
    ids = {f.logical_id for f in template.functions}
    found: dict[str, str] = {}
    for rid, resource in template.data["Resources"].items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            auth = props.get("Auth")
            auth = auth if isinstance(auth, dict) else {}
            for name, conf in (auth.get("Authorizers") or {}).items():
                for fid in (
                    references(conf.get("FunctionArn") if isinstance(conf, dict) else None) & ids
                ):
                    found.setdefault(fid, f"authorizer {name} of {rid}")
        elif kind in ("AWS::ApiGateway::Authorizer", "AWS::ApiGatewayV2::Authorizer"):
            for fid in references(props.get("AuthorizerUri")) & ids:
                found.setdefault(fid, f"authorizer {rid}")
    for info in template.functions:
        if "authorizer" in f"{info.logical_id} {info.handler or ''}".lower():
            found.setdefault(info.logical_id, "authorizer (by its name)")
    return found


def _cold_start_critical(info: FunctionInfo) -> bool:
    events = info.properties.get("Events")
    kinds = (
        {e.get("Type") for e in events.values() if isinstance(e, dict)}
        if isinstance(events, dict)
        else set()
    )
    return bool(kinds & SYNC_EVENTS) or "FunctionUrlConfig" in info.properties


def _share(size: int) -> str:
    share = 100 * size / LIMIT_BYTES
    return (
        f"{share:.1f}% of the 250 MB limit" if share < 10 else f"{share:.0f}% of the 250 MB limit"
    )


def plan_template(
    template: Template,
    *,
    sizes: Callable[[FunctionInfo], int],
    change_counts: Mapping[str, int],
) -> tuple[Advice, ...]:
    """Recommend, per function, converting to an image or keeping the ZIP package.

    Convert what is heavy (over half the 250 MB limit), what authorizes API
    calls and what changes often (``change_counts``: commits per CodeUri);
    keep the rest, noting when it is tiny, rarely changed or cold-start-critical.
    ``sizes`` gives a function's unzipped code plus dependencies plus layers.
    """
    authorizers = find_authorizers(template)
    plans = []
    for info in template.functions:
        size = sizes(info)
        changes = change_counts.get(info.code_uri) if info.code_uri else None
        if info.package_type == "Image":
            recommendation, reasons = "already-image", ["PackageType: Image"]
        else:
            reasons = []
            if size > LIMIT_BYTES:
                reasons.append(f"over the 250 MB limit by {(size - LIMIT_BYTES) / 2**20:.1f} MB")
            elif size > HEAVY_SHARE * LIMIT_BYTES:
                reasons.append(f"heavy: {_share(size)}")
            if info.logical_id in authorizers:
                reasons.append(authorizers[info.logical_id])
            if changes is not None and changes >= FREQUENT_CHANGES:
                reasons.append(f"changed often: {changes} recent commits to {info.code_uri}")
            recommendation = "convert" if reasons else "keep-zip"
            if not reasons:
                reasons.append(
                    ("tiny: " if size < TINY_SHARE * LIMIT_BYTES else "fits: ") + _share(size)
                )
                reasons.append(
                    "no git history"
                    if changes is None
                    else f"rarely changed: {changes} recent commit{'' if changes == 1 else 's'}"
                )
                if _cold_start_critical(info):
                    reasons.append("cold-start-critical: serves synchronous API calls")
        plans.append(
            Advice(
                info.logical_id,
                info.package_type,
                info.runtime,
                info.handler,
                info.code_uri,
                info.layers,
                size,
                LIMIT_BYTES - size,
                recommendation,
                tuple(reasons),
            )
        )
    return tuple(plans)


def git_change_counts(
    repo_dir: str | os.PathLike[str], code_uris: Iterable[str], since: str = "90 days"
) -> dict[str, int]:
    """Commits in the last ``since`` that touched each CodeUri (relative to ``repo_dir``).

    Returns {} when ``repo_dir`` is not in a git work tree with commits, or git is missing.
    """
    try:
        head = proc.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo_dir, check=False)
    except BuildError:
        return {}
    if head.returncode != 0:
        return {}
    counts = {}
    for uri in sorted(set(code_uris)):
        result = proc.run(
            ["git", "rev-list", "--count", f"--since={since}", "HEAD", "--", uri],
            cwd=repo_dir,
            check=False,
        )
        if result.returncode == 0 and result.output.strip().isdigit():
            counts[uri] = int(result.output.strip())
    return counts
