"""Requirements files as pip reads them: named requirements, ``-r`` followed, options skipped.

A function's requirements can also be a ``pyproject.toml`` (SAM's ``BuildMethod: python-uv``):
its static ``[project] dependencies``, which is what ``uv export --no-dev`` installs, and a
``uv.lock`` beside it, which asks for nothing but pins versions (:func:`uv_lock_pins`).

A requirements file may name a local project, a folder of the backend with its setup.py or
pyproject.toml (``../shared/lib/``, ``-e ./pkg``): pip builds and installs it, as `sam build`
does; builder ships its modules as code and locks what it requires (:func:`local_project`).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Iterator
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
    return {name: source for name, source in _uv_sources(pyproject, root).items() if isinstance(source, Path)}


def _uv_sources(pyproject: Path, root: Path | None) -> dict[str, Path | str]:
    """Canonical name -> where uv takes each dependency of ``pyproject`` from when not from an index:
    a folder of the backend (a Path, see :func:`local_sources`), or what builder cannot install
    (a str saying what: a git repository, a URL, a file, a folder outside the backend)."""
    folder = pyproject.parent.resolve()
    workspace = _workspace_root(folder, root.resolve()) if root else None
    wanted = {_name(text) for _, text in _project_dependencies(pyproject)}  # a workspace's table names them all
    found: dict[str, Path | str | None] = {}  # None: an index, over the workspace's source
    for declared in ([workspace / PYPROJECT] if workspace else []) + [pyproject]:
        for name, source in _table(_toml(declared), "tool", "uv", "sources").items():
            key = canonicalize_name(name)
            if key in wanted:
                found[key] = _source(source, declared, workspace, key, root)
    return {name: source for name, source in found.items() if source is not None}


def _source(source: object, declared: Path, workspace: Path | None, name: str, root: Path | None) -> Path | str | None:
    """One entry of ``[tool.uv.sources]`` in ``declared`` (see :func:`_uv_sources`); None: an index."""
    entries = source if isinstance(source, list) else [source]
    for entry in (e for e in entries if isinstance(e, dict)):
        for kind in ("git", "url"):
            if isinstance(entry.get(kind), str):
                return f"{'the git repository' if kind == 'git' else 'the URL'} {entry[kind]}"
    if len(entries) != 1 or not isinstance(source, dict):
        return None  # indexes chosen by markers: from an index all the same
    local = None
    if isinstance(source.get("path"), str):
        local = (declared.parent / source["path"]).resolve()
    elif source.get("workspace") is True and workspace:
        local = _member(workspace, name)
    if local is None:
        return None
    if not (local / PYPROJECT).is_file():
        return f"the path {source.get('path') or local}, which is not a folder with a pyproject.toml"
    if root is not None and not local.is_relative_to(root.resolve()):
        return f"the folder {local}, outside the backend"
    return local


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
        sources = _uv_sources(path, root)
        for where, text in _project_dependencies(path):
            source = sources.get(_name(text))
            if isinstance(source, str):
                raise TemplateError(
                    f"{where}: uv takes {text!r} from {source} ([tool.uv.sources]), which builder cannot install: "
                    "it installs dependencies from a package index, or from folders of the backend that have a "
                    "pyproject.toml. Publish the package to your index (and drop its source), or make the source "
                    "a path to such a folder inside the backend, then run builder again."
                )
            if source is None:
                yield where, text
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
            elif option in ("-e", "--editable") and is_local(value.strip()):
                yield f"{path}:{number}", value.strip()  # installed into the image all the same
            elif option in ("-e", "--editable"):
                raise TemplateError(f"{path}:{number}: builder cannot install the editable requirement {value.strip()!r}: "
                                    "only a local folder can be. Name the distribution instead.")  # fmt: skip
            continue  # index and install options do not change what is installed
        yield f"{path}:{number}", line.split(" --hash", 1)[0].strip()


PROJECT_FILES = (PYPROJECT, "setup.py", "setup.cfg")  # what makes a folder a project pip can build
_EXTRAS = re.compile(r"\[[^\]]*\]$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a scheme: https:, git+ssh:, file:


def is_local(text: str) -> bool:
    """Whether the requirement line ``text`` names a local folder or file rather than a distribution
    of an index: pip's rule (a path: it has a ``/`` or starts with ``.``), or a ``file:`` URL."""
    spec = text.split(";", 1)[0].strip()
    if "@" in spec and not spec.startswith((".", "/", "file:")):
        return spec.partition("@")[2].strip().startswith("file:")
    if _URL.match(spec):
        return spec.startswith("file:")
    return spec.startswith((".", "/")) or "/" in spec


def local_project(text: str, where: str, base: Path, root: Path) -> Path | None:
    """The folder of the local project the requirement line ``text`` (at ``where``) names, resolved
    as pip resolves it where `sam build` runs it, the template's folder ``base``; None when the line
    names a distribution of an index. Raises TemplateError for a path builder cannot build: missing,
    outside the backend's folder ``root``, or not a project."""
    if not is_local(text):
        return None
    spec = text.split(";", 1)[0].strip()
    spec = spec.partition("@")[2].strip() if "@" in spec and not spec.startswith((".", "/", "file:")) else spec
    if spec.startswith("file:"):
        spec = urllib.parse.unquote(urllib.parse.urlparse(spec).path)
    folder = (base / _EXTRAS.sub("", spec)).resolve()
    fix = ("Fix the path (pip resolves it from the folder it runs in: the template's, as `sam build` runs it), "
           "or publish the package to your index and name it instead.")  # fmt: skip
    if not folder.exists():
        raise TemplateError(f"{where}: {text!r} names {folder}, which does not exist. {fix}")
    if not folder.is_relative_to(root.resolve()):
        raise TemplateError(f"{where}: {text!r} names {folder}, outside the backend ({root}), which is what "
                            "builder builds images from. Run builder from a folder that holds both (--project DIR "
                            "--template PATH), or publish the package to your index and name it instead.")  # fmt: skip
    if not folder.is_dir() or not any((folder / name).is_file() for name in PROJECT_FILES):
        raise TemplateError(f"{where}: {text!r} names {folder}, which is not a folder with a pyproject.toml, "
                            f"setup.py or setup.cfg: builder installs local projects, not archives. {fix}")  # fmt: skip
    return folder


def local_projects(path: Path, base: Path, root: Path) -> dict[Path, str]:
    """Folder -> ``file:line`` of each local project the requirements file ``path`` names (``-r``
    followed), from the template's folder ``base`` (:func:`local_project`)."""
    found: dict[Path, str] = {}
    for where, text in requirement_lines(path, root=root):
        folder = local_project(text, where, base, root)
        if folder is not None:
            found.setdefault(folder, where)
    return found


def with_absolute_paths(path: Path, base: Path, root: Path, seen_as: str, projects_as: str | None = None) -> str | None:
    """The requirements file ``path`` as pip-compile is to read it from a work folder, so that it
    resolves its paths as `sam build` does from the template's folder ``base``: its includes made
    absolute as pip-compile sees the root (``seen_as``), and its local projects' paths too, or their
    copies' where ``projects_as`` holds them (their paths from the root below it). None when it names
    no local project (it is given as it is)."""
    if not local_projects(path, base, root):
        return None

    def under(top: str) -> Callable[[Path], str]:
        def seen(folder: Path) -> str:
            folder = folder.resolve()
            inside = folder.is_relative_to(root.resolve())
            return posixpath.join(top, folder.relative_to(root.resolve()).as_posix()) if inside else str(folder)

        return seen

    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        option, _, value = line.replace("=", " ", 1).partition(" ")
        if option in ("-r", "--requirement", "-c", "--constraint"):
            raw = f"{option} {under(seen_as)(path.parent / value.strip())}"
        elif option in ("-e", "--editable") and is_local(value.strip()):
            raw = f"-e {_absolute(value.strip(), f'{path}:{number}', base, root, under(projects_as or seen_as))}"
        elif line and not line.startswith("-") and is_local(line):
            raw = _absolute(line, f"{path}:{number}", base, root, under(projects_as or seen_as))
        out.append(raw)
    return "\n".join(out) + "\n"


def _absolute(line: str, where: str, base: Path, root: Path, seen: Callable[[Path], str]) -> str:
    """The local project's requirement ``line`` with its folder as ``seen`` gives it, extras and markers kept."""
    folder = local_project(line, where, base, root)
    assert folder is not None  # is_local(line)
    spec, semicolon, marker = line.partition(";")
    named = spec.partition("@")[0].strip() if "@" in spec and not spec.startswith((".", "/", "file:")) else ""
    extras = _EXTRAS.search(spec.strip())
    text = f"{named} @ file://{seen(folder)}" if named else seen(folder) + (extras[0] if extras else "")
    return text + (f" ;{marker}" if semicolon else "")  # a space before it: a URL may hold a ';'


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
        if is_local(text):
            continue  # a local project: code of the image, not a distribution
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # a URL requirement: pip-compile reports what it cannot lock
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
