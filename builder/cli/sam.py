"""Commands for SAM backends: plan, migrate (and roll back, pin), push."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from .. import pipeline
from ..core.errors import BuilderError, ConfigError, TemplateError
from ..core.files import write_atomic
from ..core.limits import LIMIT_BYTES
from ..core.paths import SAM_DOCKERFILES
from ..deps import locking, wheelhouse
from ..deps.dists import DistIndex
from ..deps.lock import parse_lock
from ..deps.target import Target
from ..engine import registry
from ..image.dockerfile import ONE_IMAGE_TARGET
from ..project import template as sam_project
from ..project.model import DEFAULT_ARCHITECTURE, ONE_IMAGE, Config, emulated, function_name
from ..sam import edit as sam_edit
from ..sam import layers as sam_layers
from ..sam import plan as sam_plan
from ..sam import sizes as sam_sizes
from ..sam import template as sam
from .common import analyse, docker, image_tag, load, progress_bar, progress_lines, selected, table

PUSH_EPILOG = """\
Each function's local image <project>-<function>:<tag> is pushed to ONE repository as the
tag <function>-<tag> (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:orders-api-latest),
and image-uris.json maps each function to <repository>@sha256:<digest>. Then
`migrate --pin` writes those digests into the template's ImageUri.

An Amazon ECR repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>) is logged in to
with boto3 (pip install 'builder[aws]') and your AWS credentials; any other registry uses
the docker credential store (docker login).
"""


def _template_path(args: argparse.Namespace) -> Path:
    """The template the command edits: --template, else the project's (samconfig.toml's, template.yaml)."""
    if args.template:
        return Path(args.template)
    named = tuple(args.templates or ())
    found = sam_project.find_templates(Path(args.project).resolve(), named, sam_project.read_samconfig(Path(args.project)))
    return found[0] if found else Path(args.project) / "template.yaml"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _short(layer: str) -> str:
    """A layer as a table shows it: an intrinsic (``!If [...]``) by its name only."""
    return layer.split(" ", 1)[0] + " ..." if layer.startswith("!") else layer


def _sizer(args: argparse.Namespace, template: sam.Template) -> sam_sizes.Sizer:
    """Measures the template's folders; the lock's index comes from the builder config, if any."""
    base = Path(template.path).parent
    try:
        cfg = load(args)
    except ConfigError as exc:  # fine until some folder has a requirements.txt

        def fail(architecture: str, error: ConfigError = exc) -> DistIndex:
            raise error

        return sam_sizes.Sizer(base, index=fail)
    target = Target.from_config(cfg)

    current: list[Config] = []  # the configuration with current locks, once index() has locked

    def index(architecture: str, lock: str | None = None) -> DistIndex:  # the locked wheels only: no closures
        if not current:
            relocked = cfg.locked_by_builder and locking.ensure(cfg).written
            current.append(pipeline.with_locks(cfg) if relocked else cfg)
        house = wheelhouse.ensure(current[0])
        path = current[0].root / (lock or current[0].lock_file)
        arch_target = target.for_architecture(architecture)
        return DistIndex.from_wheelhouse(house, parse_lock(path, target=arch_target), target=arch_target)

    def own_lock(requirements: Path, architecture: str) -> tuple[DistIndex, str] | None:
        index(architecture)  # locks first
        rel = requirements.resolve().relative_to(cfg.root).as_posix()
        for fn in current[0].functions:
            if rel in fn.requirements and fn.lock_file != current[0].lock_file:
                return index(architecture, fn.lock_file), fn.lock_file
        return None

    architectures = {fn.logical_id: fn.architecture for fn in cfg.functions if fn.logical_id}
    return sam_sizes.Sizer(base, index=index, target=target, lock=cfg.lock_file, own_lock=own_lock,
                           architectures=architectures)  # fmt: skip


def render_plan(
    template: sam.Template, plans: Sequence[sam_plan.Advice], sizes: Mapping[str, sam_sizes.FunctionSize]
) -> str:
    """The plan as a table, then each function's recommendation and its reasons."""
    rows = []
    for p in plans:
        unknown, image = sizes[p.logical_id].unknown, p.package_type == "Image"
        rows.append((
            p.logical_id, p.package_type, p.runtime or "-",
            sam.function_handler(template.function(p.logical_id)) or "-", p.code_uri or "-",
            ", ".join(_short(layer) for layer in p.layers) or "-",
            "-" if image else ("≥ " if unknown else "") + _mib(p.unzipped_bytes),
            "-" if image else ("≤ " if unknown else "") + _mib(p.headroom_bytes), p.recommendation,
        ))  # fmt: skip
    headers = ("function", "package", "runtime", "handler", "code", "layers", "unzipped", "headroom", "recommendation")
    limit = f"unzipped: code + its requirements + layers; Lambda's limit is {_mib(LIMIT_BYTES)}."
    lines = [table(headers, rows), "", limit]
    for p in plans:
        unknown = sizes[p.logical_id].unknown
        why = [*p.reasons, *([f"not measured: {', '.join(unknown)}"] if unknown else [])]
        lines.append(f"  {p.logical_id}: {p.recommendation} ({'; '.join(why)})")
    return "\n".join(lines)


def _diverging(args: argparse.Namespace) -> dict[str, str]:
    """Functions with a lock of their own (their requirements conflict with the shared lock's)."""
    try:
        cfg = load(args)
    except BuilderError:
        return {}
    return {fn.logical_id or fn.name: fn.lock_file for fn in cfg.functions if fn.lock_file != cfg.lock_file}


def cmd_plan(args: argparse.Namespace) -> int:
    template = sam.load_template(_template_path(args))
    sizes = sam_sizes.template_sizes(template, _sizer(args, template))
    uris = [f.code_uri for f in template.functions if f.code_uri]
    counts = sam_plan.git_change_counts(Path(template.path).parent, uris, since=args.since)
    plans = sam_plan.plan_template(template, sizes=lambda info: sizes[info.logical_id].total, change_counts=counts)
    diverging = _diverging(args)
    uses, removed = sam_layers.layer_uses(template), sam_layers.removed_layers(template)
    if not args.json:
        print(render_plan(template, plans, sizes))
        for fid, lock in diverging.items():
            print(f"  {fid}: its requirements conflict with the other functions', so it has a lock of its own ({lock})")
        print(render_layers(uses, removed))
        return 0
    functions = [
        {**p.__dict__, "layers": list(p.layers), "reasons": list(p.reasons),
         "limit_bytes": LIMIT_BYTES, "size": sizes[p.logical_id].to_json(),
         "own_lock": diverging.get(p.logical_id)}
        for p in plans
    ]  # fmt: skip
    out = {"schema_version": 1, "kind": "plan", "functions": functions, "layers": [u.to_json() for u in uses],
           "removed_layers": list(removed)}  # fmt: skip
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def render_layers(uses: Sequence[sam_layers.LayerUse], removed: Sequence[str]) -> str:
    """What each layer is still used for: what the guide's checklist asks before removing layers."""
    if not uses and not removed:
        return ""
    width = max((len(u.logical_id) for u in uses), default=0)
    lines = ["", "layers:"]
    for u in uses:
        if u.functions:
            what = f"used by {len(u.functions)} ZIP function{'s' if len(u.functions) > 1 else ''}: {', '.join(u.functions)}"
        elif u.referrers:
            what = f"no function uses it, but {', '.join(u.referrers)} names it: kept until that goes"
        else:
            what = "no function uses it: `migrate --remove-unused-layers` removes it"
        lines.append(f"  {u.logical_id:<{width}}  {what}")
    if removed:
        lines.append(f"  removed by builder (`migrate --rollback` puts them back): {', '.join(removed)}")
    return "\n".join(lines)


def _logical_ids(args: argparse.Namespace, template: sam.Template, cfg: Config | None) -> list[str]:
    """The functions the command acts on: --function, else what --all (or --pin alone) means."""
    if args.all and args.function:
        raise ConfigError("Pass either --function LOGICAL_ID (repeatable) or --all, not both.")
    by_name = {f.name: f.logical_id for f in cfg.functions if f.logical_id} if cfg else {}
    ids = [by_name.get(fid, fid) for fid in args.function]  # builder's names work too
    for fid in ids:
        template.function(fid)  # unknown ids fail here, with a "did you mean"
        skipped = dict(cfg.skipped) if cfg else {}
        if fid in skipped and not args.rollback:
            raise ConfigError(f"builder builds no image for {fid}: it is left alone ({skipped[fid]}).")
    if ids:
        return list(dict.fromkeys(ids))
    images = [f.logical_id for f in template.functions if f.package_type == "Image"]
    built = set(by_name.values())  # --all: the functions builder builds (a Node.js one stays ZIP)
    migratable = [fid for fid in sam_edit.migratable(template) if not built or fid in built]
    if args.pin:  # --all: migrate every ZIP function and pin every image; alone: pin the images
        return [*migratable, *images] if args.all else images
    if args.all:
        return list(sam_edit.migrated(template) if args.rollback else migratable)
    raise ConfigError("Name the functions with --function LOGICAL_ID (repeatable), or pass --all.")


def _pins(args: argparse.Namespace, template: sam.Template, ids: list[str]) -> dict[str, str]:
    """Logical id -> pushed image, from image-uris.json (builder's function names mapped to logical IDs;
    a function builder.toml alone defines maps by its handler).

    Named functions and ZIP functions must have one; other image functions are pinned if pushed.
    """
    cfg = load(args)
    path = Path(args.pin) if args.pin != "-" else cfg.root / registry.IMAGE_URIS
    by_handler = sam.functions_by_handler(template)
    known = {f.name: f for f in cfg.functions}
    pins = {}
    for name, uri in sorted(registry.read_image_uris(path).items()):
        fn = known.get(name)
        if fn is None:
            continue  # no longer a function of the project
        for fid in (fn.logical_id,) if fn.logical_id else by_handler.get(fn.handler, ()):
            pins[fid] = uri
    required = ids if args.function else [f for f in ids if template.function(f).package_type == "Zip"]
    names = {f.logical_id: f.name for f in cfg.functions if f.logical_id}
    missing = [f"{fid} ({names[fid]})" if fid in names else fid for fid in required if fid not in pins]
    if missing:
        raise TemplateError(
            f"{path} has no image for {', '.join(missing)}: it was not pushed (or is not a function builder "
            "builds). Push it (`python -m builder push --function NAME --repository URI`), then pin again."
        )
    return {fid: pins[fid] for fid in ids if fid in pins}


def _pinned_text(
    args: argparse.Namespace, template: sam.Template, ids: list[str], cfg: Config | None
) -> tuple[str, list[str]]:
    """ZIP functions migrated straight to their digests (no repository added), images re-pinned.

    Returns the new text and the functions pinned.
    """
    pins = _pins(args, template, ids)
    zips = [fid for fid in pins if template.function(fid).package_type == "Zip"]
    text = sam_edit.migrate(template, zips, image_uri=pins.__getitem__, **_image_settings(template, cfg))
    images = {fid: uri for fid, uri in pins.items() if fid not in zips}
    return (sam_edit.pin(sam.parse_template(text, template.path), images) if images else text), list(pins)


def _image_settings(template: sam.Template, cfg: Config | None) -> dict:
    """How migrate tags each image function and what `sam build` builds it from: builder's function
    names (builder.toml may rename them), the backend root as DockerContext (relative to the
    template), the classic Dockerfile of the function's architecture; with ``images = "one"`` every
    function the same image and tag, its own command. ``cfg``: None where builder cannot read the backend."""
    names = {f.logical_id: f.name for f in cfg.functions if f.logical_id} if cfg else {}
    architectures = {f.logical_id: f.architecture for f in cfg.functions if f.logical_id} if cfg else {}
    context = os.path.relpath(cfg.root, Path(template.path).resolve().parent) if cfg else "."
    context = context.replace(os.sep, "/")
    one = cfg is not None and cfg.images == ONE_IMAGE

    def name(fid: str) -> str:
        return names.get(fid) or function_name(fid)

    def metadata(info: sam.FunctionInfo) -> sam_edit.ImageMetadata:
        target = ONE_IMAGE_TARGET if one else name(info.logical_id)
        dockerfile = SAM_DOCKERFILES[architectures.get(info.logical_id, DEFAULT_ARCHITECTURE)]
        return sam_edit.ImageMetadata(context, dockerfile, "latest", target)

    settings: dict = {"tags": (lambda fid: "latest") if one else (lambda fid: f"{name(fid)}-latest"),
                      "image_metadata": metadata}  # fmt: skip
    if one:
        assert cfg is not None  # one is only true with a builder config
        pipeline.check_one_image(cfg)
        settings["commands"] = lambda fid: cfg.command(name(fid))
    return settings


def _prepare_sam_build(args: argparse.Namespace, cfg: Config, migrated: Sequence[str]) -> None:
    """Write what `sam build` reads for the ``migrated`` functions (logical ids): the classic-builder
    Dockerfiles, the wheelhouse and strip lists (the base: AWS's, or the local stand-in when the
    engine has only that). Their code must analyse; the other functions' need not."""
    analysis = analyse(cfg, [fn.name for fn in cfg.functions if fn.logical_id in migrated])
    try:
        cfg = pipeline.with_base(analysis.config or cfg, docker(args))
    except BuilderError:
        pass  # no engine, or no base yet: the Dockerfile names the configured one
    build_plan = pipeline.plan(cfg, analysis)
    pipeline.write_context(cfg, build_plan.on_base(cfg.base_image))
    arm = [fn.logical_id for fn in cfg.functions if fn.logical_id in migrated and fn.architecture != DEFAULT_ARCHITECTURE]
    files = [SAM_DOCKERFILES[a] for a in cfg.architectures]
    print(f"wrote {' and '.join(files)} and the wheelhouse for `sam build` (base {cfg.base_image})", file=sys.stderr)
    if arm and emulated("arm64"):
        their = "their" if len(arm) > 1 else "its"
        print(f"note: `sam build` builds {', '.join(arm)} for linux/arm64 alone, so on this {os.uname().machine} "
              f"machine the RUN steps of {their} stages run under emulation (qemu, which must be registered with "
              "binfmt_misc: scripts/setup does it), slower than `python -m builder build`, which needs none.",
              file=sys.stderr)  # fmt: skip


def cmd_migrate(args: argparse.Namespace) -> int:
    path = _template_path(args)
    template = sam.load_template(path)
    if args.remove_unused_layers and args.rollback:
        raise ConfigError("--rollback puts back the layers --remove-unused-layers removes; pass one of them.")
    alone = args.remove_unused_layers and not (args.all or args.function or args.pin)
    try:
        cfg: Config | None = load(args)
        unreadable = ""
    except BuilderError as exc:  # a template of its own: migrate edits it, with no Dockerfile to write
        cfg, unreadable = None, str(exc)
    ids = [] if alone else _logical_ids(args, template, cfg)
    if args.rollback:
        text = sam_edit.rollback(template, ids)
    elif args.pin:
        text, ids = _pinned_text(args, template, ids, cfg)
    else:
        text = sam_edit.migrate(template, ids, **_image_settings(template, cfg))
    removed: tuple[str, ...] = ()
    if args.remove_unused_layers:
        text, removed = sam_layers.remove_unused_layers(sam.parse_template(text, template.path))
        kept = [u for u in sam_layers.layer_uses(sam.parse_template(text, template.path)) if u.referrers]
        for u in kept:
            print(f"kept {u.logical_id}: {', '.join(u.referrers)} still names it", file=sys.stderr)
    if args.dry_run:
        sys.stdout.write(sam.unified_diff(template.text, text, path.name) or f"{path}: no change\n")
        return 0
    if text == template.text:
        print(f"{path}: no change")
        return 0
    if ids and not args.rollback:  # before the template: if this fails, the template stays as it was
        if cfg is None:
            print(f"note: builder wrote no Dockerfile for `sam build`, as it cannot read this backend: {unreadable}",
                  file=sys.stderr)  # fmt: skip
        else:
            _prepare_sam_build(args, cfg, sam_edit.migrated(sam.parse_template(text, template.path)))
    write_atomic(path, text)
    action = "rolled back" if args.rollback else "pinned" if args.pin else "migrated"
    done = [f"{action} {', '.join(ids)}"] if ids else []
    done += [f"removed the unused layers {', '.join(removed)} (`migrate --rollback` puts them back)"] if removed else []
    print(f"{path}: {'; '.join(done)}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    cfg = load(args)
    names = selected(args, cfg)  # unknown names fail before any work
    repository = registry.parse_repository(args.repository)
    auth = registry.credentials(repository)
    output = Path(args.output) if args.output else cfg.root / registry.IMAGE_URIS
    pushed = []
    one = cfg.images == ONE_IMAGE  # one image holds them all: pushed once, recorded for each
    with progress_bar(names[:1] if one else names, desc="push", unit="image") as bar:
        for name in bar:
            bar.set_description(f"push {name}")
            with progress_lines(bar):
                pushed.append(registry.push_image(docker(args), cfg, name, repository, tag=args.tag, auth=auth))
    if one:
        pushed = [replace(pushed[0], function=name) for name in names]
    write_atomic(output, registry.updated_image_uris(output, {p.function: p.uri for p in pushed}))
    if args.json:
        print(json.dumps({p.function: p.uri for p in pushed}, indent=2, sort_keys=True))
    else:
        rows = [(p.function, p.tag, p.uri, "sent" if p.sent else "already there, nothing sent") for p in pushed]
        print(table(("function", "pushed as", "image URI", "push"), rows))
        print(f"\nwrote {output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser("plan", help="size every SAM function and say which should become an image")
    p.add_argument("--template", "-t", metavar="FILE", help="the SAM template (default: the project's)")
    p.add_argument("--since", default="90 days", help="git history window for 'changed often' (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(handler=cmd_plan)

    m = sub.add_parser(
        "migrate", help="turn SAM functions into image functions (or roll back, or pin pushed digests)"
    )
    m.add_argument("--template", "-t", metavar="FILE", help="the SAM template (default: the project's)")
    m.add_argument("--function", "-f", action="append", default=[], metavar="LOGICAL_ID",
                   help="a function of the template (repeatable)")  # fmt: skip
    m.add_argument("--all", action="store_true", help="every ZIP function (with --rollback: every migrated one)")
    mode = m.add_mutually_exclusive_group()
    mode.add_argument("--rollback", action="store_true", help="give the functions back their ZIP definition")
    mode.add_argument("--pin", nargs="?", const="-", metavar="IMAGE_URIS",
                      help="set ImageUri to the pushed digests in IMAGE_URIS (default: <project>/image-uris.json); "
                           "ZIP functions named (or --all) are migrated straight to their digest")  # fmt: skip
    m.add_argument("--remove-unused-layers", action="store_true",
                   help="then remove the layer resources no function uses and nothing else names (alone, or "
                        "after migrating); --rollback puts them back")  # fmt: skip
    m.add_argument("--dry-run", action="store_true", help="print a unified diff; change nothing")
    m.set_defaults(handler=cmd_migrate)

    u = sub.add_parser(
        "push", help="push function images and record their digests in image-uris.json",
        epilog=PUSH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    u.add_argument("--function", "-f", action="append", default=[], metavar="NAME",
                   help="a function to push: its name or logical ID (repeatable)")  # fmt: skip
    u.add_argument("--all", action="store_true", help="push every function")
    u.add_argument("--repository", "-r", required=True, metavar="URI",
                   help="host[:port]/name, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop")  # fmt: skip
    u.add_argument("--tag", default="latest", type=image_tag,
                   help="the local images' tag, and the pushed tags' suffix (default: %(default)s)")  # fmt: skip
    u.add_argument("--output", "-o", metavar="FILE",
                   help="where to write image-uris.json (default: <project>/image-uris.json)")  # fmt: skip
    u.add_argument("--json", action="store_true", help="print what was pushed as JSON")
    u.set_defaults(handler=cmd_push)
