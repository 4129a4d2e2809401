"""Commands that make images: base, dockerfile, build, closure."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from .. import pipeline
from ..analysis import aws_services, closure, render
from ..core.errors import BuilderError, ConfigError
from ..core.files import write_atomic
from ..core.units import human
from ..image import base, dockerfile, reproducible
from ..project.model import ARCHITECTURES, DEFAULT_ARCHITECTURE, ONE_IMAGE, base_for, emulated
from .common import (
    analyse,
    build_images,
    docker,
    dropped,
    image_tag,
    jobs_option,
    load,
    notices,
    progress_bar,
    progress_lines,
    selected,
    table,
)


def _python_version(args: argparse.Namespace) -> str:
    """--python-version, else the project's (from its functions' runtime), else 3.11."""
    if args.python_version:
        return args.python_version
    try:
        return load(args).python_version
    except BuilderError:
        return base.DEFAULT_PYTHON


def cmd_base(args: argparse.Namespace) -> int:
    python_version = _python_version(args)
    arch = args.architecture
    tag = args.tag or base_for(base.DEFAULT_TAG.format(python_version=python_version), arch)
    from_image = args.from_image
    how = " (under emulation)" if emulated(arch) else ""
    with progress_bar(total=2 if args.bootstrap else 1, desc="base", unit="step") as bar:
        if args.bootstrap:
            suite = args.suite or base.suite_for(python_version)  # --from needs no suite: the image has its Python
            from_image = base_for(base.DEBIAN_TAG.format(suite=suite), arch)
            if args.rebuild or not docker(args).image_exists(from_image):
                bar.set_description(f"debootstrap {suite} {arch}{how}")
                with progress_lines(bar):
                    base.bootstrap_debian(docker(args), from_image, suite=suite, mirror=args.mirror, architecture=arch)
            bar.update()
        bar.set_description(f"build {tag}{how}")
        with progress_lines(bar):
            image_id = base.build_base(docker(args), from_image, tag, python_version=python_version, architecture=arch)
        bar.update()
    print(f"{tag}  {image_id[:19]}  (from {from_image}, {arch})")
    return 0


def cmd_dockerfile(args: argparse.Namespace) -> int:
    cfg = load(args)
    analysis = analyse(cfg)
    build_plan = pipeline.plan(cfg, analysis)
    text = dockerfile.render(build_plan)
    if not args.check:  # what the Dockerfile reads: `docker build -t NAME .` (or `sam build`) can follow
        try:
            base_image = pipeline.with_base(cfg, docker(args)).base_image
        except BuilderError:
            base_image = cfg.base_image  # no engine, or no base yet: the configured one
        pipeline.write_context(cfg, build_plan.on_base(base_image))
    output = Path(args.output) if args.output else cfg.root / "Dockerfile"
    if args.check:
        current = output.read_text() if output.is_file() else None
        if current != text:
            state = "missing" if current is None else "stale"
            raise ConfigError(
                f"{output} is {state}: it differs from what builder generates for {cfg.root}. "
                f"Regenerate it with `python -m builder --project {args.project} dockerfile --output {output}`."
            )
        print(f"{output} is up to date.")
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_atomic(output, text)
        print(f"wrote {output}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    cfg = load(args, images=ONE_IMAGE if args.one_image else None)
    names = selected(args, cfg)  # unknown names fail before any work
    reproducible.epoch(os.environ)  # so does a bad SOURCE_DATE_EPOCH
    docker(args).check()
    notices(cfg)
    analysis = analyse(cfg, names)
    build_plan = pipeline.plan(cfg, analysis)
    dropped(analysis, names)
    results = build_images(cfg, docker(args), build_plan, names, args.tag, args.jobs)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2, sort_keys=True))
        return 0
    if cfg.images == ONE_IMAGE:
        results = [replace(r, function="(all functions)") for r in results]
    rows = [(r.function, r.image, human(r.above_base), f"{r.seconds:.1f} s") for r in results]
    print(table(("function", "image", "above base", "build time"), rows))
    return 0


def cmd_closure(args: argparse.Namespace) -> int:
    cfg = load(args)
    if not args.unused and not args.function:
        raise ConfigError("Name a function with --function NAME, or pass --unused.")
    if args.function:
        args.function = cfg.function(args.function).name
    analysis = analyse(cfg, [args.function] if args.function else None)
    if args.unused:
        names = closure.unused_distributions(analysis.closures, analysis.index)
        out = render.unused_to_json(names, analysis.index) if args.json else render.render_unused(names, analysis.index)
    else:
        result = analysis.closures[args.function]
        if args.why and args.json:
            raise ConfigError("--why and --json do not combine: the JSON holds every reason already.")
        found = analysis.services.get(args.function)
        if args.json:
            out = {**render.closure_to_json(result), "aws_services": aws_services.to_json(found)}
        elif args.why and aws_services.is_service_query(result, found, args.why):
            out = aws_services.render(found, args.why)
        else:
            out = render.render_tree(result, why=args.why) + ("" if args.why else aws_services.render(found))
    print(out.rstrip("\n") if isinstance(out, str) else json.dumps(out, indent=2, sort_keys=True))  # str: not --json
    return 0



def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    b = sub.add_parser("base", help="build the Lambda-compatible Python base image (Dockerfile.base)")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="from_image", metavar="IMAGE", help="a local Debian or Python image to start from")
    src.add_argument("--bootstrap", action="store_true", help="make a Debian image with debootstrap (no registry needed)")
    b.add_argument("--suite", help="Debian suite for --bootstrap (default: the one whose python3 is the version asked)")
    b.add_argument("--mirror", help="Debian mirror for --bootstrap (default: the one apt uses here)")
    b.add_argument("--rebuild", action="store_true", help="bootstrap again even if the Debian image exists")
    b.add_argument("--python-version", help="Python the base must have (default: the project's runtime, else 3.11)")
    b.add_argument("--architecture", choices=tuple(ARCHITECTURES), default=DEFAULT_ARCHITECTURE,
                   help="Lambda architecture of the functions it is for (default: %(default)s); arm64 on an x86_64 "
                        "machine runs debootstrap's second stage and the base's pip under qemu")  # fmt: skip
    b.add_argument("--tag", help="image tag (default: builder-lambda-python:<python-version>, with -arm64 after it for arm64)")
    b.set_defaults(handler=cmd_base)

    d = sub.add_parser("dockerfile", help="write (or --check) the shared multi-stage Dockerfile")
    d.add_argument("--output", "-o", metavar="FILE", help="where to write it ('-' for stdout; default: <project>/Dockerfile)")
    d.add_argument("--check", action="store_true", help="fail when FILE differs from what would be generated")
    d.set_defaults(handler=cmd_dockerfile)

    bd = sub.add_parser("build", help="build per-function images and print their sizes")
    bd.add_argument("--function", "-f", action="append", default=[], metavar="NAME",
                    help="a function to build: its name or logical ID (repeatable)")
    bd.add_argument("--all", action="store_true", help="build every function")
    bd.add_argument("--tag", default="latest", type=image_tag, help="image tag (default: %(default)s)")
    bd.add_argument("--json", action="store_true", help="print the results as JSON")
    bd.add_argument("--one-image", action="store_true",
                    help="build the one image holding every function (the guide's shape; images = \"one\" in builder.toml)")
    jobs_option(bd)
    bd.set_defaults(handler=cmd_build)

    c = sub.add_parser("closure", help="what a function's image must hold, and why")
    c.add_argument("--function", "-f", metavar="NAME", help="the function")
    c.add_argument("--why", metavar="DIST", help="only the chains that pull DIST (or a file or module) in")
    c.add_argument("--unused", action="store_true", help="list locked distributions no function needs")
    c.add_argument("--json", action="store_true", help="machine-readable (docs/closure-json.md)")
    c.set_defaults(handler=cmd_closure)
