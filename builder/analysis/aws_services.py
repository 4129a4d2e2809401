"""Which AWS service models a function's botocore needs: found from its client calls.

botocore ships the models of every AWS service (``botocore/data/<service>/``, about 18 MB of
the 28 MB it installs); a function uses one or two. The calls that load a model name its
service: ``boto3.client("s3")``, ``boto3.resource("dynamodb")``, ``Session(...).client(...)``
and botocore's ``create_client("sqs")``. Each Python file of a function's closure, its own
code and its third-party distributions alike (the SDK's own code passes names through, so
it is not read), is searched for them. Where a call's service name is not a literal, every
model is kept and the call is reported with its file and line: a function is never given
too few models silently. ``aws-services`` in builder.toml overrides the search (a list of
service names, or ``"off"`` to keep every model).

What botocore always needs stays in its own distribution: the files at the top of
``botocore/data`` (endpoints, partitions, retry and default-configuration data). boto3's resource
models (``boto3/data``) of the same services go with the models (:mod:`builder.image.plan`).
``ALWAYS`` adds the models the credential chain loads.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..core import cache as cachefile
from ..core.errors import ConfigError
from ..core.paths import CACHE_DIR, CONFIG_FILE, WHEELHOUSE
from ..deps.dists import DistIndex, installed_path
from ..project.model import AWS_SERVICES_OFF, SERVICE_NAME, Config, FunctionConfig, did_you_mean
from .records import Closure

BOTOCORE = "botocore"
MODELS_PREFIX = "botocore/data/"
# Their own client calls take the name they are given (boto3.client(*args) and the like).
SDK = frozenset({"boto3", "botocore", "s3transfer"})
# The credential chain makes STS clients (AssumeRole and web identity profiles, as EKS and
# cross-account roles use): kept with every function's models (38 kB).
ALWAYS = ("sts",)
CALLS_CACHE = f"{CACHE_DIR}/aws-calls.json"
_CACHE_VERSION = 3  # 2: methods taken without a call; 3: botocore.client is a module, not a method
_METHODS = ("client", "resource", "create_client")
_MAYBE = re.compile(rb"\b(?:client|resource|create_client)\b")
_USES_SDK = re.compile(rb"^\s*(?:import|from)\s+(?:boto3|botocore|aioboto3|aiobotocore)\b", re.MULTILINE)


class Call(NamedTuple):
    """A client call: its service (``""`` when the name is not a literal), file and line.

    ``dist`` is the distribution whose file it is ("" for the backend's own code)."""

    service: str
    path: str
    line: int
    dist: str = ""

    def where(self) -> str:
        return f"{self.path}:{self.line}" + (f" ({self.dist})" if self.dist else "")


@dataclass(frozen=True)
class AwsServices:
    """The service models one function's image ships; ``services`` None: every model."""

    function: str
    services: tuple[str, ...] | None
    calls: tuple[Call, ...]  # what the search found, by file and line (empty when configured)
    source: str  # "detected", "configured" (aws-services = [...]) or "off"

    @property
    def dynamic(self) -> tuple[Call, ...]:
        """The calls whose service name is not a literal (each keeps every model)."""
        return tuple(c for c in self.calls if not c.service)


def scan_source(text: bytes) -> list[tuple[str, int]]:
    """The client calls of one Python file: (service or "" when not a literal, line).

    A literal name counts wherever it is (a name that is no service is dropped later); a
    name that is not a literal counts for ``create_client`` anywhere, and for ``client`` and
    ``resource`` in files that import boto3 or botocore (elsewhere a ``.client(x)`` is seldom
    AWS's); so does, in those files, the method taken without a call (``make = boto3.client``),
    whose later calls cannot be read. A file that does not parse has no calls (the closure
    reports local syntax errors).
    """
    if not _MAYBE.search(text):
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    sdk = bool(_USES_SDK.search(text))
    found = []
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if sdk and isinstance(node, ast.Attribute) and node.attr in _METHODS and id(node) not in called:
            if _session_like(node.value):  # `make = boto3.client`: a call we cannot read
                found.append(("", node.lineno))
            continue
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in _METHODS:
            continue
        arg: ast.expr | None = None
        if node.args and not isinstance(node.args[0], ast.Starred):
            arg = node.args[0]
        else:
            arg = next((k.value for k in node.keywords if k.arg == "service_name"), None)
        unpacked = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append((arg.value, node.lineno))
        elif (arg is not None or unpacked) and (sdk or name == "create_client"):
            found.append(("", node.lineno))
    return sorted(found, key=lambda item: (item[1], item[0]))


def _session_like(node: ast.expr) -> bool:
    """Whether ``node.<method>`` names the SDK's method: on ``boto3``, ``botocore.session``, a call
    (``boto3.Session()``) or a name with "session" in it (``self._session``); ``self.client`` and
    ``table.meta.client`` are clients already, not a way to make one, and ``botocore.client`` is
    botocore's module (``hasattr(botocore.client, ...)``, ``botocore.client.BaseClient``)."""
    if isinstance(node, ast.Call):
        return True
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "boto3" or "session" in name.lower()


def known_services(index: DistIndex) -> frozenset[str]:
    """The services whose models botocore's wheel ships (the folders of ``botocore/data``)."""
    if BOTOCORE not in index:
        return frozenset()
    return frozenset(
        path[len(MODELS_PREFIX):].split("/", 1)[0]
        for path in index.dist(BOTOCORE).files
        if path.startswith(MODELS_PREFIX) and path.count("/") > 2
    )


def _wheel_calls(wheel: Path) -> list[list]:
    """[path, line, service] of every client call in a wheel's Python files."""
    out: list[list] = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith(".py"):
                path = installed_path(name)
                out += [[path, line, service] for service, line in scan_source(archive.read(name))]
    return out


class _Calls:
    """Client calls per wheel, kept in .builder/cache/aws-calls.json by wheel name and size."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CALLS_CACHE
        stored = cachefile.load(self.path)
        self.stored = stored.get("wheels", {}) if stored.get("version") == _CACHE_VERSION else {}
        self.used: dict[str, dict] = {}

    def of(self, dist: str, wheel: str) -> list[Call]:
        file = self.root / WHEELHOUSE / wheel
        size = file.stat().st_size
        entry = self.stored.get(wheel)
        if not entry or entry.get("size") != size:
            entry = {"size": size, "calls": _wheel_calls(file)}
        self.used[wheel] = entry
        return [Call(service, path, line, dist) for path, line, service in entry["calls"]]

    def save(self) -> None:
        if self.used != self.stored:
            cachefile.save(self.path, {"version": _CACHE_VERSION, "wheels": dict(sorted(self.used.items()))})


def setting(config: Config, fn: FunctionConfig) -> tuple[str, ...] | str | None:
    """The function's ``aws-services``: its own, else the project's (None: search the code)."""
    return fn.aws_services if fn.aws_services is not None else config.aws_services


def _configured(fn: FunctionConfig, names: tuple[str, ...], known: frozenset[str], version: str) -> AwsServices:
    wrong = sorted(set(names) - known)
    if wrong:
        raise ConfigError(
            f"{CONFIG_FILE}: aws-services of {fn.name} names {', '.join(map(repr, wrong))}: botocore "
            f"{version} has no model of that name.{did_you_mean(wrong[0], sorted(known))} Name services as "
            "boto3.client() takes them (e.g. aws-services = [\"s3\", \"dynamodb\"]), or write aws-services = "
            "\"off\" to keep every model."
        )
    return AwsServices(fn.name, tuple(sorted({*names, *ALWAYS} & known)), (), "configured")


def for_closure(config: Config, closure: Closure, index: DistIndex, calls: _Calls) -> AwsServices | None:
    """What one function needs of botocore's models; None when its image has no botocore."""
    if closure.distribution(BOTOCORE) is None:
        return None
    fn = closure.function
    chosen = setting(config, fn)
    known = known_services(index)
    if chosen == AWS_SERVICES_OFF:
        return AwsServices(fn.name, None, (), "off")
    if isinstance(chosen, tuple):
        return _configured(fn, chosen, known, index.dist(BOTOCORE).version)
    found: list[Call] = []
    for file in closure.local_files:
        if file.path.endswith(".py"):
            text = (config.root / file.path).read_bytes()
            found += [Call(service, file.path, line) for service, line in scan_source(text)]
    for dist in closure.distributions:
        if dist.name not in SDK and dist.name in index and index.dist(dist.name).wheel:
            found += calls.of(dist.name, index.dist(dist.name).wheel)
    found = [c for c in found if not c.service or c.service in known]
    services = None if any(not c.service for c in found) else tuple(sorted({*(c.service for c in found), *ALWAYS} & known))
    return AwsServices(fn.name, services, tuple(found), "detected")


def compute(config: Config, closures: Mapping[str, Closure], indexes: Mapping[str, DistIndex]) -> dict[str, AwsServices]:
    """Every function's service models (functions without botocore are left out)."""
    calls = _Calls(config.root)
    out = {}
    for name, closure in closures.items():
        index = indexes.get(closure.lock_file) or indexes.get(config.lock_file) or next(iter(indexes.values()))
        found = for_closure(config, closure, index, calls)
        if found is not None:
            out[name] = found
    calls.save()
    return out


def render(found: AwsServices | None, why: str | None = None) -> str:
    """The lines ``closure`` shows: the models shipped and the calls that chose them; with ``why``
    (a service), only where that service is called."""
    if found is None:
        return ""
    if why is not None:
        where = [c for c in found.calls if c.service == why]
        if not where:
            kept = found.services is None or why in found.services
            how = "every model is kept" if found.services is None else "it is always kept" if why in ALWAYS else ""
            return (f"the {why} model is in {found.function} ({how or found.source}).\n" if kept
                    else f"no call in {found.function} makes a {why} client; its model is not in the image.\n")
        return f"why the {why} model is in {found.function}:\n" + "".join(f"  {why} <- client call at {c.where()}\n" for c in where)
    if found.services is None:
        head = "all (aws-services = \"off\")" if found.source == "off" else "all"
    else:
        head = ", ".join(found.services) + (" (aws-services in builder.toml)" if found.source == "configured" else "")
    lines = ["", f"AWS service models: {head}"]
    lines += [f"  {c.service}  <- client call at {c.where()}" for c in _first_per_service(found.calls)]
    for c in found.dynamic:
        lines.append(f"  every model  <- client call at {c.where()}: the service name is not a literal "
                     "(name the services with aws-services in builder.toml to ship fewer)")  # fmt: skip
    return "\n".join(lines) + "\n"


def _first_per_service(calls: Iterable[Call]) -> list[Call]:
    first: dict[str, Call] = {}
    for c in calls:
        if c.service and c.service not in first:
            first[c.service] = c
    return [first[s] for s in sorted(first)]


def is_service_query(closure: Closure, found: AwsServices | None, why: str) -> bool:
    """Whether ``closure --why NAME`` asks about a service model (not a distribution or file)."""
    return found is not None and closure.distribution(why) is None and bool(SERVICE_NAME.match(why))


def to_json(found: AwsServices | None) -> dict | None:
    """The ``aws_services`` member of ``closure --json`` (null for a function without botocore)."""
    if found is None:
        return None
    return {
        "services": list(found.services) if found.services is not None else None,
        "source": found.source,
        "calls": [{"service": c.service or None, "path": c.path, "line": c.line, "distribution": c.dist or None}
                  for c in found.calls],  # fmt: skip
    }
