"""Requirements files as pip reads them: named requirements, ``-r`` followed, options skipped.

A function's requirements can also be a ``pyproject.toml`` (SAM's ``BuildMethod: python-uv``):
its static ``[project] dependencies``, which is what ``uv export --no-dev`` installs, and a
``uv.lock`` beside it, which asks for nothing but pins versions (:func:`uv_lock_pins`).
"""

from __future__ import annotations

import fnmatch
import posixpath
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..core.errors import TemplateError
from ..project.model import PYPROJECT, REQUIREMENTS, UV_LOCK
from .target import Target


def requirement_files(folder: Path, build_method: str, root: Path) -> tuple[str, ...]:
    """A function's requirements files, as `sam build` picks them in its CodeUri ``folder`` (paths
    relative to it): ``requirements.txt``; without one, under ``BuildMethod: python-uv`` (or
    ``makefile``, whose Makefile builder does not run), ``pyproject.toml``, then those of the local
    packages it depends on (:func:`local_sources`, transitively), then the ``uv.lock`` uv resolves it
    with: beside it, else its workspace's (a folder above, up to ``root``)."""
    if (folder / REQUIREMENTS).is_file():
        return (REQUIREMENTS,)
    if build_method not in ("python-uv", "makefile") or not (folder / PYPROJECT).is_file():
        return ()
    if build_method == "makefile" and not _static_dependencies(folder / PYPROJECT):
        return ()  # a Makefile may read a pyproject.toml of another tool (Poetry's): builder cannot
    here, root = folder.resolve(), root.resolve()
    projects, queue = [here], [here]
    while queue:
        try:
            locals_ = local_sources(queue.pop(0) / PYPROJECT, root).values()
        except TemplateError:
            continue  # a pyproject.toml builder cannot read: said when it is locked, for its function alone
        for local in locals_:
            if local not in projects:
                projects.append(local)
                queue.append(local)
    files = [posixpath.relpath(p / PYPROJECT, here) for p in projects]
    lock = _uv_lock(here, root)
    return (*files, posixpath.relpath(lock, here)) if lock else tuple(files)


def local_sources(pyproject: Path, root: Path | None) -> dict[str, Path]:
    """Canonical name -> folder of each dependency of the uv project ``pyproject`` that uv takes from
    a folder of the backend (``[tool.uv.sources]``: ``path = ...`` or ``workspace = true``; the
    project's own table over its workspace's, up to ``root``), not from an index."""
    folder = pyproject.parent.resolve()
    workspace = _workspace_root(folder, root.resolve()) if root else None
    wanted = {_name(text) for _, text in _project_dependencies(pyproject)}  # a workspace's table names them all
    found: dict[str, Path] = {}
    for declared in ([workspace / PYPROJECT] if workspace else []) + [pyproject]:
        for name, source in _table(_toml(declared), "tool", "uv", "sources").items():
            key = canonicalize_name(name)
            if key not in wanted:
                continue
            local = None
            if isinstance(source, dict) and isinstance(source.get("path"), str):
                local = (declared.parent / source["path"]).resolve()
            elif isinstance(source, dict) and source.get("workspace") is True and workspace:
                local = _member(workspace, key)
            if local is not None and (local / PYPROJECT).is_file() and (root is None or local.is_relative_to(root.resolve())):
                found[key] = local
            else:
                found.pop(key, None)  # an index, git or URL source here, over the workspace's
    return found


def _workspace_root(folder: Path, root: Path) -> Path | None:
    """The folder, up to ``root``, of the uv workspace whose members include the project in ``folder``."""
    for above in folder.parents:
        if not above.is_relative_to(root):
            return None
        if _workspace_globs(above / PYPROJECT, folder.relative_to(above).as_posix()):
            return above
    return None


def _uv_lock(folder: Path, root: Path) -> str | None:
    """The uv.lock of the uv project in ``folder``: its own, else its workspace's (:func:`_workspace_root`)."""
    if (folder / UV_LOCK).is_file():
        return str(folder / UV_LOCK)
    workspace = _workspace_root(folder, root)
    return str(workspace / UV_LOCK) if workspace and (workspace / UV_LOCK).is_file() else None


def _member(workspace: Path, name: str) -> Path | None:
    """The member of the workspace at ``workspace`` whose project is named ``name`` (canonical)."""
    for pattern in _workspace_globs(workspace / PYPROJECT, None):
        for folder in sorted(workspace.glob(pattern)):
            if (folder / PYPROJECT).is_file() and _workspace_globs(workspace / PYPROJECT, folder.relative_to(workspace).as_posix()):
                if canonicalize_name(str(_table(_toml(folder / PYPROJECT), "project").get("name", ""))) == name:
                    return folder.resolve()
    return None


def _workspace_globs(pyproject: Path, member: str | None) -> list[str]:
    """A uv workspace's member globs (``[tool.uv.workspace] members``; [] when ``pyproject`` is not a
    workspace's); with ``member`` (a relative path), [] unless it is one of them and not excluded."""
    try:
        workspace = _table(_toml(pyproject), "tool", "uv", "workspace") if pyproject.is_file() else {}
    except TemplateError:
        return []
    globs = {key: [g.rstrip("/") for g in workspace.get(key) or () if isinstance(g, str)] for key in ("members", "exclude")}
    if member is None:
        return globs["members"]
    inside = any(fnmatch.fnmatch(member, g) for g in globs["members"])
    return globs["members"] if inside and not any(fnmatch.fnmatch(member, g) for g in globs["exclude"]) else []


def requirement_lines(path: Path, seen: frozenset[Path] = frozenset(), *,
                      root: Path | None = None) -> Iterator[tuple[str, str]]:  # fmt: skip
    """(``file:line``, requirement text) of a requirements file, following ``-r``; of a pyproject.toml,
    its dependencies from an index (its local packages', up to ``root``, are files of their own)."""
    if path.name == PYPROJECT:
        local = local_sources(path, root)
        yield from ((where, text) for where, text in _project_dependencies(path) if _name(text) not in local)
        return
    if path.name == UV_LOCK:
        return  # it pins what the pyproject.toml beside it asks for
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"Cannot read {path}: {exc}.") from exc
    lines = text.replace("\\\n", " ").splitlines()
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            option, _, value = line.replace("=", " ", 1).partition(" ")
            if option in ("-r", "--requirement"):
                included = (path.parent / value.strip()).resolve()
                if included not in seen:
                    yield from requirement_lines(included, seen | {path.resolve()})
            elif option in ("-e", "--editable"):
                raise TemplateError(f"{path}:{number}: builder cannot size the editable requirement {value.strip()!r}.")
            continue  # index and install options do not change what is installed
        yield f"{path}:{number}", line.split(" --hash", 1)[0].strip()


def _name(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return ""


def requirement_names(path: Path, target: Target, root: Path | None = None) -> tuple[str, ...]:
    """Canonical names of what ``path`` asks for directly (markers evaluated for ``target``), sorted."""
    env = target.marker_environment()
    names = set()
    for _, text in requirement_lines(path, root=root):
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # a URL or path requirement: pip-compile reports what it cannot lock
        if req.marker is None or req.marker.evaluate(env):
            names.add(canonicalize_name(req.name))
    return tuple(sorted(names))


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"Cannot read {path}: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path} is not valid TOML ({exc}). Fix it, then run builder again.") from exc


def _table(data: dict, *keys: str) -> dict:
    """``data[k1][k2]...``, or {} where a level is missing or not a table."""
    found: object = data
    for key in keys:
        found = found.get(key) if isinstance(found, dict) else None
    return found if isinstance(found, dict) else {}


def _static_dependencies(path: Path) -> bool:
    """Whether the pyproject.toml ``path`` lists its dependencies in [project] (PEP 621), statically."""
    try:
        project = _table(_toml(path), "project")
    except TemplateError:
        return False
    return bool(project) and "dependencies" not in (project.get("dynamic") or [])


def _project_dependencies(path: Path) -> Iterator[tuple[str, str]]:
    """(``file:line``, requirement) of a pyproject.toml's static ``[project] dependencies``."""
    project = _toml(path).get("project")
    if not isinstance(project, dict):
        raise TemplateError(
            f"{path} has no [project] table, so builder cannot tell what the function requires (builder reads "
            "the dependencies of PEP 621, as `uv add` writes them, not a tool's own table such as "
            "[tool.poetry.dependencies]). List them in [project] dependencies, or put a requirements.txt beside it "
            "(e.g. `poetry export -f requirements.txt -o requirements.txt`)."
        )
    if "dependencies" in (project.get("dynamic") or []):
        raise TemplateError(
            f"{path} declares its dependencies dynamic (set by its build backend), which builder does not run. "
            "List them in [project] dependencies, or put a requirements.txt beside it."
        )
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise TemplateError(f"{path}: [project] dependencies must be a list of requirement strings, like "
                            '["requests>=2.31", "boto3"]. Fix it, then run builder again.')  # fmt: skip
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((n for n, line in enumerate(lines, 1) if line.lstrip().startswith("dependencies")), 1)
    for dependency in dependencies:
        quoted = (f'"{dependency}"', f"'{dependency}'")
        number = next((n for n, line in enumerate(lines, 1) if n >= start and any(q in line for q in quoted)), start)
        yield f"{path}:{number}", dependency.strip()


def uv_lock_pins(path: Path, target: Target) -> tuple[str, ...]:
    """``name==version`` of each distribution a uv.lock pins for ``target``, from an index, sorted.

    A package uv resolved to several versions (for different Pythons or platforms) is pinned to the
    one whose ``resolution-markers`` hold for the target; the project itself (a path) is not pinned.
    """
    env = target.marker_environment()
    versions: dict[str, set[str]] = {}
    packages = _toml(path).get("package")
    for package in packages if isinstance(packages, list) else ():
        source = package.get("source") if isinstance(package, dict) else None
        if not isinstance(source, dict) or "registry" not in source or "version" not in package:
            continue
        try:
            markers = [Marker(m) for m in package.get("resolution-markers", [])]
        except InvalidMarker:
            markers = []
        if not markers or any(m.evaluate(env) for m in markers):
            versions.setdefault(canonicalize_name(str(package.get("name", ""))), set()).add(str(package["version"]))
    return tuple(f"{name}=={next(iter(found))}" for name, found in sorted(versions.items()) if len(found) == 1 and name)
