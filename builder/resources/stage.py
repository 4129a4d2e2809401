"""builder's build-stage helper: the work of each Dockerfile stage, run by the base's python3.

The build mounts (or, for Docker's classic builder, copies) this file at /stage/stage.py, so
the Dockerfile says what each stage does and this says how, with no shell tools assumed:

    python3 /stage/stage.py install TARGET   # a dependency group, from the files in /wheels
    python3 /stage/stage.py install TARGET --no-sources   # the same, bytecode without sources
    python3 /stage/stage.py code ROOT        # a function's code, staged under ROOT
    python3 /stage/stage.py models TARGET    # botocore's service models that /wheels/services.txt names

``install`` pip-installs /wheels/pins.txt (no dependencies, no index, no network) into TARGET
(with the options in /wheels/pip-target.txt when the wheels are for another platform),
deletes what /wheels/strip.txt lists, removes the debug sections of the shared objects that
/wheels/strip-debug.txt lists (``strip_debug``: no binutils needed), compresses the files that
/wheels/gzip.txt's patterns match (``models`` too), compiles bytecode for TARGET's final path,
and moves TARGET under /out. ``code`` compiles the files under ROOT for the paths they have
without the ROOT prefix. Both then set every file time under /out (or ROOT) to one fixed value,
so a layer made from them is the same bytes whenever and wherever it is built. Bytecode is compiled
with unchecked hashes, which never read file times, so fixing them is safe.
"""

import compileall
import glob
import gzip
import os
import shutil
import struct
import subprocess
import sys

FIXED_MTIME = 315532800  # 1980-01-01
WHEELS = "/wheels"
OUT = "/out"


def _listed(name):
    path = os.path.join(WHEELS, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line]


def _compile(folder, strip_prefix=None, legacy=False):
    ok = compileall.compile_dir(folder, quiet=1, workers=0 if strip_prefix is None else 1,
                                stripdir=strip_prefix, prependdir="/" if strip_prefix else None, legacy=legacy,
                                invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        sys.exit(f"stage.py: compiling {folder} failed")


def _freeze(folder):
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.utime(os.path.join(top, name), (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


def _drop_sources(target):
    """Remove each .py that has its bytecode beside it (Python then imports the .pyc alone);
    the .dist-info folders keep their files."""
    for top, dirs, files in os.walk(target):
        dirs[:] = [d for d in dirs if not d.endswith(".dist-info")]
        for name in files:
            if name.endswith(".py") and name + "c" in files:
                os.remove(os.path.join(top, name))


def install(target, sources=True):
    pins = _listed("pins.txt")
    cross = _listed("pip-target.txt")  # another platform's wheels: pip's --platform and the rest
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", f"--find-links={WHEELS}", "--no-deps",
                    "--no-cache-dir", "--no-compile", "--disable-pip-version-check", f"--target={target}", *cross,
                    *pins], check=True)
    for rel in _listed("strip.txt"):
        path = os.path.join(target, rel)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    for rel in _listed("strip-debug.txt"):
        strip_debug(os.path.join(target, rel))
    _gzip(target)
    _compile(target, legacy=not sources)
    if not sources:
        _drop_sources(target)
    staged = OUT + target
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    shutil.move(target, staged)
    _freeze(OUT)


_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # ELF64, little-endian: x86_64 and aarch64, Lambda's two
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SHT_NOBITS = 8


def strip_debug(path):
    """Remove the debug sections (.debug_*, .zdebug_*) of the ELF shared object at PATH.

    The debug sections lie together in the file, in no segment; their bytes are cut out and what
    follows them moves up by a multiple of every later segment's alignment, so each segment keeps
    its offset's congruence with its address (auditwheel's patchelf puts a segment after them).
    Offsets in the program and section headers follow; every section header stays, a debug one
    with size 0, so no section index changes, and nothing the loader reads changes but its
    offset in the file. A file laid out otherwise (debug sections split by another section, or
    inside a segment, or not ELF64 little-endian) is left as it is.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < _EHDR.size or data[:6] != b"\x7fELF\x02\x01":
        return
    header = list(_EHDR.unpack_from(data))
    phoff, shoff, phnum, shentsize, shnum, shstrndx = header[5], header[6], header[10], header[11], header[12], header[13]
    if not shoff or shentsize != _SHDR.size or shstrndx >= shnum or shoff + shnum * _SHDR.size > len(data):
        return
    segments = [list(_PHDR.unpack_from(data, phoff + i * _PHDR.size)) for i in range(phnum)]
    sections = [list(_SHDR.unpack_from(data, shoff + i * _SHDR.size)) for i in range(shnum)]
    names = sections[shstrndx][4]

    def name(section):
        start = names + section[0]
        return data[start:data.index(b"\0", start)]

    debug = [s for s in sections if s[5] and s[1] != _SHT_NOBITS and name(s).startswith((b".debug", b".zdebug"))]
    if not debug:
        return
    start, end = min(s[4] for s in debug), max(s[4] + s[5] for s in debug)
    inside = [s for s in sections if s[5] and s[1] != _SHT_NOBITS and s[4] < end and s[4] + s[5] > start]
    in_segment = any(p[5] and p[2] < end and p[2] + p[5] > start for p in segments)
    tables = (phoff, phoff + phnum * _PHDR.size), (shoff, shoff + shnum * _SHDR.size)
    if len(inside) != len(debug) or in_segment or any(a < end and b > start for a, b in tables):
        return
    after = [p[7] for p in segments if p[2] >= end] + [s[8] for s in sections if s[4] >= end] + [8]
    step = max(max(after), 1)
    shift = (end - start) // step * step
    if not shift:
        return
    for segment in segments:
        if segment[2] >= end:
            segment[2] -= shift
    cut = {id(s) for s in debug}
    for section in sections:
        if id(section) in cut:
            section[4], section[5] = start, 0
        elif section[4] >= end:
            section[4] -= shift
    for index in (5, 6):  # the program and section header tables' offsets
        if header[index] >= end:
            header[index] -= shift
    out = bytearray(data[:start] + bytes(end - start - shift) + data[end:])
    out[:_EHDR.size] = _EHDR.pack(*header)
    for i, segment in enumerate(segments):
        _PHDR.pack_into(out, header[5] + i * _PHDR.size, *segment)
    for i, section in enumerate(sections):
        _SHDR.pack_into(out, header[6] + i * _SHDR.size, *section)
    temp = path + ".stripping"
    with open(temp, "wb") as handle:
        handle.write(out)
    os.chmod(temp, os.stat(path).st_mode)
    os.replace(temp, path)


def _gzip(folder):
    """Compress the files that /wheels/gzip.txt's patterns match under FOLDER, in place
    (NAME -> NAME.gz, no time or name in the header: the same bytes on every build)."""
    for pattern in _listed("gzip.txt"):
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            with open(path, "rb") as handle:
                data = handle.read()
            with open(path + ".gz", "wb") as handle:
                handle.write(gzip.compress(data, compresslevel=9, mtime=0))
            os.remove(path)


def _move_tree(source, dest):
    """Move SOURCE's files into DEST, merging folders that both have."""
    for top, _, files in os.walk(source):
        into = os.path.join(dest, os.path.relpath(top, source))
        os.makedirs(into, exist_ok=True)
        for name in files:
            shutil.move(os.path.join(top, name), os.path.join(into, name))


def models(target):
    """botocore's models of the services /wheels/services.txt lists ("*": all) into TARGET, under
    /out, with boto3's resource models of them when /wheels/pins.txt has boto3."""
    unpacked = "/tmp/botocore-models"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", f"--find-links={WHEELS}", "--no-deps",
                    "--no-cache-dir", "--no-compile", "--disable-pip-version-check", f"--target={unpacked}",
                    *_listed("pins.txt")], check=True)
    data = os.path.join(unpacked, "botocore", "data")
    wanted = set(_listed("services.txt"))
    present = sorted(name for name in os.listdir(data) if os.path.isdir(os.path.join(data, name)))
    missing = wanted - set(present) - {"*"}
    if missing:
        sys.exit(f"stage.py: botocore has no model of {', '.join(sorted(missing))}")
    staged = OUT + target
    os.makedirs(staged)
    for folder in (data, os.path.join(unpacked, "boto3", "data")):
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if os.path.isdir(os.path.join(folder, name)) and ("*" in wanted or name in wanted):
                _move_tree(os.path.join(folder, name), os.path.join(staged, name))
    shutil.rmtree(unpacked)
    _gzip(staged)
    _freeze(OUT)


def code(root):
    _compile(root, strip_prefix=root)
    _freeze(root)


if __name__ == "__main__":
    command, folder = sys.argv[1:3]
    if command == "install" and sys.argv[3:] == ["--no-sources"]:
        install(folder, sources=False)
    else:
        {"install": install, "code": code, "models": models}[command](folder)
