"""Command line: the only place that prints, shows progress and exits.

Each handler parses, calls the library, renders. Errors from the library are
:class:`BuilderError` subclasses; they become a one-paragraph message on
stderr and their exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from . import __version__, base, closure, config, engine, local, pipeline, runner
from .errors import BuilderError, CommandFailed, ConfigError, InvokeError
from .fileutil import write_atomic
from .units import human

log = logging.getLogger("builder")

EPILOG = """\
examples:
  python -m builder --project examples/backend base --bootstrap
  python -m builder --project examples/backend build --all
  python -m builder --project examples/backend closure --function analytics-report --why numpy
  python -m builder --project examples/backend dockerfile --check --output Dockerfile
"""


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load(args: argparse.Namespace, **overrides) -> config.Config:
    return config.load(args.project, **overrides)


def _bar(items=None, **kwargs) -> tqdm:
    """A progress bar on stderr; in a log (not a terminal) it prints rarely, not every line."""
    interactive = sys.stderr.isatty()
    return tqdm(items, file=sys.stderr, mininterval=0.1 if interactive else 30, **kwargs)


def _progress_line(bar: tqdm):
    """Show the latest line of a step's output beside the bar (--verbose logs every line)."""

    def on_line(line: str) -> None:
        if line.strip():
            bar.set_postfix_str(line.strip()[:60], refresh=False)

    return on_line


# ---- handlers ----------------------------------------------------------------


def cmd_base(args: argparse.Namespace) -> int:
    tag = args.tag or base.DEFAULT_TAG.format(python_version=args.python_version)
    from_image = args.from_image
    with _bar(total=2 if args.bootstrap else 1, desc="base", unit="step") as bar:
        if args.bootstrap:
            from_image = base.DEBIAN_TAG.format(suite=args.suite)
            if args.rebuild or not engine.image_exists(from_image):
                bar.set_description(f"debootstrap {args.suite}")
                base.bootstrap_debian(from_image, suite=args.suite, mirror=args.mirror, on_line=_progress_line(bar))
            bar.update()
        bar.set_description(f"build {tag}")
        image_id = base.build_base(from_image, tag, python_version=args.python_version, on_line=_progress_line(bar))
        bar.update()
    print(f"{tag}  {image_id[:19]}  (from {from_image})")
    return 0


def cmd_dockerfile(args: argparse.Namespace) -> int:
    cfg = _load(args)
    text = pipeline.render(cfg, pipeline.analyse(cfg))
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
    cfg = _load(args)
    names = [f.name for f in cfg.functions] if args.all else args.function
    if not names:
        raise ConfigError("Name the functions to build with --function NAME (repeatable), or pass --all.")
    for name in names:
        cfg.function(name)  # unknown names fail before any work
    engine.check()
    analysis = pipeline.analyse(cfg)
    build_plan = pipeline.plan(cfg, analysis)
    results = []
    with _bar(names, desc="build", unit="image") as bar:
        for name in bar:
            bar.set_description(f"build {name}")
            results.append(pipeline.build(cfg, build_plan, name, tag=args.tag, on_line=_progress_line(bar)))
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2, sort_keys=True))
        return 0
    rows = [(r.function, r.image, human(r.above_base), f"{r.seconds:.1f} s") for r in results]
    print(table(("function", "image", "above base", "build time"), rows))
    return 0


def cmd_closure(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if not args.unused and not args.function:
        raise ConfigError("Name a function with --function NAME, or pass --unused.")
    if args.function:
        cfg.function(args.function)
    analysis = pipeline.analyse(cfg)
    if args.unused:
        names = closure.unused_distributions(analysis.closures, analysis.index)
        out = closure.unused_to_json(names, analysis.index) if args.json else closure.render_unused(names, analysis.index)
    else:
        result = analysis.closures[args.function]
        if args.why and args.json:
            raise ConfigError("--why and --json do not combine: the JSON holds every reason already.")
        out = closure.closure_to_json(result) if args.json else closure.render_tree(result, why=args.why)
    print(json.dumps(out, indent=2, sort_keys=True) if args.json else out.rstrip("\n"))
    return 0


def _event(args: argparse.Namespace, cfg: config.Config) -> bytes:
    """The event to send: --event FILE, '-' for stdin, or the function's sample event."""
    if args.event == "-":
        return sys.stdin.buffer.read()
    path = Path(args.event) if args.event else pipeline.event_path(cfg, args.function)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read the event {path}: {exc.strerror}. Pass --event FILE (or - for stdin).") from exc
    try:
        json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"The event {path} is not valid JSON ({exc}). Lambda events are JSON documents.") from exc
    return data


def _env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r} is not KEY=VALUE.")
        env[key] = value
    return env


def _spec(args: argparse.Namespace, cfg: config.Config):
    return runner.spec_for(
        cfg, args.function, tag=args.tag, port=args.port, memory_mb=args.memory, timeout_s=args.timeout,
        env=_env(args.env), sandbox=not args.no_sandbox,
    )


def cmd_invoke(args: argparse.Namespace) -> int:
    cfg = _load(args)
    event = _event(args, cfg)
    result = runner.invoke(_spec(args, cfg), event, keep_warm=args.keep_warm)
    for line in result.logs:
        print(line, file=sys.stderr)
    sys.stdout.write(result.invocation.body.decode("utf-8", "replace") + "\n")
    if not result.invocation.ok:
        raise InvokeError(
            f"{args.function} failed ({result.invocation.function_error or f'HTTP {result.invocation.status}'}): "
            "the error is on stdout and the logs on stderr."
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    spec = _spec(args, cfg)
    container = runner.start(spec)
    print(f"{spec.image} is listening on 127.0.0.1:{args.port}. Invoke it with:", file=sys.stderr)
    print(
        f"  curl -XPOST \"http://localhost:{args.port}{local.INVOKE_PATH}\" -d '{{\"test\": \"data\"}}'",
        file=sys.stderr,
    )
    print("Logs follow; Ctrl-C stops and removes the container.", file=sys.stderr)
    code = 0
    try:
        for line in engine.logs(container, follow=True):
            print(line, flush=True)
        code = engine.exit_code(container) or 0  # the container stopped by itself
        print(f"the container exited with code {code}", file=sys.stderr)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        engine.remove(container)
    return 1 if code else 0


# ---- parser ------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m builder",
        description="Build small, fast, verified container images for Python AWS Lambda functions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--project", default=".", metavar="DIR", help="the backend's root (default: current folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="echo commands and stream their output")
    p.add_argument("--version", action="version", version=f"builder {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("base", help="build the Lambda-compatible Python base image (Dockerfile.base)")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="from_image", metavar="IMAGE", help="a local Debian or Python image to start from")
    src.add_argument("--bootstrap", action="store_true", help="make a Debian image with debootstrap (no registry needed)")
    b.add_argument("--suite", default=base.DEFAULT_SUITE, help="Debian suite for --bootstrap (default: %(default)s)")
    b.add_argument("--mirror", help="Debian mirror for --bootstrap (default: the one apt uses here)")
    b.add_argument("--rebuild", action="store_true", help="bootstrap again even if the Debian image exists")
    b.add_argument("--python-version", default="3.11", help="Python the base must have (default: %(default)s)")
    b.add_argument("--tag", help="image tag (default: builder-lambda-python:<python-version>)")
    b.set_defaults(handler=cmd_base)

    d = sub.add_parser("dockerfile", help="write (or --check) the shared multi-stage Dockerfile")
    d.add_argument("--output", "-o", metavar="FILE", help="where to write it ('-' for stdout; default: <project>/Dockerfile)")
    d.add_argument("--check", action="store_true", help="fail when FILE differs from what would be generated")
    d.set_defaults(handler=cmd_dockerfile)

    bd = sub.add_parser("build", help="build per-function images and print their sizes")
    bd.add_argument("--function", "-f", action="append", default=[], metavar="NAME", help="a function to build (repeatable)")
    bd.add_argument("--all", action="store_true", help="build every function")
    bd.add_argument("--tag", default="latest", help="image tag (default: %(default)s)")
    bd.add_argument("--json", action="store_true", help="print the results as JSON")
    bd.set_defaults(handler=cmd_build)

    c = sub.add_parser("closure", help="what a function's image must hold, and why")
    c.add_argument("--function", "-f", metavar="NAME", help="the function")
    c.add_argument("--why", metavar="DIST", help="only the chains that pull DIST (or a file or module) in")
    c.add_argument("--unused", action="store_true", help="list locked distributions no function needs")
    c.add_argument("--json", action="store_true", help="machine-readable (docs/closure-json.md)")
    c.set_defaults(handler=cmd_closure)

    for name, handler, help_text in (
        ("invoke", cmd_invoke, "run a function's image like Lambda and send it one event"),
        ("run", cmd_run, "serve a function's image on a local port, the way AWS's base images do"),
    ):
        r = sub.add_parser(name, help=help_text)
        r.add_argument("--function", "-f", required=True, metavar="NAME", help="the function")
        r.add_argument("--tag", default="latest", help="image tag (default: %(default)s)")
        r.add_argument("--port", type=int, default=9000, help="host port for the invoke endpoint (default: %(default)s)")
        r.add_argument("--memory", type=int, default=128, metavar="MB", help="memory size, enforced (default: %(default)s)")
        r.add_argument("--timeout", type=int, default=3, metavar="S", help="function timeout in seconds (default: %(default)s)")
        r.add_argument("--env", action="append", default=[], metavar="K=V", help="an environment variable (repeatable)")
        r.add_argument("--no-sandbox", action="store_true", help="writable root, root user, no memory limit")
        if name == "invoke":
            r.add_argument("--event", metavar="FILE", help="the event JSON ('-': stdin; default: the sample event)")
            r.add_argument("--keep-warm", action="store_true", help="reuse (and keep) a running container")
        r.set_defaults(handler=handler)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (callable from tests)."""
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.handler(args)
    except BuilderError as exc:
        cause = exc if isinstance(exc, CommandFailed) else exc.__cause__
        if isinstance(cause, CommandFailed) and not args.verbose:
            sys.stderr.write(cause.output.rstrip() + "\n\n")
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
