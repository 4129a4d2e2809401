"""The records the analysis produces: why something is in (``Reason``), a resolved import
(``Edge``), and a function's ``Closure`` of local files (``LocalFile``) and distributions
(``DistNode``), with what could not be followed (``ClosureWarning``).

Later stages (the image plan, the report, ``why``) read these and nothing of the walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from packaging.utils import canonicalize_name

from ..deps.target import Target
from ..project.model import FunctionConfig


class Reason(NamedTuple):
    """Why something is in a closure: (kind, origin, detail).

    ``("import", path, line)``, ``("package", path of a module in the package, 0)``,
    ``("requires", dist, requirement)``, ``("handler", handler, 0)`` or ``("include", glob, 0)``.
    """

    kind: str
    origin: str
    detail: str | int

    def __str__(self) -> str:
        if self.kind == "import":
            return f"import at {self.origin}:{self.detail}"
        if self.kind == "requires":
            return f"{self.origin} requires {self.detail}"
        if self.kind == "package":
            return f"package of {self.origin}"
        return f"{self.kind} {self.origin}"


class Edge(NamedTuple):
    """One import of a file, resolved: local (module, file) pairs, providing distributions, or an error."""

    reason: Reason
    optional: bool
    module: str
    local: tuple[tuple[str, str], ...]
    dists: tuple[str, ...]
    error: str
    runtime: str = ""  # the Lambda runtime's distribution that provides it, when nothing else does



class LocalFile(NamedTuple):
    """A backend file in the image; ``module`` is its dotted name ("" for data files).

    A NamedTuple rather than a dataclass: a closure run makes tens of thousands, three
    times faster this way; it is just as immutable and read by attribute the same way.
    """

    path: str
    reasons: tuple[Reason, ...]
    optional: bool = False
    size: int = 0
    module: str = ""


class DistNode(NamedTuple):
    """A locked distribution in the image (a NamedTuple, like LocalFile)."""

    name: str
    version: str
    size: int
    reasons: tuple[Reason, ...]
    optional: bool = False


@dataclass(frozen=True, slots=True)
class ClosureWarning:
    """Something the analysis could not follow (a dynamic import, an empty include glob)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Closure:
    """What one function's image must hold. Files sorted by path, distributions by name."""

    function: FunctionConfig
    target: Target
    local_files: tuple[LocalFile, ...]
    distributions: tuple[DistNode, ...]
    warnings: tuple[ClosureWarning, ...] = ()
    lock_file: str = ""
    # Distributions its code imports that nothing in the image provides but the Lambda runtime does
    # (the AWS SDK): (name, reasons), by name. Every Lambda Python base image has them.
    runtime: tuple[tuple[str, tuple[Reason, ...]], ...] = ()

    @property
    def local_modules(self) -> tuple[str, ...]:
        return tuple(sorted(f.module for f in self.local_files if f.module))

    @property
    def local_size(self) -> int:
        return sum(f.size for f in self.local_files)

    @property
    def distribution_size(self) -> int:
        return sum(d.size for d in self.distributions)

    def distribution(self, name: str) -> DistNode | None:
        name = canonicalize_name(name)
        return next((d for d in self.distributions if d.name == name), None)
