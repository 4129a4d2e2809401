"""Command line: the only place that prints, shows progress and exits.

Each command module registers its subcommands; each handler parses, calls the
library, renders. Errors from the library are :class:`BuilderError`
subclasses; they become a one-paragraph message on stderr and their exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from ..core import proc
from ..core.errors import BuilderError, CommandFailed

EPILOG = """\
examples:
  cd my-sam-app && python -m builder build --all       # a SAM project as it is: no configuration
  python -m builder --project examples/sam-app functions
  python -m builder --project examples/backend base --bootstrap
  python -m builder --project examples/backend build --all
  python -m builder --project examples/backend closure --function analytics-report --why numpy
  python -m builder --project examples/backend dockerfile --check --output Dockerfile
  python -m builder --project examples/backend invoke --function health
  python -m builder --project examples/backend report --all --markdown
  python -m builder --project examples/backend check --build
  python -m builder --project examples/backend migrate --function UserAuthFunction --dry-run
  python -m builder --project examples/backend ci --github
"""

# Each command's module (tests/unit check it against what the modules register): a command run
# imports only its own module, and so only the library it needs (a build never loads the SAM
# migration, the local runner or the size reports: about a quarter of builder's start-up).
COMMANDS = {
    "functions": "project", "init": "project", "lock": "project",
    "base": "images", "dockerfile": "images", "build": "images", "closure": "images",
    "invoke": "local", "run": "local",
    "plan": "sam", "migrate": "sam", "push": "sam",
    "report": "sizes", "check": "sizes",
    "ci": "ci",
}  # fmt: skip
COMMAND_MODULES = ("project", "images", "local", "sam", "sizes", "ci")  # in the order --help lists them
_OPTIONS_WITH_VALUES = ("--project", "--template")


def command_modules(argv: Sequence[str] | None = None) -> list[ModuleType]:
    """The command modules to register for ``argv``: the one of its command, or all of them
    (no command, an unknown one, --help or --version: argparse then lists or suggests them all)."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = None
    while words:
        word = words.pop(0)
        if word in _OPTIONS_WITH_VALUES:
            words = words[1:]
        elif not word.startswith("-"):
            command = word
            break
        elif word in ("-h", "--help", "--version"):
            break
    names = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def parser(modules: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m builder`` with the commands of ``modules`` (all by default)."""
    p = argparse.ArgumentParser(
        prog="python -m builder",
        description="Build small, fast, verified container images for Python AWS Lambda functions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--project", default=".", metavar="DIR", help="the backend's root (default: current folder)")
    p.add_argument("--template", dest="templates", action="append", default=[], metavar="FILE",
                   help="the SAM template, relative to DIR (repeatable; default: samconfig.toml's, or template.yaml)")
    p.add_argument("-v", "--verbose", action="store_true", help="echo commands and stream their output")
    p.add_argument("--version", action="version", version=f"builder {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for module in modules if modules is not None else command_modules([]):
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (callable from tests)."""
    args = parser(command_modules(argv)).parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.DEBUG if args.verbose else logging.WARNING)
    main_thread = threading.current_thread() is threading.main_thread()
    # `kill`, `timeout` and CI runners stop with SIGTERM: treated as Ctrl-C, so what builder started stops
    previous = signal.signal(signal.SIGTERM, _interrupted) if main_thread else None
    try:
        return args.handler(args)
    except BuilderError as exc:
        cause = exc if isinstance(exc, CommandFailed) else exc.__cause__
        if isinstance(cause, CommandFailed) and not args.verbose:
            sys.stderr.write(without_tracebacks(cause.output).rstrip() + "\n\n")
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        proc.stop_all()  # what builder started stops with it
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def without_tracebacks(output: str) -> str:
    """A failed tool's output as the CLI replays it: each Python traceback (pip's own, say) cut to
    the exception it ends with, the last of a chain (``--verbose`` streams the whole output)."""
    lines, out, i = output.splitlines(), [], 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("Traceback (most recent call last):"):
            out.append(lines[i])
            i += 1
            continue
        i += 1
        while i < len(lines) and lines[i][:1] in (" ", "\t"):  # its frames
            i += 1
        after = i + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after < len(lines) and lines[after].startswith(_CHAINED):  # another traceback follows: keep its end
            i = after + 1
            while i < len(lines) and not lines[i].strip():
                i += 1
        elif i < len(lines):
            out.append(lines[i])
            i += 1
    return "\n".join(out) + ("\n" if output.endswith("\n") else "")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
