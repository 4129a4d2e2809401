"""Locks from a SAM project's requirements files, with pip-tools (``pip-compile``).

Each function's requirements are its CodeUri's ``requirements.txt`` (or, under SAM's
``BuildMethod: python-uv``, its ``pyproject.toml``, with the versions of a ``uv.lock`` beside
it as constraints) and those of the layers SAM builds for it. builder resolves them all
together into one lock (``builder-locks/shared.txt``), so every distribution has one version
and dependency layers stay shared between functions. Where the requirements conflict, the functions
that do not fit get a lock of their own (``builder-locks/<function>.txt``), resolved
with the shared pins as preferences, so they diverge only where they must.

Each lock records what it was made from (its functions and the sha256 of each input
file) in its header: a changed requirements file makes the locks stale, and the next
build locks again, keeping every pin it can. A team commits ``builder-locks/``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..core import proc
from ..core.errors import BuilderError, CommandFailed, LockError
from ..core.files import work_dir, write_atomic
from ..project.model import (
    ARCHITECTURES,
    PYPROJECT,
    UV_LOCK,
    Config,
    describe_platforms,
    emulated,
)
from .requirements import PROJECT_FILES, local_projects, requirement_lines, uv_lock_pins, with_absolute_paths
from .target import Target

if TYPE_CHECKING:
    from ..engine.docker_engine import DockerEngine

RESOLVE_TIMEOUT = 300.0  # seconds one pip-compile run may take (backtracking is cut off)
_INPUT = re.compile(r"^# input (\S+) sha256=([0-9a-f]{64})$", re.M)
_FUNCTIONS = re.compile(r"^# functions: (.*)$", re.M)
_LOOKING = re.compile(r"pip is looking at multiple versions of ([A-Za-z0-9_.-]+)")


@dataclass(frozen=True)
class LockResult:
    """What ``ensure`` did: the lock files written (none when they were current) and why."""

    written: tuple[str, ...] = ()
    divergent: tuple[str, ...] = ()  # functions with a lock of their own
    reason: str = ""  # "no lock yet", "src/a/requirements.txt changed", "--upgrade"


def inputs(config: Config) -> dict[str, tuple[str, ...]]:
    """Function -> its requirements files (relative to the root), for the functions that have any."""
    return {fn.name: fn.requirements for fn in config.functions if fn.requirements}


def _digest(root: Path, rel: str) -> str:
    try:
        return hashlib.sha256((root / rel).read_bytes()).hexdigest()
    except OSError as exc:
        raise LockError(f"Cannot read {rel}: {exc.strerror}. Restore it or remove it from the template.") from exc


def _recorded(path: Path) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """(functions, {input: sha256}) from a lock's header; None when there is no such lock."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    names = _FUNCTIONS.search(text)
    return (tuple(names[1].split()) if names else ()), dict(_INPUT.findall(text))


def staleness(config: Config) -> str:
    """Why the locks must be made again ("" when they are current): what changed since."""
    wanted = inputs(config)
    lock_of = {fn.name: fn.lock_file for fn in config.functions if fn.name in wanted}
    shared = config.lock_file
    if not wanted:
        return "" if (config.root / shared).is_file() else "no lock yet"
    for lock in sorted(set(lock_of.values()) | {shared}):
        if lock == shared and shared not in lock_of.values() and not (config.root / lock).is_file():
            continue
        recorded = _recorded(config.root / lock)
        if recorded is None:
            return "no lock yet" if lock == shared else f"{lock} is missing"
        functions, digests = recorded
        mine = sorted(name for name, file in lock_of.items() if file == lock)
        if not set(mine) <= set(functions):
            new = sorted(set(mine) - set(functions))
            return f"{', '.join(new)} {'is' if len(new) == 1 else 'are'} not in {lock}"
        for rel in _with_projects(config, sorted({r for name in mine for r in wanted[name]})):
            if digests.get(rel) != _digest(config.root, rel):
                return f"{rel} changed" if rel in digests else f"{rel} is new"
    return ""


_LOCAL_PIN = re.compile(r"^(?:# WARNING: pip install will require the following package to be hashed\.\n"
                        r"# Consider using a hashable URL[^\n]*\n)?(?:-e (?:file://)?|(\S+) @ file://|file://)(/\S+)$", re.M)


def local_pins(text: str, seen_as: str) -> str:
    """pip-compile's output with each local project it pinned (``name @ file:///...``, ``-e /...``: its
    copy, whose path from ``seen_as`` is the project's from the root) made a comment naming its folder
    from the root: the project is code of the image, built from its folder, and what it requires
    stays pinned."""

    def comment(match: re.Match) -> str:
        folder = posixpath.relpath(urllib.parse.unquote(match[2]), seen_as)
        return f"# {match[1] or folder}: the local project {folder}, whose modules are code of the image"

    return _LOCAL_PIN.sub(comment, text)


def _template_folders(config: Config) -> dict[str, Path]:
    """Requirements file -> the folder of the template that names it, which pip resolves the paths
    of local projects from (where `sam build` runs)."""
    return {rel: config.root / posixpath.dirname(fn.template) for fn in config.functions for rel in fn.requirements}


def _named_projects(config: Config, rel: str, folders: dict[str, Path]) -> dict[Path, str]:
    """The local projects the requirements file ``rel`` names, resolved from the folder of its
    template (``folders``: :func:`_template_folders`); a uv project's files name none."""
    if posixpath.basename(rel) in (PYPROJECT, UV_LOCK):
        return {}
    return local_projects(config.root / rel, folders.get(rel, config.root), config.root)


def _with_projects(config: Config, files: Sequence[str]) -> list[str]:
    """``files`` and the files that say what the local projects they name require (setup.py, ...),
    relative to the root: when one changes, the lock is made again."""
    found, folders, root = list(files), _template_folders(config), config.root.resolve()
    for rel in files:
        for folder in _named_projects(config, rel, folders):
            found += [(folder / name).relative_to(root).as_posix() for name in PROJECT_FILES if (folder / name).is_file()]
    return sorted(set(found))


def _header(config: Config, functions: Sequence[str], files: Sequence[str]) -> str:
    lines = [
        f"# Locked by builder from requirements files for CPython {config.python_version} on "
        f"{describe_platforms(config.platforms)}; commit this file.",
        "# Edit the requirements and build (or `python -m builder lock`) to change it;",
        "# `python -m builder lock --upgrade` takes the newest versions they allow.",
        f"# functions: {' '.join(sorted(functions))}",
    ]
    lines += [f"# input {rel} sha256={_digest(config.root, rel)}" for rel in _with_projects(config, files)]
    return "\n".join(lines) + "\n"


TOOLS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "builder"
SEEDED_TIMEOUT = 60.0  # a resolution that keeps the old pins; when it takes longer, resolve afresh


class _Compiler:
    """Runs pip-compile, under a Python of the target's version (or in the functions' base image), on
    sets of requirements files, keeping earlier pins where it can."""

    def __init__(self, config: Config, tmp: Path, timeout: float) -> None:
        self.config, self.tmp, self.timeout = config, tmp, timeout
        self.runs = 0
        self.conflict = ""  # what pip said of the last conflict

    @functools.cached_property
    def python(self) -> _Python:
        """Found on the first pip-compile run: functions without requirements need no Python to lock them."""
        return _lock_python(self.config)

    def compile(self, files: Sequence[str], seed: str | None, upgrade: bool, fallback: str | None = None) -> str | None:
        """The pinned lock for ``files``, or None when they conflict (no version satisfies all).

        With ``seed`` (earlier pins) a first, short attempt keeps them; when it cannot, ``fallback``
        (an earlier result for these files) or a fresh resolution is the answer.
        """
        if not files:
            return ""
        if seed and not upgrade:
            try:
                kept = self._run(files, seed, min(SEEDED_TIMEOUT, self.timeout))
            except LockError:
                kept = None  # cut off: the old pins make pip search; resolve afresh
            if kept is not None:
                return kept
            if fallback is not None:
                return fallback
        return self._run(files, None, self.timeout)

    def _run(self, files: Sequence[str], seed: str | None, timeout: float) -> str | None:
        self.runs += 1
        out = self.tmp / f"run-{self.runs}.txt"
        if seed:
            out.write_text(seed)  # pip-compile prefers the versions its output file already pins
        python = self.python
        shown = _OUT if python.image else str(self.tmp)
        sources, names = self._sources(files, shown, _SRC if python.image else str(self.config.root))
        try:
            if python.image:
                args = _compile_args(sources, f"{_OUT}/{out.name}")
                _in_image(python.image, args, self.config.root, self.tmp, python.version, timeout)
            else:
                proc.run([python.path, *_compile_args(sources, str(out))], cwd=self.config.root, timeout=timeout)
        except CommandFailed as exc:
            if exc.timed_out:
                raise self._timeout(exc, files, timeout) from exc
            missing = sorted(set(re.findall(r"No matching distribution found for (\S+)", exc.output)))
            if not missing and ("ResolutionImpossible" in exc.output or "conflicting dependencies" in exc.output):
                self.conflict = _conflict(exc.output)
                return None
            if missing:
                raise LockError(
                    f"{', '.join(files)} cannot be locked for CPython {self.config.python_version}: no distribution "
                    f"matches {', '.join(missing)}. Check the name, that the version is published on your index, and "
                    "that it has a wheel for that Python, then build again."
                ) from exc
            said = [line for line in exc.output.splitlines() if line.strip() and not line.startswith((" ", "Traceback"))]
            raise LockError(
                f"Locking {', '.join(files)} failed:\n" + "\n".join(said[-8:]) + "\nFix the requirement it names "
                "(a typo, a version that does not exist, a private index pip cannot reach), then build again."
            ) from exc
        text = out.read_text(encoding="utf-8")
        for seen, rel in names.items():  # the notes ("via -r ...") name the project's own files
            text = text.replace(seen, rel)
        return local_pins(text, f"{shown}/{_PROJECTS}")

    def _sources(self, files: Sequence[str], shown: str, seen_root: str) -> tuple[list[str], dict[str, str]]:
        """pip-compile's arguments for ``files``, and the names its notes give what was written for them.

        A requirements file is given as it is, unless it names local projects: then written with its
        paths made absolute (pip-compile sees the root as ``seen_root``), those of the projects to
        copies in the work folder, which pip builds in place (setuptools writes its egg-info and
        .eggs there: not into the backend). A pyproject.toml's dependencies and a uv.lock's pins for
        the target (as constraints: uv's versions where the requirements allow them) are written as
        requirements files into the work folder, which pip-compile sees as ``shown``.
        """
        folders, root = _template_folders(self.config), self.config.root
        sources: list[str] = []
        names: dict[str, str] = {}
        for rel in files:
            name = posixpath.basename(rel)
            if name == PYPROJECT:
                lines = [text for _, text in requirement_lines(self.config.root / rel, root=self.config.root)]
                option, suffix = "", ".in"
            elif name == UV_LOCK:
                lines = list(uv_lock_pins(self.config.root / rel, Target.from_config(self.config)))
                option, suffix = "--constraint", ".txt"
            else:
                base = folders.get(rel, root)
                text = with_absolute_paths(root / rel, base, root, seen_root, f"{shown}/{_PROJECTS}")
                if text is None:
                    sources.append(rel)
                    continue
                for folder in _named_projects(self.config, rel, folders):
                    copy = self.tmp / _PROJECTS / folder.relative_to(root.resolve())
                    if not copy.exists():
                        shutil.copytree(folder, copy, symlinks=True, ignore=_NOT_COPIED)
                lines, option, suffix = text.splitlines(), "", ".in"
            written = self.tmp / "inputs" / f"{rel}{suffix}"
            written.parent.mkdir(parents=True, exist_ok=True)
            written.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            seen = f"{shown}/inputs/{rel}{suffix}"
            sources += [option, seen] if option else [seen]
            names[seen] = rel
        return sources, names

    def _timeout(self, exc: CommandFailed, files: Sequence[str], timeout: float) -> LockError:
        looked = Counter(_LOOKING.findall(exc.output)).most_common(3)
        names = ", ".join(name for name, _ in looked) or "the distributions it names"
        return LockError(
            f"Resolving {', '.join(files)} took longer than {timeout:.0f} s: pip kept backtracking over "
            f"{names}. Pin {looked[0][0] if looked else 'them'} to one version (name==x.y.z) in the requirements "
            "file, so pip need not search, then build again."
        )


@dataclass(frozen=True)
class _Python:
    """Where pip-compile runs: a Python of the target's version on this machine (``path``), else the
    functions' base image (``image``), whose python3 is that version, as `sam build --use-container`."""

    version: str
    path: str = ""
    image: str = ""


_OUT = "/out"  # the lock's work folder, inside the base image's container
_SRC = "/src"  # the root, there
_PROJECTS = "projects"  # in the work folder: copies of the local projects, which pip builds in place
_NOT_COPIED = shutil.ignore_patterns(".git", ".builder", ".aws-sam", "__pycache__", "node_modules", ".venv")
_HOST_CA = "/etc/ssl/certs/builder-host-ca.crt"  # this machine's trust, for pip inside it
# pip's settings (pip.conf keys) that say where and how it fetches, as the environment names them
_PIP_SETTINGS = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL", "trusted-host": "PIP_TRUSTED_HOST",
                 "timeout": "PIP_DEFAULT_TIMEOUT", "default-timeout": "PIP_DEFAULT_TIMEOUT", "proxy": "PIP_PROXY",
                 "cert": "PIP_CERT"}  # fmt: skip
_PIP_CONFIG = re.compile(r"^([^\s.]+)\.([\w-]+)='(.*)'$")


def _compile_args(files: Sequence[str], out: str) -> list[str]:
    return ["-m", "piptools", "compile", "--no-header", "--no-emit-index-url", "--no-emit-find-links",
            "--generate-hashes", "--allow-unsafe", "--no-strip-extras", "--output-file", out,
            *files]  # relative to the root (the cwd): the lock's "via" notes name them so  # fmt: skip


def _lock_python(config: Config) -> _Python:
    """A Python of the target's version with pip-tools: pip-compile resolves (markers included) for
    the interpreter it runs on, so a python3.13 function is locked by a python3.13, as `sam build`
    builds it with one. This interpreter when it is that version, else one found on PATH or in
    pyenv, with pip-tools in a virtual environment of builder's cache (made once), else the
    functions' base image when the engine has it."""
    version = Target.from_config(config).short_version
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return _Python(version, path=sys.executable)
    venv = TOOLS_CACHE / f"pip-tools-python{version}"
    python = venv / "bin" / "python"
    if python.is_file():
        return _Python(version, path=str(python))
    found = _find_python(version)
    if found is None:
        return _Python(version, image=_lock_image(config, version))
    proc.run([found, "-m", "venv", str(venv)], cwd="/")
    try:
        proc.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", _pip_tools()])
    except CommandFailed as exc:
        shutil.rmtree(venv, ignore_errors=True)
        raise LockError(f"Installing pip-tools for Python {version} into {venv} failed; see the output above.") from exc
    return _Python(version, path=str(python))


def _pip_tools() -> str:
    """The requirement of the pip-tools this builder runs with (the same version elsewhere)."""
    import piptools

    version_of_tools = getattr(piptools, "__version__", "") or _installed_version("pip-tools")
    return f"pip-tools=={version_of_tools}" if version_of_tools else "pip-tools"


def _lock_image(config: Config, version: str) -> str:
    """The base image of the functions (this machine's architecture) to lock in, chosen as a build
    chooses it (``Config.base_candidates``); a LockError saying what to install or make when the
    engine has none."""
    from ..image.base import make_command

    arch = next(a for a in ARCHITECTURES if not emulated(a))
    candidates = config.base_candidates(arch)
    missing = (
        f"The functions run Python {version}, and locking their requirements needs a Python {version} "
        f"(pip-tools resolves for the interpreter it runs on), which is not on PATH (python{version}) or in pyenv"
    )
    try:
        image = next((c for c in candidates if _engine().image_exists(c)), None)
    except BuilderError:
        image = None
    if image is None:
        raise LockError(
            f"{missing}, and the Docker engine has no base image of it to lock in either ({' or '.join(candidates)}). "
            f"Install one (e.g. `pyenv install {version}`, or your distribution's python{version}), or make the "
            f"base with {make_command(version, arch)}, or give a lock of your own with lock-file in builder.toml."
        )
    return image


@functools.cache
def _engine() -> DockerEngine:
    """One engine client for a run's locks (each new one connects and checks the engine's version)."""
    from ..engine.docker_engine import DockerEngine

    return DockerEngine()


def _in_image(image: str, args: Sequence[str], root: Path, work: Path, version: str, timeout: float) -> None:
    """Run pip-compile with ``args`` in a container of ``image``: the root read-only as its working
    folder, ``work`` writable at /out, pip-tools from builder's cache (installed there once, for
    ``version``, by this machine's pip), and pip trusting and asking what it does here."""
    import ssl  # for this alone: 8 ms of every command's start

    mounts = {str(root): (_SRC, False), str(work): (_OUT, True), str(_tools_for(version)): ("/tools", False)}
    env = {"PYTHONPATH": "/tools", "HOME": "/tmp", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    settings = pip_settings()
    env |= {name: value for name, value in settings.items() if name != "PIP_CERT"}
    cert = next((c for c in (settings.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                             ssl.get_default_verify_paths().cafile) if c and os.path.isfile(c)), None)  # fmt: skip
    if cert:
        mounts[os.path.realpath(cert)] = (_HOST_CA, False)
        env["PIP_CERT"] = _HOST_CA
    _engine().run_tool(image, ["python3", *args], mounts=mounts, environment=env, working_dir=_SRC,
                            timeout=timeout)  # fmt: skip


def pip_settings() -> dict[str, str]:
    """Where and how this machine's pip fetches (its configuration files, then the ``PIP_*``
    environment, as pip reads them), as environment variables for a pip in a container; an index
    given as a ``file:`` URL names this machine's folders, which the container has not, so it is left out."""
    result = proc.run([sys.executable, "-m", "pip", "config", "list"], check=False, cwd="/")
    found: dict[str, str] = {}
    for line in result.output.splitlines() if result.returncode == 0 else ():
        match = _PIP_CONFIG.match(line.strip())
        if match and match[1] != ":env:" and match[2] in _PIP_SETTINGS:
            found[_PIP_SETTINGS[match[2]]] = match[3]
    found |= {name: os.environ[name] for name in set(_PIP_SETTINGS.values()) if os.environ.get(name)}
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        urls = [url for url in found.pop(name, "").split() if not url.startswith("file:")]
        if urls:
            found[name] = " ".join(urls)
    return found


def _tools_for(version: str) -> Path:
    """pip-tools (with the pip it needs) for a Python of ``version`` to import from, installed once
    into builder's cache by this machine's pip: pure Python wheels, for that version."""
    tools = TOOLS_CACHE / f"pip-tools-python{version}-target"
    if tools.is_dir():
        return tools
    TOOLS_CACHE.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{tools.name}.tmp-", dir=TOOLS_CACHE))
    try:
        proc.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
                  str(partial), "--only-binary=:all:", "--implementation", "cp", "--python-version", version,
                  _pip_tools()])  # fmt: skip
        partial.rename(tools)
    except OSError:
        if not tools.is_dir():  # not another builder's, installed meanwhile
            raise
    except CommandFailed as exc:
        raise LockError(f"Installing pip-tools for Python {version} into {tools} failed; see the output above.") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return tools


def _installed_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _find_python(version: str) -> str | None:
    """An interpreter of ``version``: ``python<version>`` on PATH, else pyenv's (its shims need a
    selected version, so its versions are looked at directly)."""
    candidates = [os.path.join(folder, f"python{version}") for folder in os.environ.get("PATH", "").split(os.pathsep)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted((str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}")), reverse=True)
    probe = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"
    for candidate in candidates:
        if not os.access(candidate, os.X_OK):
            continue
        result = proc.run([candidate, "-c", probe], check=False, cwd="/")
        lines = result.output.splitlines()
        if result.returncode == 0 and len(lines) >= 2 and lines[-1] == version:
            return lines[-2]
    return None


def _conflict(output: str) -> str:
    """pip's own account of a conflict ("The conflict is caused by: ..."), on one line."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "conflict is caused by" in line), None)
    if start is None:
        return ""
    said = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith(("To fix", "Additionally")):
            break
        said.append(line.strip())
    return "; ".join(said)


def _strip_header(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# "))


def _split(compiler: _Compiler, wanted: dict[str, tuple[str, ...]], seed: str | None, upgrade: bool,
           old: dict[str, str]) -> tuple[list[str], str, dict[str, str]]:  # fmt: skip
    """Requirements that conflict: (the functions that share a lock, its text, {function: own lock}).

    Each function is resolved alone; each distribution gets the version most functions
    resolved to (the newest on a tie), and the functions that resolved to another version
    of one get a lock of their own, seeded with their old lock (``old``) or the shared pins, so
    they differ only there.
    """
    alone = {}
    for name in sorted(wanted):
        text = compiler.compile(list(wanted[name]), old.get(name) or seed, upgrade)
        if text is None:
            said = f" (pip: {compiler.conflict})" if compiler.conflict else ""
            uv = next((rel for rel in wanted[name] if posixpath.basename(rel) == UV_LOCK), None)
            stale = f" (or, if {uv} is older than the pyproject.toml, run `uv lock` beside it)" if uv else ""
            raise LockError(
                f"The requirements of {name} ({', '.join(wanted[name])}) conflict among themselves: no "
                f"version satisfies them all{said}. Fix the pins in those files{stale}, then build again."
            )
        alone[name] = text
    votes: dict[str, Counter[str]] = {}
    for text in alone.values():
        for dist, version in _pins(text).items():
            votes.setdefault(dist, Counter())[version] += 1
    chosen = {dist: max(counts, key=lambda v: (counts[v], _version_key(v))) for dist, counts in votes.items()}
    members = [n for n in sorted(wanted) if all(chosen[d] == v for d, v in _pins(alone[n]).items())]
    shared = compiler.compile(sorted({r for n in members for r in wanted[n]}), seed, upgrade) if members else ""
    while shared is None:  # agreeing pin by pin is not always enough: drop the last member until it resolves
        members.pop()
        shared = compiler.compile(sorted({r for n in members for r in wanted[n]}), seed, upgrade) if members else ""
    own = {}
    for name in sorted(set(wanted) - set(members)):
        # the shared pins where they fit (one layer more to share), else what it resolved to alone
        own[name] = compiler.compile(list(wanted[name]), shared or seed, False, fallback=alone[name]) or alone[name]
    return members, shared, own


def _pins(text: str) -> dict[str, str]:
    """name -> version of a pip-compile output (its ``name==version`` lines)."""
    return {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", text, re.M)}


def _version_key(text: str) -> tuple:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


def ensure(
    config: Config,
    *,
    upgrade: bool = False,
    timeout: float = RESOLVE_TIMEOUT,
) -> LockResult:
    """Make the locks current: nothing when they are, else lock again (keeping pins unless ``upgrade``)."""
    reason = "--upgrade" if upgrade else staleness(config)
    if not reason:
        return LockResult()
    wanted = inputs(config)
    folder = posixpath.dirname(config.lock_file)  # builder-locks/ (or its folder for one template)
    locks = config.root / folder
    seed = _strip_header((locks / "shared.txt").read_text()) if (locks / "shared.txt").is_file() and not upgrade else None
    with tempfile.TemporaryDirectory(prefix="lock-", dir=work_dir(config.root)) as tmp:
        compiler = _Compiler(config, Path(tmp), timeout)
        every = sorted({rel for files in wanted.values() for rel in files})
        shared = compiler.compile(every, seed, upgrade)
        own: dict[str, str]
        members, own = sorted(wanted), {}
        if shared is None:
            old = {} if upgrade else {p.stem: _strip_header(p.read_text()) for p in locks.glob("*.txt") if p.stem != "shared"}
            members, shared, own = _split(compiler, wanted, seed, upgrade, old)
        texts = {config.lock_file: _header(config, members, sorted({r for n in members for r in wanted[n]})) + shared}
        texts |= {f"{folder}/{name}.txt": _header(config, [name], wanted[name]) + text for name, text in own.items()}
    for path in locks.glob("*.txt") if locks.is_dir() else ():
        if f"{folder}/{path.name}" not in texts:
            path.unlink()  # a function that no longer diverges (or is gone)
    for rel, text in sorted(texts.items()):
        write_atomic(config.root / rel, text)
    return LockResult(tuple(sorted(texts)), tuple(sorted(own)), reason)
