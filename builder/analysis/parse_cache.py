"""Scan results by file content hash, shared by all functions of a run and kept between runs.

The cache lives in ``<root>/.builder/cache/imports.json``; it is keyed by the
scanner version, the host Python (its ``ast`` decides what parses) and the
scan mode, and rewritten atomically. The library never prints: ``hits`` and
``misses`` are there for whoever wants to report them.

Next to it, ``closures.json`` keeps the last whole result of
``closure.compute_closures`` with what it was computed from; that module
decides when it can be reused, this one only stores it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import symtable
import sys
import time
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..core import cache as cachefile
from ..core.errors import AnalysisError
from ..core.paths import CACHE_DIR
from .fastscan import scan_fast
from .imports import FileImports, scan_full, syntax_error

CACHE_FILE = Path(CACHE_DIR) / "imports.json"
CLOSURES_FILE = CACHE_FILE.with_name("closures.json")
SCANNER_VERSION = 5  # 5: the syntax check builds the symbol table too
PARALLEL_MIN = 200  # files to check before worker processes pay for their start (about 0.15 s)
MAX_WORKERS = 4


def decode_source(data: bytes, path: str) -> str:
    """Bytes to text as Python reads them (UTF-8, a BOM or a coding cookie), newlines normalised."""
    try:
        text = data.decode("utf-8-sig")
        if "coding" in text[:400]:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "cookie")
    except UnicodeDecodeError:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            text = data.decode(encoding)
        except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
            raise AnalysisError(f"{path}: cannot decode the file ({exc}). Save it as UTF-8.") from exc
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text



class ParseCache:
    """Scan results by file content hash; shared by all functions of one run.

    ``strict=True`` parses every file in full with ``ast`` (slower; sees every syntax
    error). ``load``/``save`` keep the results in ``<root>/.builder/cache/imports.json``.
    Entries are kept as JSON text and decoded on use: strings cost the garbage collector
    nothing, and a warm run decodes only the files it reads. ``hits`` counts files whose
    scan came from the cache, ``misses`` files that were scanned.

    ``scan_file`` also remembers each path's (size, mtime_ns, inode) with its content hash,
    as git's index does, so that an unchanged file is not even read again. A signature is
    only trusted when the file was last modified more than two seconds before it was
    recorded (an edit within the same clock tick would otherwise go unseen). ``digests`` maps
    the paths read or hashed in this run to their content hash.

    ``stored_closures``/``store_closures`` hold the last result of ``compute_closures``
    (saved to ``closures.json`` by ``save``); ``closures_reused`` tells whether a run reused it.
    """

    def __init__(
        self, entries: dict[str, str] | None = None, *, strict: bool = False, stats: dict[str, list] | None = None
    ) -> None:
        self.strict = strict
        self._stored = entries or {}
        self._used: dict[str, str] = {}
        self._stats = stats or {}  # path -> [size, mtime_ns, inode, digest]
        self._stats_used: dict[str, list] = {}
        self.root: Path | None = None  # where ``load`` read it from: ``save()`` writes there
        self.hits = 0
        self.misses = 0
        self.digests: dict[str, str] = {}
        self._invalid: dict[str, str] = {}  # key -> its syntax error, found by check_many
        self._closures_new: dict | None = None  # computed in this run, not saved yet
        self.closures_reused = False

    @staticmethod
    def path_for(root: Path) -> Path:
        return Path(root) / CACHE_FILE

    @classmethod
    def load(cls, root: Path, *, strict: bool = False) -> ParseCache:
        """The cache saved under ``root``; empty if there is none or it is from another scanner or Python."""
        data = cachefile.load(cls.path_for(root))
        entries, stats = data.get("entries"), data.get("stats")
        if data.get("key") != _cache_key(strict) or not isinstance(entries, dict) or not isinstance(stats, dict):
            cache = cls(strict=strict)
        else:
            cache = cls({k: v for k, v in entries.items() if isinstance(v, str)}, strict=strict, stats=stats)
        cache.root = Path(root)
        return cache

    def save(self, root: Path | None = None, *, keep: int = 20000) -> None:
        """Write the entries used in this run, plus older ones up to ``keep`` in all, atomically.

        ``root`` defaults to the one the cache was loaded from; a cache made in memory needs it.
        """
        root = root if root is not None else self.root
        if root is None:
            raise ValueError("ParseCache.save() needs the backend root: this cache was not loaded from one")
        entries = dict(self._used)
        for digest, value in self._stored.items():
            if len(entries) >= max(keep, len(self._used)):
                break
            entries.setdefault(digest, value)
        if self._closures_new is not None:
            cachefile.save(Path(root) / CLOSURES_FILE, self._closures_new)
        if entries == self._stored and self._stats_used == self._stats:
            return
        data = {"key": self.key, "entries": entries, "stats": self._stats_used}
        cachefile.save(self.path_for(root), data)

    @property
    def key(self) -> str:
        """What the scan results depend on besides file content: scanner version, host Python, mode."""
        return _cache_key(self.strict)

    def stored_closures(self) -> dict:
        """The closures stored by this run, or else the ones saved under ``root`` ({} if none)."""
        if self._closures_new is not None:
            return self._closures_new
        return cachefile.load(self.root / CLOSURES_FILE) if self.root is not None else {}  # not kept: read once

    def store_closures(self, data: dict) -> None:
        """Keep a JSON-able result of ``compute_closures``; ``save`` writes it."""
        self._closures_new = data

    def scan_file(self, path: str, key: str) -> tuple[FileImports, int]:
        """The imports and the size of the file at ``path`` (``key``: its path relative to the root).

        Raises OSError if the file cannot be read.
        """
        st = os.stat(path)
        known = self._signature(key, st)
        if known is not None:
            result = self._cached(known[3])
            if result is not None:
                self._stats_used[key] = known
                self.digests[key] = known[3]
                return result, st.st_size
        with open(path, "rb") as fh:
            data = fh.read()
        digest = self._record(key, st, data)
        return self._scan(data, digest, key), len(data)

    def check_syntax(self, root: Path | str, key: str) -> None:
        """Raise the AnalysisError of the first syntax error of the file ``key`` (its path relative
        to ``root``). The fast scan skips statements that cannot import; this parses
        the whole file and builds its symbol table (what ``compile`` rejects before code
        generation), once per content: a valid version is remembered by its hash."""
        if self.strict or self._known_valid(key):
            return
        if key in self._invalid:  # found by check_many's workers
            raise AnalysisError(self._invalid[key])
        with open(os.path.join(root, key), "rb") as fh:
            data = fh.read()
        problem = syntax_problem(data, key)
        if problem is not None:
            raise AnalysisError(problem)
        self._used[f"valid:{hashlib.blake2b(data, digest_size=16).hexdigest()}"] = ""

    def check_many(self, files: Iterable[tuple[Path | str, str]]) -> None:
        """Check the syntax of many files (``(root, key)`` pairs, as for ``check_syntax``) ahead of
        it, in worker processes when there are enough of them to pay for the workers' start and
        the machine has more than one core; ``check_syntax`` then raises what they found."""
        seen: set[str] = set()
        todo = []
        for root, key in files:
            if key not in seen:
                seen.add(key)
                if not self._known_valid(key):
                    todo.append((os.path.join(root, key), key))
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
        if self.strict or workers < 2 or len(todo) < PARALLEL_MIN:
            return  # check_syntax does them one by one
        for key, digest, problem in _check_in_workers(todo, workers):
            if problem is None:
                self._used[f"valid:{digest}"] = ""
            else:
                self._invalid[key] = problem

    def _known_valid(self, key: str) -> bool:
        digest = self.digests.get(key)
        if digest is None:
            return False
        valid = f"valid:{digest}"
        if valid in self._used:  # checked already in this run (every closure that ships it asks)
            return True
        if valid in self._stored:
            self._used[valid] = ""
            return True
        return False

    def unchanged(self, root: str, digests: Mapping[str, str]) -> bool:
        """Whether each file (path relative to ``root``) still has the given content hash; files are
        read only if their stat signature changed. False if one cannot be read."""
        used, hashes = self._stats_used, self.digests
        for key, digest in digests.items():
            try:
                st = os.stat(f"{root}/{key}")
                known = self._signature(key, st)
                if known is not None:
                    used[key] = known
                    hashes[key] = known[3]
                else:
                    with open(f"{root}/{key}", "rb") as fh:
                        self._record(key, st, fh.read())
            except OSError:
                return False
            if hashes[key] != digest:
                return False
        return True

    def _signature(self, key: str, st: os.stat_result) -> list | None:
        """The recorded [size, mtime_ns, inode, digest] of ``key`` if ``st`` still matches it."""
        known = self._stats.get(key)
        if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns and known[2] == st.st_ino:
            return known
        return None

    def _record(self, key: str, st: os.stat_result, data: bytes) -> str:
        digest = self.digests[key] = hashlib.blake2b(data, digest_size=16).hexdigest()
        if time.time_ns() - st.st_mtime_ns > 2_000_000_000:
            self._stats_used[key] = [st.st_size, st.st_mtime_ns, st.st_ino, digest]
        return digest

    def _cached(self, digest: str) -> FileImports | None:
        raw = self._used.get(digest) or self._stored.get(digest)
        if raw is None:
            return None
        try:
            result = FileImports.from_json(json.loads(raw))
        except (ValueError, TypeError):
            return None  # a damaged entry: scan again
        self.hits += 1
        self._used[digest] = raw
        return result

    def scan(self, data: bytes, path: str) -> FileImports:
        """The imports of a file with content ``data`` (``path`` is for messages only)."""
        return self._scan(data, hashlib.blake2b(data, digest_size=16).hexdigest(), path)

    def _scan(self, data: bytes, digest: str, path: str) -> FileImports:
        result = self._cached(digest)
        if result is not None:
            return result
        self.misses += 1
        source = decode_source(data, path)
        result = scan_full(source, path) if self.strict else scan_fast(source, path)
        self._used[digest] = json.dumps(result.to_json(), separators=(",", ":"))
        return result


def syntax_problem(data: bytes, key: str) -> str | None:
    """What is wrong with the Python file ``key`` whose content is ``data``, or None."""
    try:
        symtable.symtable(decode_source(data, key), key, "exec")
    except SyntaxError as exc:
        return str(syntax_error(key, exc))
    except ValueError as exc:  # null bytes (Python 3.11 raises no SyntaxError for them)
        return str(syntax_error(key, SyntaxError(str(exc))))
    except AnalysisError as exc:  # not decodable
        return str(exc)
    return None


def _check_in_workers(files: list[tuple[str, str]], workers: int) -> list[tuple[str, str, str | None]]:
    """``_check_files`` of a share of ``files`` in each of ``workers`` Python processes (this module
    run as a program: the pairs as JSON on its stdin, the results on its stdout). New interpreters,
    not forks, so no lock another thread holds comes along, and nothing of the caller's program
    runs again. A worker that fails leaves its share to ``check_syntax``."""
    here = str(Path(__file__).resolve().parents[2])  # where builder is imported from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    procs = []
    for share in (files[i::workers] for i in range(workers)):
        proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        procs.append(proc)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            with proc.stdin:
                proc.stdin.write(json.dumps(share).encode())
        except OSError:  # it ended before reading its share: its exit code says so below
            pass
    results = []
    for proc in procs:
        assert proc.stdout is not None
        with proc.stdout:
            out = proc.stdout.read()
        if proc.wait() == 0:
            try:
                results += [tuple(r) for r in json.loads(out)]
            except ValueError:
                pass
    return results


def _check_files(files: list[tuple[str, str]]) -> list[tuple[str, str, str | None]]:
    """A worker's share of ``check_many``: (key, content hash, problem) per readable file (one
    that cannot be read is left to ``check_syntax``, which says so)."""
    out = []
    for path, key in files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        out.append((key, hashlib.blake2b(data, digest_size=16).hexdigest(), syntax_problem(data, key)))
    return out


def _cache_key(strict: bool) -> str:
    return f"v{SCANNER_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}-{'strict' if strict else 'fast'}"


if __name__ == "__main__":  # a worker of _check_in_workers
    json.dump(_check_files(json.load(sys.stdin)), sys.stdout)
