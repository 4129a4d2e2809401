"""The Python a function image runs: what environment markers and wheel tags are evaluated for.

Never the host's: a lock made on macOS for a Linux x86_64 image must resolve
``sys_platform == "linux"`` markers and manylinux wheels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..project.model import ARCHITECTURES


@dataclass(frozen=True)
class Target:
    """Interpreter and platform of the function images (CPython on Linux by default)."""

    python_version: str = "3.11"
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    implementation_name: str = "cpython"

    @classmethod
    def from_config(cls, config: Any, architecture: str | None = None) -> Target:
        """The target of a backend's functions of ``architecture`` (x86_64 or arm64), else of the
        machine its first platform tag names; its python-version."""
        machine = ARCHITECTURES[architecture][0] if architecture else ""
        for arch in ("x86_64", "aarch64"):
            if not machine and config.platforms and config.platforms[0].endswith(arch):
                machine = arch
        return cls(python_version=config.python_version, platform_machine=machine or "x86_64")

    def for_architecture(self, architecture: str) -> Target:
        """This target on Lambda's ``architecture`` (x86_64 or arm64)."""
        return replace(self, platform_machine=ARCHITECTURES[architecture][0])

    @property
    def short_version(self) -> str:
        """``3.11`` (from ``3.11`` or ``3.11.9``)."""
        return ".".join(self.python_version.split(".")[:2])

    def marker_environment(self) -> dict[str, str]:
        """Every key ``packaging.markers`` evaluates, for this target, none from the host.

        A two-part python_version gives python_full_version ``X.Y.0``; give three parts to be exact.
        """
        parts = self.python_version.split(".")
        full = self.python_version if len(parts) >= 3 else f"{self.short_version}.0"
        system = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}.get(self.sys_platform, "")
        implementation = {"cpython": "CPython", "pypy": "PyPy"}.get(self.implementation_name, "")
        return {
            "implementation_name": self.implementation_name,
            "implementation_version": full,
            "os_name": "nt" if self.sys_platform == "win32" else "posix",
            "platform_machine": self.platform_machine,
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": full,
            "platform_python_implementation": implementation,
            "python_version": self.short_version,
            "sys_platform": self.sys_platform,
            "extra": "",
        }

    def accepts_wheel(self, filename: str) -> bool:
        """Whether a wheel's tags install on this target (interpreter, ABI and platform)."""
        try:
            tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename:
            return False
        major, minor = (self.short_version.split(".") + ["0"])[:2]
        exact = (f"py{major}", f"py{major}{minor}", f"cp{major}{minor}")
        for tag in tags:
            if tag.interpreter in exact and tag.abi in ("none", f"cp{major}{minor}"):
                pass
            elif tag.abi == "abi3" and tag.interpreter.startswith(f"cp{major}"):
                if int(tag.interpreter[len(f"cp{major}") :] or 0) > int(minor):
                    continue  # built for a newer stable ABI than the target has
            else:
                continue
            if tag.platform == "any":
                return True
            linux = tag.platform.startswith(("manylinux", "musllinux", "linux"))
            if self.sys_platform == "linux" and linux and tag.platform.endswith(self.platform_machine):
                return True
        return False
