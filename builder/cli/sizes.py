"""Commands that measure images: report (where the bytes go) and check (against a baseline)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import pipeline
from ..core.errors import BuilderError, ConfigError, RegressionError
from ..core.files import write_atomic
from ..image import reproducible
from ..image.plan import BuildPlan
from ..measure import check, check_render, report, sizes
from ..project.model import ONE_IMAGE, Config
from .common import analyse, build_images, docker, image_tag, jobs_option, load, progress_bar, selected

if TYPE_CHECKING:
    from ..engine.docker_engine import DockerEngine


def _names(args: argparse.Namespace, cfg: Config) -> list[str]:
    names = selected(args, cfg, default_all=True)  # unknown names fail before any work
    return names[:1] if cfg.images == ONE_IMAGE else names  # one image holds them all


def _require_images(args: argparse.Namespace, cfg: Config, names: list[str], hint: str = "") -> None:
    """Fail early, saying how to build them, when images are missing (or no engine answers)."""
    missing = [name for name in names if not docker(args).image_exists(cfg.image(name, args.tag))]
    if missing:
        flags = "--all" if len(missing) == len(cfg.functions) else " ".join(f"--function {n}" for n in missing)
        raise ConfigError(
            f"No image {', '.join(cfg.image(n, args.tag) for n in missing)}: build it first with "
            f"`python -m builder --project {args.project} build {flags} --tag {args.tag}`{hint}."
        )


def _measure(engine: DockerEngine, cfg: Config, names: list[str], tag: str,
             extra: list[str] | None = None) -> list[sizes.ImageSizes]:  # fmt: skip
    """Each function's image (and ``extra`` refs), analysed from one `docker save` archive of them all."""
    refs = [cfg.image(name, tag) for name in names]
    refs += [ref for ref in extra or () if ref not in refs]
    with progress_bar(desc=f"measure {len(refs)} image(s)", unit="B", unit_scale=True) as bar:

        def counted(chunks):
            for chunk in chunks:
                bar.update(len(chunk))
                yield chunk

        return sizes.analyse_images(counted(engine.save(*refs)), refs)


def _stripped(build_plan: BuildPlan, function: str) -> dict[str, int]:
    """Bytes each strip rule removed from the dependency groups of ``function``'s image."""
    removed: dict[str, int] = {}
    for fn in build_plan.functions:
        for group in fn.groups if fn.name == function else ():
            for rule, size in build_plan.group(group).strip.removed:
                removed[rule] = removed.get(rule, 0) + size
    return removed


def _emit(text: str, output: str | None) -> None:
    if output and output != "-":
        write_atomic(output, text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_report(args: argparse.Namespace) -> int:
    cfg = load(args)
    names = _names(args, cfg)
    _require_images(args, cfg, names)
    build_plan = pipeline.plan(cfg, analyse(cfg, names))
    one_ref = f"{cfg.name}:{args.tag}"  # the one image of every function, when it was built
    with_one = args.all and cfg.images != ONE_IMAGE and docker(args).image_exists(one_ref)
    measured = _measure(docker(args), cfg, names, args.tag, [one_ref] if with_one else [])
    images, one_image = (measured[:-1], measured[-1]) if with_one else (measured, None)
    stripped = {name: _stripped(build_plan, name) for name in names}
    fmt = "json" if args.json else "markdown" if args.markdown else "text"
    pins = pipeline.pins(cfg, docker(args), names, args.tag) if args.all and cfg.templates else None
    _emit(report.render(images, fmt, stripped=stripped, registry=args.all, one_image=one_image, pins=pins), args.output)
    return 0


def _old_baseline(path: Path, shown: str, update: bool) -> check.Baseline:
    try:
        return check.read_baseline(path, shown)
    except ConfigError as exc:
        if not update:
            raise
        print(f"warning: {exc} --update writes a new one.", file=sys.stderr)
        return check.Baseline()


def cmd_check(args: argparse.Namespace) -> int:
    cfg = load(args)
    names = _names(args, cfg)
    shown = args.baseline or check.BASELINE_FILE
    path = Path(args.baseline) if args.baseline else cfg.root / check.BASELINE_FILE
    old = _old_baseline(path, shown, args.update)  # an unusable baseline fails before any work
    if args.build:
        reproducible.epoch(os.environ)  # a bad SOURCE_DATE_EPOCH fails before any work
        docker(args).check()
    else:
        _require_images(args, cfg, names, hint=", or pass --build")
    analysis = analyse(cfg, names)
    if args.build:
        build_images(cfg, docker(args), pipeline.plan(cfg, analysis), names, args.tag, args.jobs)
    current = {name: check.measure(image) for name, image in zip(names, _measure(docker(args), cfg, names, args.tag))}
    origins = {name: check.pulled_in_by(analysis.closures[name].distributions) for name in names}
    compared = check.Baseline({n: f for n, f in old.functions.items() if n in names}) if args.function else old
    result = check.compare(compared, current, cfg.check, origins, update=args.update)
    _render_check(args, result)
    if args.update:
        write_atomic(path, check.baseline_text(check.updated(old, current, replace_all=not args.function)))
        print(f"wrote {shown} ({len(current)} functions measured)", file=sys.stderr)
    if result.errors:
        intended = any(p.kind == "tolerance" for p in result.errors)
        hint = f" If the growth is intended, record it with `check --update` and commit {shown}." if intended else ""
        raise RegressionError("Over the size budget: " + "; ".join(p.message for p in result.errors) + "." + hint)
    return 0


def _render_check(args: argparse.Namespace, result: check.CheckResult) -> None:
    """The comparison on stdout (text or JSON), to --markdown FILE, and to GitHub's job summary."""
    if args.json:
        sys.stdout.write(json.dumps(check_render.to_json(result), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(check_render.render_text(result))
    markdown = check_render.render_markdown(result)
    if args.markdown:
        _emit(markdown, args.markdown)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        _append(os.environ["GITHUB_STEP_SUMMARY"], markdown)


def _append(path: str, text: str) -> None:
    """GitHub's job summary is a file the runner owns: append to it, never replace it."""
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    except OSError as exc:
        raise BuilderError(f"Cannot append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror}.") from exc


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    r = sub.add_parser("report", help="where the bytes of the images go: layers, distributions, stripping, waste")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--function", "-f", action="append", default=[], metavar="NAME", help="a function (repeatable)")
    which.add_argument("--all", action="store_true", help="every function, with the registry view of their layers")
    r.add_argument("--tag", default="latest", type=image_tag, help="image tag (default: %(default)s)")
    fmt = r.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable (docs/report-json.md)")
    fmt.add_argument("--markdown", action="store_true", help="GitHub markdown (for CI summaries)")
    r.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (default: stdout)")
    r.set_defaults(handler=cmd_report)

    c = sub.add_parser("check", help="compare image sizes with the committed baseline and the size budgets")
    c.add_argument("--function", "-f", action="append", default=[], metavar="NAME", help="only this function (repeatable; default: all)")
    c.add_argument("--tag", default="latest", type=image_tag, help="image tag (default: %(default)s)")
    c.add_argument("--baseline", metavar="FILE", help=f"the baseline (default: {check.BASELINE_FILE} at the backend root)")
    c.add_argument("--build", action="store_true", help="build the images first")
    jobs_option(c)
    c.add_argument("--update", action="store_true", help="rewrite the baseline from the images (accepts their growth)")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON (docs/ci.md)")
    c.add_argument("--markdown", metavar="FILE", help="also write the comparison as GitHub markdown to FILE")
    c.set_defaults(handler=cmd_check, all=False)
