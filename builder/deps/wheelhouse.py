"""Resolve and download wheels on the host, so builds need no network inside containers.

The wheelhouse lives in the build context (``.builder/wheelhouse``) and is
reused while the lock file and the target are unchanged; pip's own download
cache makes a refresh cheap. A download goes to a temporary folder that is
renamed into place only when complete, so a failure never leaves half a
wheelhouse (and a folder a killed download left is removed by the next run).

A pin with no wheel for the target gets its source distribution instead, with the wheels its
build needs; the pipeline builds it into a wheel in a builder stage (:mod:`builder.deps.sdists`).

Each download records the sha256 of every wheel (``.builder-hashes.json``). Every build checks
the wheels it uses against that record and against the lock's ``--hash`` values when it has
them (``verify``): a wheel changed since its download fails the build; one deleted is fetched
again. A wheel whose file is unchanged since its last check (size, times, inode) is not hashed
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from ..core import proc
from ..core.errors import CommandFailed, LockError
from ..core.files import work_dir, write_atomic
from ..core.paths import WHEELHOUSE
from ..project.model import Config, describe_platforms
from . import sdists
from .lock import Pin, parse_lock
from .target import Target

_STAMP = ".builder-key"
_HASHES = ".builder-hashes.json"  # wheel file name -> {"sha256": ..., "stat": [...]}
_PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--disable-pip-version-check")
STALE_TMP_SECONDS = 3600  # a wheelhouse.tmp-* folder this old is a killed download's


def target_args(python_version: str, platforms: Sequence[str]) -> list[str]:
    """pip flags that select wheels for the image's interpreter and platform, not the host's."""
    nodot = python_version.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    args += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def _key(locks: Sequence[Path], python_version: str, platforms: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for lock in locks:
        digest.update(lock.name.encode() + b"\0" + lock.read_bytes() + b"\0")
    digest.update(f"\0{python_version}\0{','.join(platforms)}".encode())
    return digest.hexdigest()


def _download_error(exc: CommandFailed, source: str, python_version: str, platforms: Sequence[str]) -> LockError:
    missing = re.findall(r"No matching distribution found for (\S+)", exc.output)
    target = f"CPython {python_version} on {describe_platforms(tuple(platforms))}"
    if missing:
        return LockError(
            f"{source} does not resolve to wheels for {target}: no wheel for {', '.join(missing)}, and no "
            "source distribution to build one from. Pin a version that publishes a wheel (for compiled "
            "packages check the manylinux tags on PyPI) or an sdist, or change `platforms` in builder.toml, "
            "then lock again."
            + (" Or run the functions that need it on x86_64 (`Architectures: [x86_64]` in the template)."
               if any(p.endswith("aarch64") for p in platforms) else "")
        )
    tail = "\n".join(exc.output.splitlines()[-8:])
    return LockError(
        f"Downloading the wheels of {source} for {target} failed (pip exit code {exc.returncode}):\n{tail}\n"
        "Check the lock file and your network or index settings, then run the build again."
    )


def download(
    requirements: Sequence[str],
    dest: Path,
    *,
    python_version: str,
    platforms: Sequence[str],
    source: str,
) -> None:
    """``pip download`` exact requirements (or ``-r FILE``) as wheels for the target into ``dest``."""
    try:
        proc.run(_wheels_argv(requirements, dest, python_version, platforms))
    except CommandFailed as exc:
        raise _download_error(exc, source, python_version, platforms) from exc


def _wheels_argv(requirements: Sequence[str], dest: Path, python_version: str, platforms: Sequence[str]) -> list[str]:
    """``pip download`` of exact requirements, without their dependencies, as wheels for the target."""
    return [*_PIP_DOWNLOAD, "--no-deps", *target_args(python_version, platforms), "-d", str(dest), *requirements]


def _for_target(pins: Iterable[Pin], python_version: str, architecture: str) -> list[Pin]:
    """The pins whose markers hold on the target: pip evaluates a requirement's markers for the
    Python it runs on, not for the one --python-version names (a `python_version >= "3.14"` pin
    would be skipped by a 3.11 pip)."""
    env = Target(python_version=python_version).for_architecture(architecture).marker_environment()
    return [pin for pin in pins if not pin.marker or Marker(pin.marker).evaluate(env)]


def _spec(pin: Pin) -> str:
    return f"{pin.name}=={pin.version}"


def _pinned(spec: str) -> str:
    """``name==version`` with the name canonical (pip prints a requirement as the lock spells it)."""
    name, _, version = spec.partition("==")
    return f"{canonicalize_name(name)}=={version}"


def _download_sdist(spec: str, folder: Path, pins: Sequence[Pin]) -> bool:
    """Download the sdist of ``spec`` into ``folder``; False when there is none. A sdist the lock's
    ``--hash`` values do not allow is a LockError (the wheels' are checked by ``verify``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=folder) as tmp:
        got = proc.run([*_PIP_DOWNLOAD, "--no-deps", "--no-binary=:all:", "-d", tmp, spec], check=False)
        archives = [a for a in Path(tmp).iterdir() if sdists.is_sdist(a)]
        if got.returncode != 0 or len(archives) != 1:
            return False
        allowed = {h.removeprefix("sha256:") for pin in pins for h in pin.hashes}
        digest = _sha256(archives[0])
        if allowed and digest not in allowed:
            raise LockError(
                f"The source distribution {archives[0].name} (sha256 {digest[:16]}...) is not one the lock's --hash "
                f"values for {spec} allow. Check your index, or lock again if the release was replaced."
            )
        archives[0].replace(folder / archives[0].name)
    return True


def download_lock(lock: Path, dest: Path, *, python_version: str, platforms: Sequence[str], source: str,
                  architecture: str = "x86_64") -> list[str]:  # fmt: skip
    """The wheels of ``lock`` for the target into ``dest``; for a pin with no such wheel, its sdist
    (``dest/sdists/<architecture>``) and the wheels its build needs (``dest/build-wheels``). Returns those pins."""
    sdist_dir = dest / sdists.SDISTS / architecture
    pins = _for_target(parse_lock(lock).values(), python_version, architecture)
    requirements, from_source = [_spec(p) for p in pins], list[str]()
    while True:
        try:
            if requirements:
                proc.run(_wheels_argv(requirements, dest, python_version, platforms))
            break
        except CommandFailed as exc:
            missing = [_pinned(m) for m in re.findall(r"No matching distribution found for (\S+)", exc.output)]
            if not missing or set(missing) & set(from_source):
                raise _download_error(exc, source, python_version, platforms) from exc
            for spec in missing:
                if not _download_sdist(spec, sdist_dir, [p for p in pins if _pinned(f"{p.name}=={p.version}") == spec]):
                    raise _download_error(exc, source, python_version, platforms) from exc
            from_source += missing
            requirements = [_spec(p) for p in pins if _pinned(f"{p.name}=={p.version}") not in from_source]
    if from_source:
        needs = sorted({r for archive in sorted(sdist_dir.iterdir()) for r in sdists.build_requires(archive)})
        try:  # with their dependencies (not --no-deps): a build backend has its own
            proc.run([*_PIP_DOWNLOAD, *target_args(python_version, platforms), "-d", str(dest / sdists.BUILD_WHEELS), *needs])
        except CommandFailed as exc:
            tail = "\n".join(exc.output.splitlines()[-8:])
            raise LockError(
                f"Downloading what building {', '.join(from_source)} from source needs ({', '.join(needs)}) "
                f"failed:\n{tail}\nCheck your network or index settings, then run the command again."
            ) from exc
    return from_source


def ensure(config: Config, *, refresh: bool = False) -> Path:
    """The backend's wheelhouse for its lock files, downloaded when missing or stale."""
    dest = config.root / WHEELHOUSE
    locks = [config.root / rel for rel in config.lock_files if (config.root / rel).is_file()]
    platforms = [p for arch in config.architectures for p in config.platforms_for(arch)]
    key = _key(locks, config.python_version, platforms)
    stamp = dest / _STAMP
    _remove_leftovers(work_dir(config.root))
    if not refresh and stamp.is_file() and stamp.read_text().strip() == key and _complete(dest):
        return dest
    tmp = Path(tempfile.mkdtemp(prefix="wheelhouse.tmp-", dir=work_dir(config.root)))
    try:
        for lock in locks:
            if not parse_lock(lock):
                continue  # nothing pinned: pip download wants at least one requirement
            for arch in config.architectures:  # each one's wheels (a pure wheel serves both)
                download_lock(
                    lock,
                    tmp,
                    python_version=config.python_version,
                    platforms=config.platforms_for(arch),
                    source=lock.relative_to(config.root).as_posix(),
                    architecture=arch,
                )
        record_downloads(tmp)
        (tmp / _STAMP).write_text(key + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def verify(config: Config, wheels: Iterable[Path]) -> None:
    """Each of ``wheels`` (files of the wheelhouse) is the file downloaded, and one the lock's
    ``--hash`` values allow when it has them; else a LockError naming it and how to fetch it again."""
    dest = config.root / WHEELHOUSE
    record = _load(dest)
    allowed: dict[str, set[str]] = {}
    for lock in config.lock_files:
        if (config.root / lock).is_file():
            for pin in parse_lock(config.root / lock).values():
                allowed.setdefault(pin.name, set()).update(h.removeprefix("sha256:") for h in pin.hashes)
    changed = False
    for wheel in wheels:
        entry = record.get(wheel.name)
        signature = _signature(wheel)
        unchanged = entry is not None and entry.get("stat") == signature  # the same file as when last hashed
        digest = entry["sha256"] if unchanged and entry else _sha256(wheel)
        hashes = set() if entry and entry.get("built_from") else allowed.get(canonicalize_name(wheel.name.split("-", 1)[0]), set())
        rel = wheel.relative_to(config.root).as_posix() if wheel.is_relative_to(config.root) else str(wheel)
        if entry is None or entry.get("sha256") != digest or (hashes and digest not in hashes):
            why = (
                "the lock's --hash values do not allow it" if entry is not None and entry.get("sha256") == digest
                else "it is not the file that was downloaded" if entry is not None
                else "builder did not download it"
            )
            raise LockError(
                f"{rel}: {why} (sha256 {digest[:16]}...); something changed the wheelhouse. Delete the file "
                f"(`rm {rel}`) and run the command again: builder downloads what is missing and checks it."
            )
        if not unchanged:
            entry["stat"] = signature
            changed = True
    if changed:
        write_atomic(dest / _HASHES, json.dumps(record, indent=1, sort_keys=True) + "\n")


def record_downloads(folder: Path) -> None:
    """Write the sha256 (and file signature) of every wheel in ``folder``, as a download ends."""
    record = {w.name: {"sha256": _sha256(w), "stat": _signature(w)} for w in sorted(folder.glob("*.whl"))}
    (folder / _HASHES).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def add_built(dest: Path, wheel: Path, sdist: Path, architecture: str) -> None:
    """Put ``wheel``, built from ``sdist`` for ``architecture``, in the wheelhouse ``dest`` and record
    its sha256 (a lock's --hash values are the sdist's)."""
    shutil.copy2(wheel, dest / wheel.name)
    record = _load(dest)
    record[wheel.name] = {"sha256": _sha256(dest / wheel.name), "stat": _signature(dest / wheel.name),
                          "built_from": sdist.name, "built_for": architecture}  # fmt: skip
    write_atomic(dest / _HASHES, json.dumps(record, indent=1, sort_keys=True) + "\n")


def built_from(dest: Path) -> set[tuple[str, str]]:
    """The sdists (and the architecture) whose built wheels the wheelhouse ``dest`` holds."""
    return {(str(e["built_from"]), str(e.get("built_for", "x86_64"))) for e in _load(dest).values()
            if isinstance(e, dict) and e.get("built_from")}  # fmt: skip


def _load(dest: Path) -> dict:
    try:
        data = json.loads((dest / _HASHES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _complete(dest: Path) -> bool:
    """The record exists and every wheel it lists is still there (else: download again)."""
    record = _load(dest)
    return bool(record) and all((dest / name).is_file() for name in record)


def _remove_leftovers(work: Path) -> None:
    """Folders of downloads that a killed run left: empty ones, and any an hour old (a download
    running now in another process is neither)."""
    for folder in work.glob("wheelhouse.tmp-*"):
        try:
            if not any(folder.iterdir()) or time.time() - folder.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def _signature(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]  # ctime: no one can set it back


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
