"""A SAM project as builder sees it: its Python functions, read from the template as SAM reads it.

For each ``AWS::Serverless::Function`` whose runtime (its own or from Globals) is
``python3.x``: a name derived from its logical ID, its handler, its code roots (the
CodeUri folder at ``/var/task``, then each local layer the way Lambda lays it out under
``/opt``), its requirements files, its sample events and its local-run settings
(environment, memory, timeout, ephemeral storage). A function that ``migrate`` turned
into an image is read as it was (its ZIP definition is kept in the template). Other
runtimes, InlineCode, code in S3 and image functions builder did not make are left
alone and listed. Pure over the backend's files: nothing is written.
"""

from __future__ import annotations

import logging
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, TemplateError
from ..core.limits import PYTHON_RUNTIMES, TASK_ROOT
from ..deps.requirements import local_projects, requirement_files
from ..sam import template as sam
from .model import (
    _WORD,
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    PYPROJECT,
    REQUIREMENTS,
    UV_LOCK,
    CodeRoot,
    FunctionConfig,
    function_name,
)

log = logging.getLogger("builder")

TEMPLATE_NAMES = ("template.yaml", "template.yml")
SAMCONFIG = "samconfig.toml"
_PYTHON = re.compile(r"^python(3\.\d+)$")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
# Layers published by ARN that stand for a distribution: an image has no layers, so it needs that
# distribution in a requirements file instead.
WELL_KNOWN_LAYERS = (
    (re.compile(r"AWSLambdaPowertoolsPython", re.I), "aws-lambda-powertools"),
    (re.compile(r"AWSSDKPandas|AWSDataWrangler", re.I), "awswrangler"),
    (re.compile(r"Datadog-Python", re.I), "datadog-lambda"),
    (re.compile(r"NewRelicPython", re.I), "newrelic-lambda"),
    (re.compile(r":layer:Klayers-p3\d+-([A-Za-z0-9_.-]+):", re.I), None),  # Klayers: named after the package
)


@dataclass(frozen=True)
class Samconfig:
    """What builder reads from samconfig.toml (the ``default`` environment)."""

    template: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    env_vars: str = ""


@dataclass(frozen=True)
class Project:
    """The Python functions of the templates, and what was left alone or noticed on the way."""

    functions: tuple[FunctionConfig, ...] = ()
    templates: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    notices: tuple[str, ...] = ()
    python_version: str = ""


def parse_parameter_overrides(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """SAM's parameter overrides: ``K=V K2=V2``, ``ParameterKey=K,ParameterValue=V``, or a list of those."""
    items = value if isinstance(value, list) else re.findall(r'(?:[^\s"]|"[^"]*")+', str(value))
    found: dict[str, str] = {}
    for item in items:
        text = str(item)
        long_form = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", text)
        key, sep, val = (long_form[1], "=", long_form[2]) if long_form else text.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: parameter override {text!r} is not KEY=VALUE (e.g. Stage=dev).")
        found[key] = val.strip('"')
    return tuple(sorted(found.items()))


def read_samconfig(root: Path) -> Samconfig:
    """samconfig.toml's template_file, parameter_overrides and env_vars (``default`` environment)."""
    path = root / SAMCONFIG
    if not path.is_file():
        return Samconfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}. Fix the TOML syntax (SAM reads it too).") from exc
    default = data.get("default")
    default = default if isinstance(default, dict) else {}
    merged: dict[str, Any] = {}
    for command in ("global", "build", "deploy", "local_invoke"):  # later, more specific sections win
        section = default.get(command)
        params = section.get("parameters") if isinstance(section, dict) else None
        if isinstance(params, dict):
            merged.update(params)
    template = merged.get("template_file") or merged.get("template") or ""
    overrides = parse_parameter_overrides(merged["parameter_overrides"], str(path)) if "parameter_overrides" in merged else ()
    return Samconfig(str(template), overrides, str(merged.get("env_vars", "")))


def find_templates(root: Path, named: tuple[str, ...], samconfig: Samconfig) -> tuple[Path, ...]:
    """The templates to read: those named (``--template``, builder.toml), samconfig's, or template.yaml."""
    if named:
        paths = tuple((root / n).resolve() for n in named)
        for path, name in zip(paths, named):
            if not path.is_file():
                raise ConfigError(f"Template {name} not found (relative to {root}). Check the path given to --template.")
        return paths
    if samconfig.template and (root / samconfig.template).is_file():
        return ((root / samconfig.template).resolve(),)
    for name in TEMPLATE_NAMES:
        if (root / name).is_file():
            return ((root / name).resolve(),)
    return ()


def _exec_wrapper(props: dict[str, Any]) -> str | None:
    """The function's AWS_LAMBDA_EXEC_WRAPPER (the program Lambda starts instead of the runtime), if set."""
    env = props.get("Environment")
    variables = env.get("Variables") if isinstance(env, dict) else None
    value = variables.get("AWS_LAMBDA_EXEC_WRAPPER") if isinstance(variables, dict) else None
    return sam.describe(value) if value is not None else None


def _relative(root: Path, path: Path, what: str) -> str:
    """``path`` relative to the project root (posix); outside it is an error (the build context)."""
    resolved = path.resolve() if path.exists() else Path(posixpath.normpath(str(path)))
    try:
        rel = resolved.relative_to(root)
    except ValueError as exc:
        raise TemplateError(
            f"{what} is {path}, outside the project folder {root}: a build sees only the project folder. "
            "Run builder from a folder that holds it (--project DIR)."
        ) from exc
    return rel.as_posix() or "."


def _layer_distribution(arn: str) -> str | None:
    for pattern, dist in WELL_KNOWN_LAYERS:
        match = pattern.search(arn)
        if match:
            return dist or match[1].lower()
    return None


class _Reader:
    """Reads one template's functions; ``notices`` and ``skipped`` collect what it says once."""

    def __init__(self, root: Path, path: Path, python_version: str | None) -> None:
        self.root, self.path, self.python_version = root, path, python_version
        self.rel = _relative(root, path, "The template")
        self.folder = path.parent
        self.template = _zip_view(sam.load_template(path))
        self.data = self.template.data
        self.resources = self.data["Resources"]
        parameters = self.data.get("Parameters")
        self.parameters = parameters if isinstance(parameters, dict) else {}
        self.skipped: list[tuple[str, str]] = []
        self.notes: dict[tuple[str, bool], list[str]] = {}
        self.versions: dict[str, list[str]] = {}

    def functions(self) -> list[FunctionConfig]:
        found = []
        for info in self.template.functions:
            fn = self._function(info)
            if fn is not None:
                found.append(fn)
        return found

    def _skip(self, fid: str, why: str) -> None:
        self.skipped.append((fid, why))

    def _note(self, fid: str, message: str, local_layer: bool = False) -> None:
        """Something to say once, with every function it concerns (``local_layer``: about a layer of
        the template, moot where builder.toml's source-roots replaces the template's layout)."""
        self.notes.setdefault((message, local_layer), []).append(fid)

    def notices(self, layout: bool) -> list[str]:
        return [f"{', '.join(fids)}: {message}" for (message, local_layer), fids in self.notes.items()
                if layout or not local_layer]  # fmt: skip

    def _function(self, info: sam.FunctionInfo) -> FunctionConfig | None:
        fid = info.logical_id
        props = sam.effective_properties(self.data, fid)
        if info.package_type == "Image":
            self._skip(fid, "an image function builder did not make (it has its own Dockerfile)")
            return None
        if "InlineCode" in props:
            self._skip(fid, "InlineCode (no folder to build from)")
            return None
        runtime = self._scalar(props.get("Runtime"))
        match = _PYTHON.match(runtime or "")
        if match is None:
            self._skip(fid, f"runtime {runtime or '(none)'}, not python3.x")
            return None
        version = match[1]
        if version not in PYTHON_RUNTIMES:
            raise TemplateError(
                f"{self.rel}: {fid} has Runtime {runtime}, which Lambda does not have "
                f"(python{', python'.join(PYTHON_RUNTIMES)}). Fix the Runtime in the template."
            )
        if self.python_version and version != self.python_version:
            self._skip(fid, f"runtime {runtime}, and the project builds Python {self.python_version}")
            return None
        architecture = self._architecture(fid, props.get("Architectures"))
        code_uri = props.get("CodeUri", ".")
        if not isinstance(code_uri, str):
            self._skip(fid, f"CodeUri {sam.describe(code_uri)} is not a local folder")
            return None
        code = self.folder / code_uri
        if code.is_file():
            self._skip(fid, f"CodeUri {code_uri} is a built archive, not a folder")
            return None
        if not code.is_dir():
            raise TemplateError(
                f"{self.rel}: {fid}'s CodeUri is {code_uri}, and {code} does not exist. Fix the path in the "
                "template (it is relative to the template's folder), or restore the folder."
            )
        handler = self._scalar(props.get("Handler"))
        if not handler or "." not in handler:
            raise TemplateError(
                f"{self.rel}: {fid} has Handler {handler!r}; Lambda needs module.function (e.g. app.lambda_handler), "
                "relative to the CodeUri folder."
            )
        module = handler.rsplit(".", 1)[0]
        wrapper = _exec_wrapper(props)
        if wrapper and (code / handler).is_file() and not (code / f"{module}.py").is_file():
            self._skip(fid, f"Handler {handler} is a file of its CodeUri {code_uri}, which AWS_LAMBDA_EXEC_WRAPPER "
                            f"{wrapper} runs (a web adapter from a layer), not a Python module.function")  # fmt: skip
            return None
        if module.startswith(("/", "..")) or "/../" in f"/{module}/":
            raise TemplateError(
                f"{self.rel}: {fid}'s Handler {handler} points outside its CodeUri {code_uri}. A handler is a module "
                "path inside the CodeUri folder (Lambda imports it from /var/task)."
            )
        code_rel = _relative(self.root, code, f"{fid}'s CodeUri")
        roots = [CodeRoot(code_rel, TASK_ROOT, owner=f"CodeUri {code_uri} of {fid}")]
        requirements = self._requirements(fid, code, code_rel)
        roots += self._packages(requirements[1:], TASK_ROOT, f"{fid}'s pyproject.toml")
        roots += self._local_projects(requirements, TASK_ROOT)
        arns: list[str] = []
        uv = any(posixpath.basename(rel) == PYPROJECT for rel in requirements)  # its own files, before its layers'
        own = f"the [project] dependencies of its {PYPROJECT}" if uv else f"its {REQUIREMENTS}"
        for layer in self._layers(props):
            self._layer(fid, layer, version, roots, requirements, arns, own)
        self.versions.setdefault(version, []).append(fid)
        name = function_name(fid)
        template_dir = _relative(self.root, self.folder, "The template's folder")
        events = [posixpath.join(template_dir, "events", f"{name}.json"), posixpath.join(template_dir, "events", f"{fid}.json"),
                  posixpath.join(code_rel, "event.json"), posixpath.join(template_dir, "events", "event.json")]  # fmt: skip
        events = [posixpath.normpath(e) for e in events]
        found = sorted((self.folder / "events").glob("*.json")) if (self.folder / "events").is_dir() else []
        if len(found) == 1:  # the project's one sample event
            events.append(posixpath.normpath(posixpath.join(template_dir, "events", found[0].name)))
        unique: dict[tuple[str, str], CodeRoot] = {}
        for code_root in roots:  # a local package that the function and a layer both install, once
            unique.setdefault((code_root.path, code_root.dest), code_root)
        settings = {key: props[key] for key in ("Environment", "MemorySize", "Timeout", "EphemeralStorage", "LoggingConfig") if key in props}
        return FunctionConfig(
            name=name,
            handler=handler,
            event=next((e for e in events if (self.root / e).is_file()), events[0]),
            roots=tuple(unique.values()),
            logical_id=fid,
            template=self.rel,
            requirements=tuple(dict.fromkeys(requirements)),  # a package or uv.lock that two of them share, once
            arn_layers=tuple(arns),
            settings=tuple(sorted(settings.items())),
            architecture=architecture,
        )

    def _requirements(self, fid: str, code: Path, code_rel: str) -> list[str]:
        """The function's requirements files (relative to the root), as `sam build` picks them."""
        method = sam.build_method(self.resources[fid].get("Metadata"))
        files = self._files(code, code_rel, method)
        if method == "makefile":
            self._note(fid, f"BuildMethod makefile, which builder does not run: its image has the CodeUri folder and "
                            f"{_installs(files)}, as `sam build` builds a Python function.")  # fmt: skip
        return files

    def _files(self, folder: Path, rel: str, method: str) -> list[str]:
        """The requirements files of the folder ``folder`` (``rel`` from the root) built by ``method``,
        relative to the root (:func:`requirement_files`)."""
        return [posixpath.normpath(f"{rel}/{name}") for name in requirement_files(folder, method, self.root)]

    def _src(self, rel: str) -> str | None:
        """The ``src/`` of the uv project at ``rel`` (from the root), where its packages are, if it has one."""
        return posixpath.join(rel, "src") if (self.root / rel / "src").is_dir() else None

    def _packages(self, files: list[str], dest: str, needed_by: str) -> list[CodeRoot]:
        """The code roots of the local packages (a folder with a pyproject.toml, among ``files``) that
        uv installs at ``dest`` with a project: their ``src/``, else their folder's modules alone."""
        roots = []
        for rel in files:
            if posixpath.basename(rel) != PYPROJECT:
                continue
            folder = posixpath.dirname(rel) or "."
            roots.append(self._package(folder, dest, f"package {folder} (a uv source of {needed_by})"))
        return roots

    def _package(self, folder: str, dest: str, owner: str) -> CodeRoot:
        """The code root of the local package at ``folder`` (from the root), installed at ``dest``:
        its ``src/`` where it has one, else its folder's modules alone (not its setup files or tests)."""
        src = self._src(folder)
        return CodeRoot(src or folder, dest, data=bool(src), owner=owner, package=True)

    def _local_projects(self, files: list[str], dest: str) -> list[CodeRoot]:
        """The code roots of the local projects that the requirements files among ``files`` name
        (``../shared/lib/``), which pip installs at ``dest``: their ``src/``, else their folder's modules
        alone. A path builder cannot build is left to the lock, which says what is wrong with it."""
        roots = []
        for rel in files:
            if posixpath.basename(rel) in (PYPROJECT, UV_LOCK):
                continue
            try:
                found = local_projects(self.root / rel, self.folder, self.root)
            except TemplateError:
                continue
            for folder, where in found.items():
                package = _relative(self.root, folder, "A local project")
                roots.append(self._package(package, dest, f"package {package} (named by {posixpath.relpath(where, self.root)})"))
        return roots

    def _architecture(self, fid: str, value: Any) -> str:
        """Lambda's architecture of a function from its (or Globals') ``Architectures``."""
        if value is None:
            return DEFAULT_ARCHITECTURE
        if isinstance(value, list) and len(value) != 1:
            raise TemplateError(
                f"{self.rel}: {fid} has Architectures {sam.describe(value)}; Lambda takes exactly one. SAM appends a "
                "function's list to Globals' one, so an architecture set in Globals cannot be changed per function: "
                "set Architectures in each function's Properties instead."
            )
        literal = self._scalar(value[0]) if isinstance(value, list) else None
        if literal is None:
            self._note(fid, f"Architectures {sam.describe(value)} is not a literal: builder builds it for "
                            f"{DEFAULT_ARCHITECTURE}; set architecture in its [functions.NAME] table of builder.toml "
                            "if it runs on another.")  # fmt: skip
            return DEFAULT_ARCHITECTURE
        if literal not in ARCHITECTURES:
            raise TemplateError(
                f"{self.rel}: {fid} has Architectures [{literal}]; Lambda takes [{'] or ['.join(ARCHITECTURES)}]. "
                "Fix it in the template."
            )
        return literal

    def _scalar(self, value: Any) -> str | None:
        """A string property, with ``!Ref Parameter`` read from the parameter's default."""
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.parameters:
            value = (self.parameters[value["Ref"]] or {}).get("Default")
        return value if isinstance(value, str) else None

    def _layers(self, props: Mapping[str, Any]) -> list[Any]:
        layers = props.get("Layers", [])
        return layers if isinstance(layers, list) else [layers]

    def _layer(self, fid: str, layer: Any, version: str, roots: list[CodeRoot], requirements: list[str],
               arns: list[str], own: str) -> None:  # fmt: skip
        """Add what one entry of a function's Layers gives its image (or why it gives nothing)."""
        ref = layer.get("Ref") if isinstance(layer, dict) and set(layer) == {"Ref"} else None
        resource = self.resources.get(ref) if isinstance(ref, str) else None
        if ref in self.parameters:
            layer = (self.parameters[ref] or {}).get("Default") or layer
            resource = None
        if not isinstance(resource, dict) or resource.get("Type") not in LAYER_TYPES:
            shown = sam.describe(layer)
            arns.append(shown)
            dist = _layer_distribution(shown)
            instead = f" If the function imports it, require {dist} in {own} instead." if dist else ""
            self._note(fid, f"the layer {shown} is not in the image: an image function has no layers.{instead}")
            return
        props = resource.get("Properties") or {}
        content = props.get("ContentUri") if resource["Type"] == LAYER_TYPES[0] else props.get("Content")
        if not isinstance(content, str):
            self._note(fid, f"layer {ref} has its content in S3 ({sam.describe(content)}); it is not in the image.", True)
            return
        folder = self.folder / content
        if not folder.is_dir():
            raise TemplateError(
                f"{self.rel}: layer {ref} (used by {fid}) has ContentUri {content}, and {folder} is not a folder. "
                "Fix the path in the template (relative to the template's folder), or restore the folder."
            )
        rel = _relative(self.root, folder, f"Layer {ref}'s ContentUri")
        method = sam.build_method(resource.get("Metadata"))
        owner = f"layer {ref} ({content})"
        made = self._files(folder, rel, method) if method == "makefile" else []
        if _PYTHON.match(method):  # SAM copies the folder into python/ and installs its requirements there
            roots.append(CodeRoot(rel, "/opt/python", owner=owner))
            if (folder / REQUIREMENTS).is_file():
                requirements.append(f"{rel}/{REQUIREMENTS}".removeprefix("./"))
                roots += self._local_projects(requirements[-1:], "/opt/python")
        elif made:  # a Makefile that installs a requirements file or a uv project into python/, as uv's guide has it
            code = (self._src(rel) if posixpath.basename(made[0]) == PYPROJECT else None) or rel
            roots.append(CodeRoot(code, "/opt/python", owner=owner))
            roots += self._packages(made[1:], "/opt/python", f"layer {ref}'s pyproject.toml")
            roots += self._local_projects(made, "/opt/python")
            requirements.extend(made)
            self._note(fid, f"layer {ref} is built with BuildMethod makefile, which builder does not run: its image has "
                            f"the modules of {code} it imports and {_installs(made)}, under /opt/python, as a "
                            "BuildMethod python3.x layer would.", True)  # fmt: skip
        elif method:
            self._note(fid, f"layer {ref} is built with BuildMethod {method}, which builder does not run; it is not "
                            "in the image (what the function imports from it must come from elsewhere).", True)  # fmt: skip
        elif (folder / "python").is_dir():  # a prebuilt layer: Lambda extracts it into /opt
            search = (f"python/lib/python{version}/site-packages", "python")
            roots.append(CodeRoot(rel, "/opt", search=search, owner=owner, as_is=True))
        else:
            self._note(fid, f"layer {ref} ({content}) has no python/ folder, so Python cannot import from it; "
                            "its files are in the image under /opt, as Lambda places them.", True)  # fmt: skip
            roots.append(CodeRoot(rel, "/opt", search=(), owner=owner, as_is=True))


def _installs(files: list[str]) -> str:
    """What installing a folder's requirements ``files`` (from :func:`requirement_files`) gives, in words."""
    if not files:
        return "no dependencies (no requirements file)"
    packages = [posixpath.dirname(f) for f in files[1:] if posixpath.basename(f) == PYPROJECT]
    local = f" (with its local packages {', '.join(packages)})" if packages else ""
    pinned = f", at the versions of {files[-1]}" if posixpath.basename(files[-1]) == UV_LOCK else ""
    return f"what {files[0]} asks for{local}{pinned}"


def _zip_view(template: sam.Template) -> sam.Template:
    """The template with the functions ``migrate`` made images back as ZIP (what they are built from)."""
    from ..sam import edit as sam_edit  # it imports the template model

    migrated = sam_edit.migrated(template)
    if not migrated:
        return template
    return sam.parse_template(sam_edit.rollback(template, migrated), template.path)


def read(root: Path, paths: tuple[Path, ...], *, python_version: str | None = None, layout: bool = True) -> Project:
    """The Python functions of the templates at ``paths`` (a project root's files only).

    ``layout=False``: builder.toml's source-roots replace the template's CodeUri and layers.
    """
    functions: list[FunctionConfig] = []
    skipped: list[tuple[str, str]] = []
    notices: list[str] = []
    versions: dict[str, list[str]] = {}
    rels = []
    for path in paths:
        reader = _Reader(root, path, python_version)
        functions += reader.functions()
        skipped += reader.skipped
        notices += reader.notices(layout)
        rels.append(reader.rel)
        for version, ids in reader.versions.items():
            versions.setdefault(version, []).extend(ids)
    if len(versions) > 1:
        shown = "; ".join(f"python{v}: {', '.join(ids)}" for v, ids in sorted(versions.items()))
        raise ConfigError(
            f"The functions use more than one Python version ({shown}); builder builds one per project. Set "
            "python-version in builder.toml: the functions of the other versions are then left alone."
        )
    names: dict[str, list[FunctionConfig]] = {}
    for fn in functions:
        names.setdefault(fn.name, []).append(fn)
    unique = []
    for _, same in sorted(names.items()):
        if len(same) == 1:
            unique.append(same[0])
            continue
        for fn in same:  # two logical IDs give one name: name them in full
            full = re.sub(r"[^a-z0-9-]", "", "-".join(w.lower() for w in _WORD.findall(fn.logical_id)))[:63]
            unique.append(replace(fn, name=full))
    return Project(tuple(unique), tuple(rels), tuple(skipped), tuple(dict.fromkeys(notices)),
                   next(iter(versions), ""))  # fmt: skip
