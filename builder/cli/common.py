"""Helpers shared by the command handlers: loading the config, tables, progress."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tqdm import tqdm

from .. import pipeline
from ..image.plan import BuildPlan
from ..project import config

if TYPE_CHECKING:
    from ..engine.docker_engine import DockerEngine


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load(args: argparse.Namespace, **overrides) -> config.Config:
    return config.load(args.project, templates=tuple(args.templates or ()), **overrides)


def names(cfg: config.Config, given: Sequence[str]) -> list[str]:
    """The functions named by ``--function`` (names or logical IDs), as builder's names, in order."""
    return list(dict.fromkeys(cfg.function(name).name for name in given))


def selected(args: argparse.Namespace, cfg: config.Config, *, default_all: bool = False) -> list[str]:
    """``--function`` (repeatable) or ``--all``: never both; nothing given means all with ``default_all``."""
    given = getattr(args, "function", []) or []
    if getattr(args, "all", False) and given:
        raise config.ConfigError("Pass either --function NAME (repeatable) or --all, not both.")
    if getattr(args, "all", False) or (default_all and not given):
        return [f.name for f in cfg.functions]
    if not given:
        raise config.ConfigError("Name the functions with --function NAME (repeatable; a name or a logical ID), or pass --all.")
    return names(cfg, given)


def notices(cfg: config.Config, *, skipped: bool = True) -> None:
    """Say once what reading the template noticed: functions left alone, layers not in the images."""
    if skipped and cfg.skipped:
        shown = "; ".join(f"{fid} ({why})" for fid, why in cfg.skipped)
        print(f"note: left alone: {shown}", file=sys.stderr)
    for line in cfg.notices:
        print(f"note: {line}", file=sys.stderr)


def progress_bar(items=None, **kwargs) -> tqdm:
    """A progress bar on stderr; in a log (not a terminal) it prints rarely, not every line."""
    interactive = sys.stderr.isatty()
    return tqdm(items, file=sys.stderr, mininterval=0.1 if interactive else 30, **kwargs)


@contextmanager
def progress_lines(bar: tqdm) -> Iterator[None]:
    """Show the latest line that commands print (the ``builder.output`` log) beside the bar, while
    the block runs; ``--verbose`` logs every line besides."""

    root = logging.getLogger()

    class Latest(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            line = record.getMessage().strip()
            if line:
                bar.set_postfix_str(line[:60], refresh=False)
            if record.levelno >= root.getEffectiveLevel():  # the lines the log shows, as without the bar
                root.handle(record)

    handler = Latest()
    output = logging.getLogger("builder.output")
    previous = output.level, output.propagate
    output.addHandler(handler)
    output.setLevel(logging.DEBUG)
    output.propagate = False  # else every line would reach the log's handler, --verbose or not
    try:
        yield
    finally:
        output.removeHandler(handler)
        output.setLevel(previous[0])
        output.propagate = previous[1]



def jobs_option(parser: argparse.ArgumentParser) -> None:
    """``--jobs N``: how many docker builds run at once."""
    parser.add_argument(
        "--jobs", "-j", type=positive, default=pipeline.DEFAULT_JOBS, metavar="N",
        help="images built at once (default: %(default)s); an image whose lowest layers an earlier one shares "
             "waits for it, so its layers come out as the same bytes",
    )


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def analyse(cfg: config.Config, functions: Sequence[str] | None = None) -> pipeline.Analysis:
    """Lock, download and analyse, with a progress line; say what locking did and which other
    functions are left out (their closure fails; ``functions``' own failures are errors)."""
    with progress_bar(desc="analyse", unit="line", total=None, leave=False, disable=not sys.stderr.isatty()) as bar:
        with progress_lines(bar):
            analysis = pipeline.analyse(cfg, functions=functions, engine=_engine)
    if analysis.failed:
        print(f"note: left out, as their code cannot be analysed: {', '.join(analysis.failed)} "
              "(`python -m builder closure --function NAME` says why)", file=sys.stderr)  # fmt: skip
    locked = analysis.locked
    if locked.written:
        own = f"; {', '.join(locked.divergent)} diverge (their requirements conflict), each with a lock of its own" if locked.divergent else ""
        print(f"locked the requirements ({locked.reason}): wrote {', '.join(locked.written)}{own}. Commit them.",
              file=sys.stderr)  # fmt: skip
    return analysis


def _engine() -> DockerEngine:
    """An engine for the work analysis needs one for (building wheels of sdists)."""
    from ..engine.docker_engine import DockerEngine  # here: the SDK import is slow

    return DockerEngine()


def dropped(analysis: pipeline.Analysis, names: Sequence[str]) -> None:
    """One line naming the requirements no import reaches (so they are not in the images)."""
    found = [f"{name}: {', '.join(analysis.dropped[name])}" for name in names if name in analysis.dropped]
    if found:
        print(f"note: not in the images, as no import reaches them: {'; '.join(found)}. If code loads one "
              "dynamically, add it to keep = [...] in builder.toml (top level or [functions.NAME]).",
              file=sys.stderr)  # fmt: skip


def docker(args: argparse.Namespace) -> DockerEngine:
    """The command's Docker engine, connected on first use (commands that need none never import the SDK)."""
    if getattr(args, "engine", None) is None:
        from ..engine.docker_engine import DockerEngine  # here: the SDK import is slow

        args.engine = DockerEngine()
    return args.engine


def build_images(
    cfg: config.Config, engine: DockerEngine, build_plan: BuildPlan, names: Sequence[str], tag: str,
    jobs: int = pipeline.DEFAULT_JOBS,
) -> list[pipeline.Built]:  # fmt: skip
    """Build the images of ``names`` from one prepared Dockerfile, ``jobs`` at a time, with a progress bar.

    The base is the configured one, else AWS's for the runtime, else the local stand-in: said on stderr.
    """
    cfg = pipeline.with_base(cfg, engine)
    print(f"base: {cfg.base_image}", file=sys.stderr)
    text = pipeline.prepare(cfg, build_plan.on_base(cfg.base_image))
    if cfg.images == config.ONE_IMAGE:  # one image holds them all: build it once
        names = names[:1]
    with progress_bar(total=len(names), desc="build", unit="image") as bar:

        def done(built: pipeline.Built) -> None:
            bar.set_description(f"built {built.function}", refresh=False)
            bar.update()

        with progress_lines(bar):
            built = pipeline.build_many(cfg, engine, text, names, tag=tag, jobs=jobs, on_done=done)
    pipeline.record_built(cfg, engine, build_plan.on_base(cfg.base_image), built)
    removed = engine.remove_untagged(cfg.name)
    if removed:
        print(f"removed {removed} untagged image(s) that earlier builds of {cfg.name} left", file=sys.stderr)
    return built


_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # the grammar of a Docker image tag


def image_tag(value: str) -> str:
    """argparse type of ``--tag``: refused before any work when Docker would refuse it."""
    if not _TAG.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an image tag: letters, digits, '_', '.' and '-', at most 128, not starting "
            "with '.' or '-'"
        )
    return value
