"""Make the Lambda-compatible Python base image (``Dockerfile.base``).

Users normally build on AWS's public Lambda base image. Where no registry can
be reached, the base is made locally: a Debian root filesystem from
debootstrap, imported into the engine, then ``Dockerfile.base`` on top.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..core import proc
from ..core.errors import BuildError, ConfigError
from ..deps import wheelhouse
from ..engine.docker_engine import DockerEngine
from ..project.model import ARCHITECTURES, DEFAULT_ARCHITECTURE, LOCAL_BASE, emulated
from . import reproducible

DEFAULT_TAG = LOCAL_BASE  # the local stand-in for AWS's base that builds use when AWS's is not there
DEBIAN_TAG = "builder-debian:{suite}"  # "-arm64" after it for arm64 (model.base_for's rule)
BINFMT = Path("/proc/sys/fs/binfmt_misc")  # where the kernel lists the emulators it runs foreign programs with
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}  # Lambda's architecture -> Debian's
DEFAULT_SUITE = "bookworm"  # its python3 is 3.11, the default target
DEFAULT_PYTHON = "3.11"
# The Debian release whose python3 is each version (a Lambda runtime's Python, made locally):
# forky is Debian's testing release, whose python3 is 3.14 (Dockerfile.base checks the version it gets).
# (bullseye's 3.9 has no wheel of the runtime client pinned in base-requirements.txt.)
SUITES = {"3.11": "bookworm", "3.13": "trixie", "3.14": "forky"}
# What Debian splits out of python3 that Lambda's CPython has in its standard library: distutils (until
# 3.12 removed it), which packages of that age still import (aws-lambda-powertools 1.x: distutils.util).
STDLIB_PACKAGES = {"bookworm": ("python3-distutils",)}
SCRIPTS = Path("/usr/share/debootstrap/scripts")  # debootstrap's script per suite; sid's serves every newer one


def make_command(python_version: str, architecture: str = DEFAULT_ARCHITECTURE) -> str:
    """How to make the local base of ``python_version``, for a sentence: ``--bootstrap`` where a
    Debian release has that python3, else ``--from`` an image that has it."""
    arch = "" if architecture == DEFAULT_ARCHITECTURE else f" --architecture {architecture}"
    if python_version in SUITES:
        return f"`python -m builder base --bootstrap{arch}` (no registry needed)"
    return (f"`python -m builder base --from IMAGE --python-version {python_version}{arch}`, IMAGE being a local "
            f"image that has Python {python_version} (no Debian release has it)")


def suite_for(python_version: str) -> str:
    """The Debian suite whose python3 is ``python_version``; a ConfigError naming the choices if none."""
    try:
        return SUITES[python_version]
    except KeyError:
        raise ConfigError(
            f"No Debian release has Python {python_version} as its python3, so `base --bootstrap` cannot make "
            f"that base (it can make {', '.join(sorted(SUITES))}). Pull AWS's public.ecr.aws/lambda/python:"
            f"{python_version} (or build `base --from` an image with that Python), or set python-version."
        ) from None
# What Dockerfile.base COPYs: files, and the emulator package folder (copied without __pycache__).
_RESOURCES = ("Dockerfile.base", "lambda-entrypoint.sh", "emulator")
BASE_LABEL = "builder.base"  # on a base builder made: the digest of what it was made from (resources_digest)


@functools.cache
def resources_digest() -> str:
    """A digest of what this builder makes a base from: Dockerfile.base, the entrypoint, the emulator
    and the runtime interface client's pins. A base labelled with another was made by another builder."""
    digest = hashlib.sha256()

    def add(node: Traversable, name: str) -> None:
        if node.is_dir():
            for child in sorted(node.iterdir(), key=lambda c: c.name):
                if child.name != "__pycache__":
                    add(child, f"{name}/{child.name}")
        else:
            digest.update(name.encode() + b"\0" + node.read_bytes() + b"\0")

    package = resources.files("builder") / "resources"
    for name in (*_RESOURCES, "base-requirements.txt"):
        add(package / name, name)
    return digest.hexdigest()[:16]


def stale(image: str, labels: Mapping[str, str]) -> bool:
    """Whether ``image`` (with its ``labels``) is a base another builder made: labelled with another
    digest, or builder's stand-in tag without the label (made before builders labelled their bases)."""
    made = labels.get(BASE_LABEL)
    if made is None:
        return image.split(":", 1)[0] == DEFAULT_TAG.split(":", 1)[0]
    return made != resources_digest()
_DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror(sources: tuple[Path, ...] = (
    Path("/etc/apt/sources.list.d/debian.sources"),
    Path("/etc/apt/sources.list"),
)) -> str:
    """The Debian mirror apt is configured with on this machine (the official one if none)."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            if "security" not in uri and "debian" in uri:
                return uri
    return _DEFAULT_MIRROR


def check_emulator(architecture: str) -> None:
    """A ConfigError saying how to register the emulator when this machine cannot run ``architecture``'s
    programs (qemu-user-static through binfmt_misc, which ``scripts/setup`` installs and registers)."""
    machine = ARCHITECTURES[architecture][0]
    entry = BINFMT / f"qemu-{machine}"
    try:
        enabled = entry.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        enabled = False
    if emulated(architecture) and not enabled:
        raise ConfigError(
            f"This machine ({os.uname().machine}) cannot run {architecture} programs, which making an {architecture} "
            f"base needs: no emulator is registered ({entry} is missing or disabled). Install Debian's "
            "qemu-user-static and binfmt-support, then `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc` "
            f"and `update-binfmts --enable qemu-{machine}` (scripts/setup does all three), or build the base "
            f"`--from` an {architecture} image you have (AWS's public.ecr.aws/lambda/python:3.11-arm64)."
        )


def bootstrap_debian(
    engine: DockerEngine,
    ref: str,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    architecture: str = DEFAULT_ARCHITECTURE,
) -> str:
    """Make a minimal Debian image ``ref`` with debootstrap; return its image ID. For another
    architecture than the machine's, debootstrap's second stage runs under the emulator."""
    if os.geteuid() != 0:
        raise ConfigError("Making a Debian base with debootstrap needs root. Run it as root (or with sudo).")
    check_emulator(architecture)
    if shutil.which("debootstrap") is None:
        raise ConfigError(
            "debootstrap is not installed. Install it (`apt-get install debootstrap`) or build the "
            "base from an existing image with `python -m builder base --from IMAGE`."
        )
    with tempfile.TemporaryDirectory(prefix="builder-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        tarball = Path(tmp) / "rootfs.tar"
        proc.run(
            # python3 goes in with the root filesystem: installed later by apt in Dockerfile.base,
            # it would rewrite dpkg's and debconf's files in a new layer (bytes wasted in every image).
            ["debootstrap", f"--arch={DEBIAN_ARCH[architecture]}", "--variant=minbase",
             f"--include={','.join(('python3', *STDLIB_PACKAGES.get(suite, ())))}", suite,
             str(rootfs), mirror or debian_mirror(), *_script(suite)],
            hint="Check that the Debian mirror is reachable (--mirror URL to choose another).",
        )
        _drop_apt_caches(rootfs)
        proc.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."])
        if not emulated(architecture):
            return engine.import_rootfs(tarball, ref)
        archive = Path(tmp) / "image.tar"  # `docker import` would say the machine's architecture
        reproducible.rootfs_archive(tarball, archive, ref, ARCHITECTURES[architecture][1])
        with open(archive, "rb") as fh:
            engine.load(fh)
        return engine.image_info(ref).id


def _script(suite: str, scripts: Path = SCRIPTS) -> list[str]:
    """debootstrap's SCRIPT argument for a suite newer than the debootstrap installed (bookworm's knows
    no forky): sid's script, which every Debian release since buster uses; none when it knows the suite."""
    if (scripts / suite).exists() or not (scripts / "sid").exists():
        return []
    return [str(scripts / "sid")]


def _drop_apt_caches(rootfs: Path) -> None:
    """Remove downloaded packages and index files before import.

    Dockerfile.base deletes them after installing python3, but a later layer's
    deletion only hides bytes: every image would still carry them.
    """
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in rootfs.glob(pattern):
            if path.is_file() and not path.is_symlink():
                path.unlink()


def _context(dest: Path, python_version: str, architecture: str) -> None:
    """Assemble the build context of Dockerfile.base in ``dest``."""
    package = resources.files("builder") / "resources"
    for name in _RESOURCES:
        source = package / name
        if not (source.is_file() or source.is_dir()):
            raise BuildError(f"builder's resource {name} is missing from the installed package. Reinstall builder.")
        _copy_resource(source, dest / name)
    wheels = dest / "wheels"
    wheels.mkdir()
    requirements = wheels / "requirements.txt"
    requirements.write_bytes((package / "base-requirements.txt").read_bytes())
    wheelhouse.download(
        ["-r", str(requirements)],
        wheels,
        python_version=python_version,
        platforms=(f"manylinux2014_{ARCHITECTURES[architecture][0]}",),
        source="builder/resources/base-requirements.txt",
    )
    pip_wheel = next(wheels.glob("pip-*.whl"))
    shutil.copyfile(pip_wheel, dest / "pip.whl")


def _copy_resource(source: Traversable, dest: Path) -> None:
    """Copy a resource file, or a folder without its ``__pycache__`` (nothing compiled on the host goes in)."""
    if source.is_dir():
        dest.mkdir()
        dest.chmod(0o755)
        for child in sorted(source.iterdir(), key=lambda c: c.name):
            if child.name != "__pycache__":
                _copy_resource(child, dest / child.name)
        return
    dest.write_bytes(source.read_bytes())
    # COPY keeps the mode: an executable entrypoint needs no `RUN chmod` (a second copy of it).
    dest.chmod(0o755 if dest.name.endswith(".sh") else 0o644)


def build_base(
    engine: DockerEngine,
    from_image: str,
    tag: str,
    *,
    python_version: str = "3.11",
    architecture: str = DEFAULT_ARCHITECTURE,
) -> str:
    """Build Dockerfile.base on ``from_image`` as ``tag`` for ``architecture`` (its RUN steps under
    the emulator when the machine is another); return the image ID."""
    engine.check()
    if not engine.image_exists(from_image):
        raise ConfigError(
            f"Image {from_image} is not available locally. Pull it, or make a Debian one here "
            "with `python -m builder base --bootstrap`."
        )
    with tempfile.TemporaryDirectory(prefix="builder-base-") as tmp:
        ctx = Path(tmp)
        _context(ctx, python_version, architecture)
        platform = ARCHITECTURES[architecture][1]
        found = engine.image_info(from_image).platform
        if found != platform:
            raise ConfigError(
                f"Image {from_image} is for {found}, not {platform}: a base for {architecture} functions starts from "
                f"an {architecture} image. Name one (`--from`), or make it with `base --bootstrap --architecture {architecture}`."
            )
        check_emulator(architecture)
        engine.build(
            ctx,
            (ctx / "Dockerfile.base").read_text(),
            target=None,
            tag=tag,
            build_args={"BASE_IMAGE": from_image, "PYTHON_VERSION": python_version, "BUILDER_BASE": resources_digest()},
            platform=None if architecture == DEFAULT_ARCHITECTURE else platform,
        )
    return engine.image_info(tag).id
