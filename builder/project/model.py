"""The project model: the backend, its functions and their code roots, as frozen data.

Two readers feed it: ``sam_project`` (the SAM template, the source of truth) and ``config``
(``builder.toml`` over it). Everything downstream (closure, plan, Dockerfile, local runs)
reads only this model.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.limits import TASK_ROOT
from ..core.paths import CONFIG_FILE

DEFAULT_BASE_IMAGE = "public.ecr.aws/lambda/python:{python_version}"
LOCAL_BASE = "builder-lambda-python:{python_version}"  # the stand-in `base --bootstrap` makes
DEFAULT_PLATFORMS = ("manylinux2014_x86_64",)
REQUIREMENTS = "requirements.txt"
PYPROJECT = "pyproject.toml"
UV_LOCK = "uv.lock"
AL2023_GLIBC = 34  # python3.12 and newer run on Amazon Linux 2023 (glibc 2.34), the older ones on Amazon Linux 2


def default_platforms(python_version: str) -> tuple[str, ...]:
    """The wheel platform tags Lambda's python runtime of ``python_version`` runs: manylinux2014
    (glibc 2.17) on Amazon Linux 2, and up to manylinux_2_34 on Amazon Linux 2023 (3.12 and newer),
    as `sam build` takes them there: numpy 2.3 and later, for one, have manylinux_2_28 wheels only."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    if (major, minor) < (3, 12):
        return DEFAULT_PLATFORMS
    return (*DEFAULT_PLATFORMS, *(f"manylinux_2_{n}_x86_64" for n in range(17, AL2023_GLIBC + 1)))


def describe_platforms(platforms: tuple[str, ...]) -> str:
    """Platform tags for a sentence: a long list (the manylinux_2_x ladder) by its two ends."""
    return ", ".join(platforms) if len(platforms) <= 3 else f"{platforms[0]} to {platforms[-1]}"
# Lambda's architectures, and the machine and the image platform of each.
ARCHITECTURES = {"x86_64": ("x86_64", "linux/amd64"), "arm64": ("aarch64", "linux/arm64")}
DEFAULT_ARCHITECTURE = "x86_64"


def base_for(base_image: str, architecture: str) -> str:
    """The base image of ``architecture``'s functions: ``base_image``, with ``-arm64`` after its tag
    for arm64 (as AWS tags its arm64 images: ``public.ecr.aws/lambda/python:3.11-arm64``)."""
    if architecture == DEFAULT_ARCHITECTURE:
        return base_image
    name, _, tag = base_image.rpartition(":")
    if not name or "/" in tag:
        name, tag = base_image, "latest"
    return f"{name}:{tag}-{architecture}"


def emulated(architecture: str) -> bool:
    """Whether programs of Lambda's ``architecture`` need an emulator on this machine."""
    return ARCHITECTURES[architecture][0] != os.uname().machine
ONE_IMAGE = "one"
AWS_SERVICES_OFF = "off"  # aws-services = "off": ship every botocore service model
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # an AWS service as boto3.client() names it
DISPATCH_PACKAGE = "builder_functions"  # the one image's modules that start functions with code of their own
_WORD = re.compile(r"[A-Z]+[0-9]*(?=[A-Z][a-z]|$)|[A-Z]?[a-z]+[0-9]*|[A-Z]+[0-9]*|[0-9]+")


@dataclass(frozen=True)
class CodeRoot:
    """A folder of the backend whose files Lambda sees at ``dest``.

    A function's CodeUri is its first root (at ``/var/task``); each local layer adds one
    (its ContentUri at ``/opt``, or at ``/opt/python`` when SAM builds it). ``search``
    holds the subfolders that are on ``sys.path`` ("" is the folder itself); ``tops``
    restricts the importable top-level names (``source-roots`` of builder.toml); ``data``
    says whether its non-Python files ship too (a ZIP holds them all).
    """

    path: str  # posix, relative to the project root ("." is the root)
    dest: str
    search: tuple[str, ...] = ("",)
    tops: tuple[str, ...] | None = None
    data: bool = True
    owner: str = ""  # "CodeUri of HelloFunction", "layer SharedLayer": for messages
    as_is: bool = False  # a prebuilt layer: copied as it is (else what `sam build` leaves out stays out)
    package: bool = False  # a local package pip or uv installs (not a layer's ContentUri)

    def image_path(self, rel: str) -> str:
        """Where the file ``rel`` (relative to the project root) is in the image."""
        inner = rel if self.path == "." else rel[len(self.path) + 1 :]
        return posixpath.join(self.dest, inner)

    def holds(self, rel: str) -> bool:
        return self.path == "." or rel == self.path or rel.startswith(self.path + "/")


@dataclass(frozen=True)
class FunctionConfig:
    """One Lambda function: its name, its handler as Lambda has it, and where its code is."""

    name: str
    handler: str  # relative to the first root, as in the template: "app.lambda_handler"
    include: tuple[str, ...] = ()  # extra local files (globs, relative to the root)
    exclude_modules: tuple[str, ...] = ()  # local modules never followed
    event: str = ""  # sample event, relative to the root (the first of ``events`` that exists)
    roots: tuple[CodeRoot, ...] = (CodeRoot(".", TASK_ROOT, tops=("functions", "shared"), data=False),)
    logical_id: str = ""  # in the SAM template ("" for a function of builder.toml only)
    template: str = ""  # the template that defines it, relative to the root
    requirements: tuple[str, ...] = ()  # requirements files (its CodeUri's, its layers'), for locking
    lock_file: str = ""  # the lock its distributions come from (set by ``load``)
    keep: tuple[str, ...] = ()  # modules or distributions the closure cannot see (dynamic imports)
    arn_layers: tuple[str, ...] = ()  # layers given by ARN: not in the image
    architecture: str = DEFAULT_ARCHITECTURE  # Lambda's name: x86_64 or arm64
    # botocore service models to ship: None (search the code), a tuple of names, or AWS_SERVICES_OFF
    aws_services: tuple[str, ...] | str | None = None
    settings: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)  # for local runs

    @property
    def code_root(self) -> CodeRoot:
        return self.roots[0]

    @property
    def module(self) -> str:
        """Dotted module name of the handler (``functions.user.auth.authorizer``)."""
        return self.handler.rsplit(".", 1)[0].replace("/", ".")

    @property
    def module_path(self) -> str:
        """Source file of the handler, relative to the project root (``pkg/main.lambda_handler`` and
        ``pkg.main.lambda_handler`` both name ``pkg/main.py``, as for Lambda)."""
        inner = self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
        return inner if self.code_root.path == "." else f"{self.code_root.path}/{inner}"

    @property
    def attribute(self) -> str:
        """Name of the handler function inside its module."""
        return self.handler.rsplit(".", 1)[1]

    def setting(self, key: str, default: Any = None) -> Any:
        """A local-run setting from the template (``Environment``, ``MemorySize``, ``Timeout``, ...)."""
        return dict(self.settings).get(key, default)


@dataclass(frozen=True)
class StripConfig:
    """Strip rules: the defaults (unless turned off), then the user's, then per distribution."""

    defaults: bool = True
    patterns: tuple[str, ...] = ()
    per_dist: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (canonical name, patterns), sorted
    # Debug symbols stripped from these distributions' shared objects (off by default):
    # (canonical name, patterns of .so files, '!' excludes), sorted.
    debug_symbols: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # False: dependencies ship their bytecode without their .py sources (sourceless .pyc beside
    # each module): smaller, but tracebacks show no source lines of their frames (opt-in)
    sources: bool = True


@dataclass(frozen=True)
class CheckConfig:
    """Size budgets of ``check``: growth tolerance, and ceilings on bytes above the base image."""

    tolerance: float = 0.05  # relative growth allowed over the baseline, per function and in all
    max_function_bytes: int | None = None
    max_total_bytes: int | None = None


@dataclass(frozen=True)
class Config:
    """A backend: where it is, what it targets and its functions (sorted by name)."""

    root: Path
    name: str
    python_version: str = "3.11"
    base_image: str = DEFAULT_BASE_IMAGE.format(python_version="3.11")
    lock_file: str = "requirements/functions.txt"
    source_roots: tuple[str, ...] = ("functions", "shared")
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    functions: tuple[FunctionConfig, ...] = field(default=())
    strip: StripConfig = field(default_factory=lambda: StripConfig())
    check: CheckConfig = field(default_factory=lambda: CheckConfig())
    templates: tuple[str, ...] = ()  # the SAM templates read, relative to the root
    locked_by_builder: bool = False  # the locks come from requirements files (builder-locks/)
    base_image_set: bool = False  # base-image was chosen (else AWS's, or builder's local stand-in)
    keep: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (logical id, why it is left alone)
    notices: tuple[str, ...] = ()  # what reading the template noticed, said once per command
    parameters: tuple[tuple[str, str], ...] = ()  # samconfig.toml's parameter_overrides
    env_vars: str = ""  # samconfig.toml's env_vars file (SAM's --env-vars), relative to the root
    images: str = "per-function"  # or ONE_IMAGE: the guide's shape, one image holding every function
    aws_services: tuple[str, ...] | str | None = None  # every function's, unless its own says (FunctionConfig)

    @property
    def lock_path(self) -> Path:
        return self.root / self.lock_file

    @property
    def lock_files(self) -> tuple[str, ...]:
        """Every lock a function's distributions come from, the shared one first."""
        return tuple(dict.fromkeys([self.lock_file, *sorted(f.lock_file for f in self.functions)]))

    def function(self, name: str) -> FunctionConfig:
        """The function called ``name`` (or with that logical ID); a ConfigError with a suggestion if none."""
        for fn in self.functions:
            if fn.name == name or fn.logical_id == name:
                return fn
        for fn in self.functions:
            if fn.logical_id and fn.logical_id.lower() == name.lower():
                return fn
        names = [fn.name for fn in self.functions]
        where = ", ".join(self.templates) or str(self.root / CONFIG_FILE)
        hint = did_you_mean(name, names + [fn.logical_id for fn in self.functions if fn.logical_id])
        skipped = dict(self.skipped)
        if name in skipped:
            hint = f" {name} is left alone: {skipped[name]}."
        raise ConfigError(
            f"No function named {name!r} in {where}.{hint} Known functions: {', '.join(names) or 'none'} "
            "(`python -m builder functions` lists them with their logical IDs)."
        )

    @property
    def architectures(self) -> tuple[str, ...]:
        """The architectures the functions run on, x86_64 first."""
        found = {fn.architecture for fn in self.functions} or {DEFAULT_ARCHITECTURE}
        return tuple(arch for arch in ARCHITECTURES if arch in found)

    def platforms_for(self, architecture: str) -> tuple[str, ...]:
        """The wheel platform tags of ``architecture``: ``platforms``, for its machine."""
        machine = ARCHITECTURES[architecture][0]
        return tuple(re.sub(r"(x86_64|aarch64)$", machine, platform) for platform in self.platforms)

    def base_for(self, architecture: str) -> str:
        """The base image of ``architecture``'s functions (see :func:`base_for`)."""
        return base_for(self.base_image, architecture)

    def base_candidates(self, architecture: str = DEFAULT_ARCHITECTURE) -> tuple[str, ...]:
        """The base images ``architecture``'s functions may use, first choice first: the one configured,
        else AWS's Lambda base for the runtime, then builder's local stand-in (``base --bootstrap``)."""
        if self.base_image_set:
            return (self.base_for(architecture),)
        return self.base_for(architecture), base_for(LOCAL_BASE.format(python_version=self.python_version), architecture)

    def image(self, function: str, tag: str = "latest") -> str:
        """The image a function runs from: ``<project>-<function>:<tag>``, or ``<project>:<tag>``,
        the image of every function, with ``images = "one"``."""
        return f"{self.name}:{tag}" if self.images == ONE_IMAGE else f"{self.name}-{function}:{tag}"

    @property
    def one_image_shared(self) -> bool:
        """Whether every function can run from one image as it is: one code folder, one lock."""
        return (len({fn.code_root.path for fn in self.functions}) <= 1
                and len({fn.lock_file or self.lock_file for fn in self.functions}) <= 1)  # fmt: skip

    def command(self, function: str) -> str:
        """The image command (``ImageConfig.Command``) that runs a function: its handler, or in the one
        image of functions with code folders (or locks) of their own, the module that starts it."""
        fn = self.function(function)
        if self.images != ONE_IMAGE or self.one_image_shared:
            return fn.handler
        return f"{DISPATCH_PACKAGE}/{fn.name.replace('-', '_')}.handler"


def function_name(logical_id: str) -> str:
    """The image-friendly name of a logical ID: ``ConfirmBookingFunction`` -> ``confirm-booking``."""
    stem = logical_id[: -len("Function")] if logical_id.endswith("Function") and len(logical_id) > 8 else logical_id
    words = _WORD.findall(stem) or [stem]
    return "-".join(w.lower() for w in words)[:63].strip("-") or "function"


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices``, or ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
