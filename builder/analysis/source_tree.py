"""The local modules of a function's code roots, as Lambda's ``sys.path`` finds them.

The code root (``/var/task``) first, then each layer's folders; a module found earlier on
the path wins, a package's ``__init__.py`` is recorded for every module below it, and the
non-Python files that ship with a root are listed (``data_files``).
"""

from __future__ import annotations

import errno
import operator
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ..core.errors import AnalysisError
from ..core.files import sam_excluded
from ..core.paths import LOCK_DIR, WORK_DIR
from ..project.model import CodeRoot
from .records import Reason

_NAME = operator.attrgetter("name")
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "env", "ENV", "htmlcov", "site_packages"})


class SourceTree:
    """The module table of some code roots, walked once: dotted name -> file, and back."""

    def __init__(self, root: Path, roots: tuple[CodeRoot, ...]) -> None:
        """Walk ``roots`` (the code root first, then layers) under the backend folder ``root``."""
        self.root, self.roots = root, roots
        self.modules: dict[str, str] = {}  # dotted name -> file (module or package __init__.py)
        self.namespaces: set[str] = set()  # packages without __init__.py
        self.module_of: dict[str, tuple[str, bool]] = {}  # file -> (dotted name, is package)
        # file -> (the __init__.py of its package, Reason("package", file, 0)): importing a module
        # executes every package __init__.py above it, so each file pulls in its package's
        self.package_of: dict[str, tuple[str, Reason]] = {}
        self.root_of: dict[str, CodeRoot] = {}  # file -> the code root it was found in
        folders = self.search_folders()
        for code_root, folder in folders:
            skip = {os.path.join(self.root, f) for _, f in folders if f != folder and _below(f, folder)}
            self._walk_root(code_root, folder, skip)
        self.tops = {name.partition(".")[0] for name in (*self.modules, *self.namespaces)}
        self._data: tuple[tuple[str, int], ...] | None = None

    def data_files(self) -> tuple[tuple[str, int], ...]:
        """(file, size) of the non-Python files of the roots that ship them, sorted.

        A ZIP holds every file of its CodeUri (but what `sam build` leaves out), and a layer
        every file of its content: so does the image. Python files ship only when imported.
        Memoised: every function of the graph has the same.
        """
        if self._data is None:
            found: dict[str, int] = {}
            for code_root in self.roots:
                if code_root.data:
                    found.update(self._data_of(code_root))
            self._data = tuple(sorted(found.items()))
        return self._data

    def _data_of(self, code_root: CodeRoot) -> Iterator[tuple[str, int]]:
        top = os.path.join(self.root, code_root.path)
        seen: set = set()
        for folder, dirs, files in os.walk(top, followlinks=True):
            stat = os.stat(folder)
            if (stat.st_dev, stat.st_ino) in seen:
                rel = os.path.relpath(folder, self.root)
                raise AnalysisError(
                    f"{rel} is a symbolic link to a folder above it (a loop): the image would have no end. "
                    "Remove the link or point it elsewhere."
                )
            seen.add((stat.st_dev, stat.st_ino))
            dirs[:] = sorted(d for d in dirs if d not in (WORK_DIR, LOCK_DIR)
                             and (code_root.as_is or not sam_excluded(d)))  # fmt: skip
            rel_folder = os.path.relpath(folder, self.root).replace(os.sep, "/")
            for name in sorted(files):
                if name.endswith(".py") or (not code_root.as_is and sam_excluded(name)):
                    continue
                path = os.path.join(folder, name)
                try:
                    size = os.stat(path).st_size
                except OSError as exc:
                    raise AnalysisError(
                        f"{rel_folder}/{name} cannot be read ({exc.strerror}): a broken symbolic link? "
                        "Fix or remove it; the build would fail on it."
                    ) from exc
                yield posixpath.normpath(f"{rel_folder}/{name}"), size

    def search_folders(self) -> list[tuple[CodeRoot, str]]:
        """(root, folder) for every folder on the function's ``sys.path``, in Lambda's order.

        The code root first (``/var/task``), then each image folder of the layers
        (``/opt/python/lib/python3.X/site-packages``, ``/opt/python``); where several layers
        fill one image folder, the later layer's files win, as when Lambda extracts them.
        """
        first, layers = self.roots[0], self.roots[1:]
        found = [(first, posixpath.normpath(posixpath.join(first.path, s))) for s in first.search]
        by_dest: dict[str, list[tuple[CodeRoot, str]]] = {}
        for layer in layers:
            for sub in layer.search:
                dest = posixpath.normpath(posixpath.join(layer.dest, sub))
                by_dest.setdefault(dest, []).append((layer, posixpath.normpath(posixpath.join(layer.path, sub))))
        for dest in sorted(by_dest, key=lambda d: (not d.endswith("site-packages"), d)):
            found += reversed(by_dest[dest])
        return found

    def _walk_root(self, code_root: CodeRoot, folder: str, skip: set[str]) -> None:
        """Add the top-level modules of one folder on sys.path (or of its ``tops`` only)."""
        seen: set = set()
        if code_root.tops is not None:
            for top in code_root.tops:
                rel = posixpath.normpath(posixpath.join(folder, top.strip("/")))
                self._walk(str(self.root / rel), top.strip("/").replace("/", "."), rel, None, seen, code_root, skip)
            return
        path = self.root / folder
        if not path.is_dir():
            return  # a layer without python/lib/python3.X/site-packages, say
        try:
            entries = sorted(os.scandir(path), key=_NAME)
        except OSError as exc:
            raise AnalysisError(
                f"{folder} ({code_root.owner or 'a code root'}): cannot list the folder ({exc.strerror})."
            ) from exc
        names = {e.name for e in entries}
        prefix = "" if folder == "." else folder + "/"
        for entry in entries:
            name = entry.name
            if name.endswith(".py"):
                stem = name[:-3]
                if stem.isidentifier() and stem not in self.modules and _is_file(entry, prefix + name):
                    self.modules[stem] = prefix + name
                    self.module_of[prefix + name] = (stem, False)
                    self.root_of[prefix + name] = code_root
            elif name.isidentifier() and name not in _SKIPPED_DIRS and _is_dir(entry, prefix + name) and entry.path not in skip:
                if f"{name}.py" in names and not os.path.isfile(os.path.join(entry.path, "__init__.py")):
                    continue  # a module file wins over a namespace folder of the same name
                if name in self.modules or name in self.namespaces:
                    continue  # an earlier folder on sys.path has it
                self._walk(entry.path, name, prefix + name, None, seen, code_root, skip)

    def _walk(self, folder: str, dotted: str, rel: str, above: str | None, seen: set, code_root: CodeRoot,
              skip: set[str]) -> None:  # fmt: skip
        """Add the modules below ``folder``, in name order (so the module table's order is stable)."""
        try:
            stat = os.stat(folder)
            if (stat.st_dev, stat.st_ino) in seen:
                raise AnalysisError(
                    f"{rel} is a symbolic link to a folder above it (a loop): its modules would have no end. "
                    "Remove the link or point it elsewhere."
                )
            seen = seen | {(stat.st_dev, stat.st_ino)}
            with os.scandir(folder) as it:
                entries = sorted(it, key=_NAME)
        except OSError as exc:
            raise AnalysisError(f"{rel}: cannot list the folder ({exc.strerror}). Check its permissions.") from exc
        modules, module_of, package_of, new = self.modules, self.module_of, self.package_of, tuple.__new__
        names = {e.name for e in entries}
        here = above  # the package __init__.py that importing a module of this folder executes last
        if "__init__.py" in names:
            here = f"{rel}/__init__.py"
            modules[dotted] = here
            module_of[here] = (dotted, True)
            self.root_of[here] = code_root
            if above:
                package_of[here] = (above, new(Reason, ("package", here, 0)))
        else:
            self.namespaces.add(dotted)
        for entry in entries:
            name = entry.name
            if name.endswith(".py"):
                stem = name[:-3]
                if name == "__init__.py" or not stem.isidentifier() or not _is_file(entry, f"{rel}/{name}"):
                    continue
                child = f"{dotted}.{stem}"
                if child not in modules:  # a regular package of the same name wins (it sorts first)
                    path = f"{rel}/{name}"
                    modules[child] = path
                    module_of[path] = (child, False)
                    self.root_of[path] = code_root
                    if here:
                        package_of[path] = (here, new(Reason, ("package", path, 0)))
            elif name.isidentifier() and name not in _SKIPPED_DIRS and _is_dir(entry, f"{rel}/{name}") and entry.path not in skip:
                child = f"{dotted}.{name}"
                if f"{name}.py" in names and not os.path.isfile(os.path.join(entry.path, "__init__.py")):
                    continue  # a module file wins over a namespace folder of the same name
                self._walk(entry.path, child, f"{rel}/{name}", here, seen, code_root, skip)

    def glob(self, pattern: str) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
        """The files an include glob matches under the backend root, with their sizes, and warnings."""
        root = self.root.resolve()
        matched: list[tuple[str, int]] = []
        warnings: list[str] = []
        try:
            paths = sorted(self.root.glob(pattern))
        except (NotImplementedError, ValueError) as exc:
            raise AnalysisError(f"include {pattern!r}: {exc}. Use a glob relative to the backend root.") from exc
        for path in paths:
            if not path.is_file() or WORK_DIR in path.relative_to(self.root).parts:
                continue
            if not path.resolve().is_relative_to(root):
                warnings.append(f"include {pattern!r} matches {path}, outside the backend; skipped")
                continue
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # removed since the glob
            matched.append((path.relative_to(self.root).as_posix(), size))
        return tuple(matched), (*warnings, *(() if matched else (f"include {pattern!r} matches no file",)))

    def describe_roots(self) -> str:
        """Where this graph's modules come from, for messages."""
        if len(self.roots) == 1 and self.roots[0].tops is not None:
            return f"the source roots ({', '.join(self.roots[0].tops)})"
        return " or ".join(f"{r.path} ({r.owner})" if r.owner else r.path for r in self.roots)

    def lookup(self, name: str) -> str | Literal[False] | None:
        """The file of a local module, None for a namespace package, False if there is no such module."""
        found = self.modules.get(name)
        if found is not None:
            return found
        return None if name in self.namespaces else False

    def chain(self, target: str) -> tuple[list[tuple[str, str]], str]:
        """Files executed by importing ``target`` (each package on the way), and the first missing name."""
        parts = target.split(".")
        chain: list[tuple[str, str]] = []
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            found = self.lookup(name)
            if found is False:
                return chain, name
            if found:
                chain.append((name, found))
        return chain, ""


def _below(folder: str, parent: str) -> bool:
    """Whether the posix folder ``folder`` lies inside ``parent`` ("." holds everything)."""
    return parent == "." or folder.startswith(parent.rstrip("/") + "/")


def _is_file(entry: os.DirEntry, rel: str) -> bool:
    try:
        return entry.is_file()
    except OSError as exc:
        _loop(exc, rel)
        return False


def _is_dir(entry: os.DirEntry, rel: str) -> bool:
    try:
        return entry.is_dir()
    except OSError as exc:
        _loop(exc, rel)
        return False


def _loop(exc: OSError, rel: str) -> None:
    """A link that leads back to itself (``a -> b``, ``b -> a``) is the user's to fix; other errors
    (a dangling link, a file gone meanwhile) leave the entry out."""
    if exc.errno == errno.ELOOP:
        raise AnalysisError(
            f"{rel} is a loop of symbolic links ({exc.strerror}). Remove the link, or point it at a real "
            "file or folder, then run the command again."
        ) from exc
