"""The peers bench/size.py measures builder against, besides its naive image (issue 16).

- ``sam build`` (aws-sam-cli, from PyPI, in the virtual environment scripts/setup makes) of the
  example's ZIP template, offline with pip pointed at the wheelhouse: each function's bytes are
  its build folder plus the folders of its layers, unzipped, as Lambda unpacks them (pip under
  ``sam build`` writes no bytecode);
- a SAM image function made from AWS's documented Dockerfile: ``FROM`` the base, ``COPY`` the
  function's requirements (here: those of its layers), ``pip install -r requirements.txt
  --target /var/task``, ``COPY`` the code (its CodeUri). pip's wheels come from a bind mount,
  as for the naive image: pip inside a container cannot reach PyPI here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SAM_IMAGE = "sam-image-{function}:size-bench"
SAM_IMAGE_DOCKERFILE = """\
FROM {base}
COPY requirements-{function}.txt requirements.txt
RUN --mount=type=bind,source=wheelhouse,target=/wheels \\
    pip install --break-system-packages --no-index --find-links /wheels -r requirements.txt --target /var/task
COPY backend/ /var/task/
CMD ["{handler}"]
"""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref X`` reads as ``{"Ref": "X"}``)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


def without_sources(root: Path) -> None:
    """``[strip] sources = false`` in the builder.toml at ``root`` (before its first table of functions)."""
    path = root / "builder.toml"
    text = path.read_text() if path.is_file() else ""
    at = text.find("\n[functions.")
    at = len(text) if at < 0 else at
    path.write_text(text[:at] + "\n\n[strip]\nsources = false\n" + text[at:])


def sam_cli() -> str:
    """The SAM CLI scripts/setup installs (or BUILDER_SAM names)."""
    for candidate in (os.environ.get("BUILDER_SAM"), "/opt/builder-sam/bin/sam", shutil.which("sam")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("The SAM CLI is not installed: scripts/setup installs it in /opt/builder-sam.")


def layers_of(template: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each function's layers (logical IDs, Globals' first) and each layer's ContentUri."""
    doc = yaml.load(template.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader with tags)
    resources = doc.get("Resources", {})
    shared = doc.get("Globals", {}).get("Function", {}).get("Layers", [])
    content = {lid: r["Properties"]["ContentUri"] for lid, r in resources.items() if r.get("Type") == "AWS::Serverless::LayerVersion"}
    functions = {}
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Serverless::Function":
            refs = [*shared, *r.get("Properties", {}).get("Layers", [])]
            functions[lid] = [ref["Ref"] for ref in refs if isinstance(ref, dict) and ref.get("Ref") in content]
    return functions, content


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def sam_zip(root: Path, wheelhouse: Path, logical_ids: dict[str, str]) -> dict[str, int]:
    """``sam build`` of the ZIP template in ``root``: bytes of each function with its layers, by name."""
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run([sam_cli(), "build", "--template", "template.yaml"], cwd=root, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"sam build failed:\n{result.stdout}{result.stderr}")
    functions, _ = layers_of(root / "template.yaml")
    built = root / ".aws-sam" / "build"
    return {name: folder_bytes(built / lid) + sum(folder_bytes(built / layer) for layer in functions[lid])
            for name, lid in logical_ids.items()}  # fmt: skip


def sam_image_requirements(root: Path, context: Path, logical_ids: dict[str, str]) -> None:
    """``requirements-<function>.txt`` in the naive image's context: its layers' requirements."""
    functions, content = layers_of(root / "template.yaml")
    for name, lid in logical_ids.items():
        lines = []
        for layer in functions[lid]:
            path = root / content[layer] / "requirements.txt"
            if path.is_file():
                lines += [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        (context / f"requirements-{name}.txt").write_text("".join(f"{line}\n" for line in lines))


def build_sam_image(build: Callable[[str, str, Path], None], context: Path, base: str, name: str, handler: str) -> None:
    """The documented image of one function, from ``context`` (with ``build(dockerfile, tag, context)``)."""
    build(SAM_IMAGE_DOCKERFILE.format(base=base, function=name, handler=handler), SAM_IMAGE.format(function=name), context)
