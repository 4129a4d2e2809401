"""Commands that run images locally the way Lambda does: invoke, run."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .. import pipeline
from ..core.errors import BuilderError, ConfigError, InvokeError
from ..image.plan import BuildPlan
from ..local import debugger, front, runner, watch
from ..local import sandbox as local
from ..local import settings as local_settings
from ..project import config
from ..project.model import DEFAULT_ARCHITECTURE, emulated
from ..project.template import parse_parameter_overrides
from .common import analyse, build_images, docker, image_tag, load


def _event(args: argparse.Namespace, cfg: config.Config) -> bytes:
    """The event to send: --event FILE, '-' for stdin, or the function's sample event."""
    if args.event == "-":
        return sys.stdin.buffer.read()
    path = Path(args.event) if args.event else pipeline.event_path(cfg, args.function)
    try:
        data = path.read_bytes()
    except OSError as exc:
        where = "" if args.event else " (builder looks in events/<name>.json, events/event.json and <CodeUri>/event.json)"
        raise ConfigError(
            f"Cannot read the event {path}: {exc.strerror}{where}. Pass --event FILE (or - for stdin)."
        ) from exc
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
    """The container, with the template's settings under the flags (as `sam local invoke` takes them)."""
    args.function = cfg.function(args.function).name
    overrides = dict(parse_parameter_overrides(args.parameter_overrides, "--parameter-overrides")) if args.parameter_overrides else {}
    env_vars_path = args.env_vars or (str(cfg.root / cfg.env_vars) if cfg.env_vars else None)
    env_vars = local_settings.env_vars_file(Path(env_vars_path)) if env_vars_path else None
    settings = local_settings.local_settings(cfg, cfg.function(args.function), parameter_overrides=overrides,
                                             env_vars=env_vars, env=_env(args.env))  # fmt: skip
    for line in settings.notices:
        print(f"note: {line}", file=sys.stderr)
    arch = cfg.function(args.function).architecture
    if arch != DEFAULT_ARCHITECTURE or emulated(arch):
        print(f"{args.function} is an {arch} image: it runs {'under emulation (qemu)' if emulated(arch) else 'natively'} "
              "on this machine", file=sys.stderr)  # fmt: skip
    return runner.spec_for(
        docker(args), cfg, args.function, tag=args.tag, port=args.port, memory_mb=args.memory or settings.memory_mb,
        timeout_s=args.timeout or settings.timeout_s, tmp_mb=args.tmp or settings.tmp_mb, env=dict(settings.environment),
        sandbox=not args.no_sandbox,
    )


def _fresh(args: argparse.Namespace, cfg: config.Config) -> BuildPlan:
    """Build the function first when its image is missing or older than its sources, unless --no-build
    (then say so): a local run never answers from a stale image without a word."""
    args.function = cfg.function(args.function).name
    engine = docker(args)
    analysis = analyse(cfg, [args.function])
    build_plan = pipeline.plan(cfg, analysis)
    based = build_plan.on_base(pipeline.with_base(cfg, engine).base_image)
    reason = pipeline.stale_reason(cfg, engine, based, args.function, args.tag)
    if reason is None:
        return build_plan
    if args.no_build:
        if engine.image_exists(cfg.image(args.function, args.tag)):
            print(f"warning: {reason}; running it anyway (--no-build).", file=sys.stderr)
        return build_plan
    print(f"building {args.function} first: {reason}.", file=sys.stderr)
    build_images(cfg, engine, build_plan, [args.function], args.tag)
    return build_plan


def _show(result: runner.Result) -> None:
    for line in result.logs:
        print(line, file=sys.stderr)
    sys.stdout.write(result.invocation.body.decode("utf-8", "replace") + "\n")
    sys.stdout.flush()


def cmd_invoke(args: argparse.Namespace) -> int:
    if args.debug_port is not None and args.keep_warm:
        raise ConfigError("--debug-port starts a container of its own for the debugger; it does not combine with "
                          "--keep-warm.")
    cfg = load(args)
    event = _event(args, cfg)
    _fresh(args, cfg)
    spec = _spec(args, cfg)
    if args.debug_port is not None:
        local.check_port(args.debug_port)
        spec = local.with_debugger(spec, args.debug_port, str(debugger.ensure(cfg.root)))
        print(f"waiting for a debugger: attach to 127.0.0.1:{args.debug_port} (debugpy {debugger.VERSION}; in the "
              f"IDE, map the local sources to /var/task)", file=sys.stderr, flush=True)
    result = runner.invoke(docker(args), spec, event, keep_warm=args.keep_warm, freeze=not args.no_freeze,
                           on_result=_show)  # the answer first, then the container's removal
    if not result.invocation.ok:
        raise InvokeError(
            f"{args.function} failed ({result.invocation.function_error or f'HTTP {result.invocation.status}'}): "
            "the error is on stdout and the logs on stderr."
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.watch and args.no_build:
        raise ConfigError("--watch rebuilds the image when its files change; it does not combine with --no-build.")
    cfg = load(args)
    build_plan = _fresh(args, cfg)
    served = _front(args, _spec(args, cfg))
    if not args.watch:
        try:
            served.serve(lambda: _listening(args, served))
        except KeyboardInterrupt:
            served.on_notice("stopping")
        return 0
    thread = threading.Thread(target=served.serve, args=(lambda: _listening(args, served),), daemon=True)
    thread.start()
    state = watch.snapshot(pipeline.watched(cfg, build_plan, args.function))
    try:
        while thread.is_alive():
            edited, state = watch.wait_for_change(state, stop=lambda: not thread.is_alive())
            if not edited:
                continue
            served.on_notice(f"changed: {', '.join(_short(cfg, p) for p in edited)}; rebuilding")
            try:
                cfg = load(args)
                build_plan = _fresh(args, cfg)
                state = watch.carry(state, pipeline.watched(cfg, build_plan, args.function))
                served.restart(_spec(args, cfg))
            except BuilderError as exc:  # e.g. a syntax error mid-edit: keep serving, keep watching
                served.on_notice(f"error: {exc} (still serving the image before the edit)")
                continue
            served.on_notice("restarted: a fresh environment of the new image serves the next invoke")
    except KeyboardInterrupt:
        served.on_notice("stopping")
    finally:
        served.shutdown()
        thread.join(30)
    return 0


def _short(cfg: config.Config, path: str) -> str:
    try:
        return Path(path).relative_to(cfg.root).as_posix()
    except ValueError:
        return path


def _front(args: argparse.Namespace, spec: local.ContainerSpec) -> front.Front:
    lock = threading.Lock()

    def line(text: str) -> None:
        with lock:
            print(text, flush=True)

    def notice(text: str) -> None:
        with lock:
            print(text, file=sys.stderr, flush=True)

    return front.Front(docker(args), spec, concurrency=args.concurrency, freeze=not args.no_freeze,
                       on_line=line, on_notice=notice)


def _listening(args: argparse.Namespace, served: front.Front) -> None:
    plural = "s" if args.concurrency > 1 else ""
    frozen = "" if args.no_freeze else ", frozen between invokes"
    served.on_notice(f"{served.spec.image} is listening on 127.0.0.1:{args.port} (up to {args.concurrency} "
                     f"environment{plural}{frozen}). Invoke it with:")
    served.on_notice(f"  curl -XPOST \"http://localhost:{args.port}{local.INVOKE_PATH}\" -d '{{\"test\": \"data\"}}'")
    served.on_notice("Logs follow; Ctrl-C stops and removes the containers." +
                     (" Edits rebuild and restart the function." if args.watch else ""))


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    for name, handler, help_text in (
        ("invoke", cmd_invoke, "run a function's image like Lambda and send it one event"),
        ("run", cmd_run, "serve a function's image on a local port, the way AWS's base images do"),
    ):
        r = sub.add_parser(name, help=help_text)
        r.add_argument("--function", "-f", required=True, metavar="NAME", help="the function (its name or logical ID)")
        r.add_argument("--tag", default="latest", type=image_tag, help="image tag (default: %(default)s)")
        r.add_argument("--port", type=int, default=9000, help="host port for the invoke endpoint (default: %(default)s)")
        r.add_argument("--memory", type=int, metavar="MB", help="memory size, enforced (default: the template's MemorySize, else 128)")
        r.add_argument("--timeout", type=int, metavar="S", help="function timeout in seconds (default: the template's Timeout, else 3)")
        r.add_argument("--tmp", type=int, metavar="MB", help="size of /tmp (default: the template's EphemeralStorage, else 512)")
        r.add_argument("--env", action="append", default=[], metavar="K=V",
                       help="an environment variable (repeatable; over the template's Environment)")
        r.add_argument("--env-vars", metavar="FILE",
                       help="SAM's env-vars JSON: {\"FunctionLogicalId\": {\"VAR\": \"value\"}} (default: samconfig.toml's env_vars)")
        r.add_argument("--parameter-overrides", metavar="K=V ...",
                       help="template parameters, as for sam (default: samconfig.toml's parameter_overrides)")
        r.add_argument("--no-sandbox", action="store_true", help="writable root, root user, no memory limit")
        r.add_argument("--no-build", action="store_true",
                       help="run the image as it is, even when it is older than its sources (said on stderr)")
        r.add_argument("--no-freeze", action="store_true",
                       help="let a warm environment run between invokes (Lambda freezes it)")
        if name == "invoke":
            r.add_argument("--event", metavar="FILE", help="the event JSON ('-': stdin; default: the sample event)")
            r.add_argument("--keep-warm", action="store_true", help="reuse (and keep) a running container")
            r.add_argument("--debug-port", type=int, metavar="N",
                           help="start the function under debugpy, waiting for an IDE to attach on 127.0.0.1:N")
        else:
            r.add_argument("--watch", action="store_true",
                           help="rebuild and restart the function when a file its image is made from changes")
            r.add_argument("--concurrency", type=int, default=1, metavar="N",
                           help="serve up to N concurrent invokes, each environment with its own cold start "
                           "(default: %(default)s)")
        r.set_defaults(handler=handler)
