"""How much each SAM function weighs unzipped: what Lambda counts against its 250 MB limit.

A ZIP function's size is its code, plus its own dependencies, plus every layer
it uses, all unzipped. Each part is measured as ``sam build`` makes it (the
Python builder of aws-lambda-builders), not guessed:

* **Code** (a ``CodeUri`` folder, or a layer's ``ContentUri``): every file in
  it, as SAM copies it: everything but the names in :data:`builder.core.files.SAM_EXCLUDED` at any
  depth (``.git``, ``__pycache__``, ``*.pyc``, virtual environments, ...;
  SAM's own list, plus builder's work folder ``.builder``). Tests, events and
  docs in the folder are counted, because SAM ships them: ``CodeUri: ./``
  ships the whole backend. A ``.zip`` file is counted by its unzipped size.
  Symbolic links count as what they point to.
* **Dependencies**: when that folder holds a ``requirements.txt`` (or, under
  ``BuildMethod: python-uv``, a ``pyproject.toml``), SAM installs it there.
  builder counts the installed size (the wheels' RECORD sizes) of the
  distributions it names and of their requirements, transitively, as the
  backend's lock file pins them (the :class:`~builder.dists.DistIndex`).
* **Layers**: ``!Ref`` to an ``AWS::Serverless::LayerVersion`` with a local
  ``ContentUri`` is measured as above. A layer built by a Makefile
  (``BuildMethod: makefile``) counts its whole ``ContentUri``, an upper bound:
  builder does not run Makefiles; with what its requirements.txt or
  pyproject.toml asks for, which such a Makefile installs. A layer given by
  ARN or by a condition cannot be measured here; it is listed in ``unknown``
  and the size is a lower bound.

The same folder is measured once however many functions use it. Reading the
backend's files is the only I/O; the lock's index is loaded only when some
folder has a requirements.txt.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..core.errors import ConfigError, TemplateError
from ..core.files import sam_excluded
from ..deps.dists import DistIndex
from ..deps.requirements import is_local, requirement_files, requirement_lines
from ..deps.target import Target
from ..project.model import DEFAULT_ARCHITECTURE
from .template import FunctionInfo, Template, build_method

log = logging.getLogger("builder")


@dataclass(frozen=True)
class Part:
    """A measured folder: its files, and what its requirements.txt installs."""

    files: int
    dependencies: int
    distributions: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.files + self.dependencies


@dataclass(frozen=True)
class FunctionSize:
    """A function's unzipped size, by part; ``unknown`` names what could not be measured."""

    logical_id: str
    code: int
    dependencies: int
    layers: tuple[tuple[str, int], ...]  # (layer logical id, bytes), in the function's order
    unknown: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.code + self.dependencies + sum(size for _, size in self.layers)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "dependencies": self.dependencies,
            "layers": dict(self.layers),
            "total": self.total,
            "unknown": list(self.unknown),
        }


def folder_size(path: Path) -> int:
    """Bytes of the files SAM would copy from ``path`` (a folder, a .zip or a single file)."""
    if path.is_file():
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        return path.stat().st_size
    total = 0
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not sam_excluded(d)]
        for name in files:
            if sam_excluded(name):
                continue
            try:
                total += os.stat(os.path.join(top, name)).st_size
            except FileNotFoundError:  # a dangling symbolic link: SAM would fail on it too
                log.warning("%s is a broken link; not counted", os.path.join(top, name))
    return total


def requirements_closure(
    path: Path, index: DistIndex, target: Target, *, lock: str = "the lock file", root: Path | None = None
) -> tuple[str, ...]:
    """Canonical names of what installing ``path`` brings in, with requirements, as locked (a
    pyproject.toml's local packages, up to ``root``, are measured by their own files)."""
    env = target.marker_environment()
    wanted: list[tuple[str, frozenset[str], str]] = []
    for where, text in requirement_lines(path, root=root):
        if is_local(text):
            continue  # a local project: the files of its folder, which builder does not weigh here
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise TemplateError(
                f"{where}: cannot parse {text!r} ({exc}); builder sizes named requirements only."
            ) from exc
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name: str = canonicalize_name(req.name)
        if name not in index:
            raise TemplateError(
                f"{where} needs {req.name}, which {lock} does not pin; builder measures dependencies by "
                f"the locked wheels. Add {req.name} to the lock (pip-compile) and run again."
            )
        version = index.dist(name).version
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            log.warning(
                "%s asks for %s, but %s pins %s==%s; measured at the locked version", where, req, lock, name, version
            )
        wanted.append((name, frozenset(canonicalize_name(e) for e in req.extras), where))
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = list(wanted)
    while queue:
        name, extras, where = queue.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found.add(name)
        dist = index.dist(name)
        for req in dist.requires:
            if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": extra}) for extra in ("", *sorted(extras))
            ):
                continue
            child = canonicalize_name(req.name)
            if child not in index:
                raise TemplateError(
                    f"{name} (needed by {where}) requires {req}, which {lock} does not pin. Re-lock "
                    "(pip-compile) and run again."
                )
            queue.append((child, frozenset(canonicalize_name(e) for e in req.extras), where))
    return tuple(sorted(found))


class Sizer:
    """Measures a template's folders (relative to ``base``), each once per architecture and build method.

    ``index(architecture)`` is called, once per architecture, the first time a folder of a function
    of that architecture has a requirements.txt: an arm64 function's dependencies are its aarch64
    wheels. ``architectures`` maps logical ids to Lambda's architecture (x86_64 when missing).
    """

    def __init__(
        self,
        base: str | os.PathLike[str],
        *,
        index: Callable[[str], DistIndex] | None = None,
        target: Target | None = None,
        lock: str = "the lock file",
        own_lock: Callable[[Path, str], tuple[DistIndex, str] | None] | None = None,
        architectures: Mapping[str, str] | None = None,
    ) -> None:
        self.base = Path(base)
        self._load_index = index
        self._own_lock = own_lock  # a requirements file's own lock (its function's diverge), if any
        self._index: dict[str, DistIndex] = {}
        self.target = target or Target()
        self.lock = lock
        self.architectures = architectures or {}
        self._parts: dict[tuple[Path, str, str], Part] = {}

    def index(self, needed_by: Path, architecture: str = DEFAULT_ARCHITECTURE) -> DistIndex:
        if architecture not in self._index:
            if self._load_index is None:
                raise TemplateError(
                    f"{needed_by} names dependencies, and builder measures them from the backend's locked "
                    "wheels: run it where builder.toml is (or pass --project)."
                )
            try:
                self._index[architecture] = self._load_index(architecture)
            except ConfigError as exc:
                raise ConfigError(f"{needed_by} names dependencies, which builder measures from the "
                                  f"backend's locked wheels, so it needs its configuration: {exc}") from exc
        return self._index[architecture]

    def part(self, uri: str, owner: str, architecture: str = DEFAULT_ARCHITECTURE, build_method: str = "") -> Part:
        """The files and installed requirements, for ``architecture``, of the local folder ``uri``
        (``owner`` names it in errors; ``build_method``, its resource's, picks the requirements file)."""
        path = (self.base / uri).resolve()
        key = (path, architecture, build_method)  # two resources may build one folder differently
        if key not in self._parts:
            if not path.exists():
                raise TemplateError(
                    f"{owner} is {uri}, and {path} does not exist. Fix the path in the template (it is "
                    "relative to the template's folder), or restore the folder."
                )
            dists: tuple[str, ...] = ()
            files = requirement_files(path, build_method, self.base) if path.is_dir() else ()
            if files:
                requirements = path / files[0]
                own = self._own_lock(requirements, architecture) if self._own_lock else None
                index, lock = own or (self.index(requirements, architecture), self.lock)
                target = self.target.for_architecture(architecture)
                dists = tuple(sorted({name for f in files for name in requirements_closure(
                    path / f, index, target, lock=lock, root=self.base)}))  # a uv.lock asks for nothing  # fmt: skip
                deps = sum(index.dist(name).size for name in dists)
            else:
                deps = 0
            self._parts[key] = Part(folder_size(path), deps, dists)
        return self._parts[key]

    def function(self, template: Template, info: FunctionInfo) -> FunctionSize:
        """The unzipped size of ZIP function ``info`` (an image function weighs 0: no limit applies)."""
        if info.package_type == "Image":
            return FunctionSize(info.logical_id, 0, 0, ())
        unknown: list[str] = []
        code = deps = 0
        arch = self.architectures.get(info.logical_id, DEFAULT_ARCHITECTURE)
        inline = info.properties.get("InlineCode")
        if isinstance(inline, str):
            code = len(inline.encode())
        elif info.code_uri is None or info.code_uri.startswith(("s3://", "!", "{")):
            unknown.append(f"code {info.code_uri or '(none)'}")
        else:
            part = self.part(info.code_uri, f"{info.logical_id}'s CodeUri", arch, build_method(info.metadata))
            code, deps = part.files, part.dependencies
        layers = []
        for layer in info.layers:
            if layer in template.layers:
                method = build_method((template.data["Resources"].get(layer) or {}).get("Metadata"))
                layers.append((layer, self.part(template.layers[layer], f"{layer}'s ContentUri", arch, method).total))
            else:
                unknown.append(f"layer {layer}")
        return FunctionSize(info.logical_id, code, deps, tuple(layers), tuple(unknown))


def template_sizes(template: Template, sizer: Sizer) -> dict[str, FunctionSize]:
    """Every function's :class:`FunctionSize`, by logical id."""
    return {info.logical_id: sizer.function(template, info) for info in template.functions}
