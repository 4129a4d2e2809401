"""The only code that talks to the Docker engine (``docker_engine``: BuildKit builds through
the CLI, the rest through the SDK) or to a registry (``registry``: addresses, ECR logins,
pushes, image-uris.json).

What the rest of builder needs of an engine is the :class:`Engine` protocol, so orchestration
can be tested with a fake; this module imports no Docker SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol


@dataclass(frozen=True)
class ImageInfo:
    """What the engine knows of a local image."""

    ref: str
    id: str
    size: int  # bytes, all layers
    layers: tuple[str, ...]  # diff IDs, lowest first
    labels: Mapping[str, str]
    platform: str = "linux/amd64"  # os/architecture the image's programs are built for


@dataclass(frozen=True)
class Container:
    """A started container: its ID, name and labels."""

    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    paused: bool = False  # frozen between invokes


class Engine(Protocol):
    """What the build pipeline asks of a container engine."""

    def image_exists(self, ref: str) -> bool:
        """Whether a local image ``ref`` exists."""
        ...

    def image_info(self, ref: str) -> ImageInfo:
        """Size, layers and labels of a local image."""
        ...

    def build(
        self, context: Path, dockerfile: str, *, target: str | None, tag: str,
        build_args: Mapping[str, str] | None = None, platform: str | None = None,
    ) -> None:  # fmt: skip
        """Build ``dockerfile`` (text) in ``context``, tagging the result ``tag`` (for ``platform``)."""
        ...

    def build_files(
        self, context: Path, dockerfile: str, *, target: str, dest: Path, build_args: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> None:  # fmt: skip
        """Build ``target`` of ``dockerfile`` in ``context`` and write its files to ``dest``."""
        ...

    def image_config(self, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A local image as the engine's inspect answers, and its history (newest first)."""
        ...

    def stored_config(self, ref: str) -> dict[str, Any]:
        """The image config the engine stores for ``ref``, read from ``docker save``."""
        ...

    def load(self, archive: bytes | IO[bytes]) -> None:
        """``docker load`` an archive."""
        ...

    def remove_image(self, ref: str) -> None:
        """Remove a local image (by tag or ID); nothing when it is gone already."""
        ...
