"""Helpers shared by the command handlers: loading the config, tables, progress."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from collections.abc import Sequence

from tqdm import tqdm

from .. import config, pipeline
from ..plan import BuildPlan


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load(args: argparse.Namespace, **overrides) -> config.Config:
    return config.load(args.project, **overrides)


def progress_bar(items=None, **kwargs) -> tqdm:
    """A progress bar on stderr; in a log (not a terminal) it prints rarely, not every line."""
    interactive = sys.stderr.isatty()
    return tqdm(items, file=sys.stderr, mininterval=0.1 if interactive else 30, **kwargs)


def progress_line(bar: tqdm):
    """Show the latest line of a step's output beside the bar (--verbose logs every line)."""

    def on_line(line: str) -> None:
        if line.strip():
            bar.set_postfix_str(line.strip()[:60], refresh=False)

    return on_line



def jobs_option(parser: argparse.ArgumentParser) -> None:
    """``--jobs N``: how many docker builds run at once."""
    parser.add_argument(
        "--jobs", "-j", type=positive, default=pipeline.DEFAULT_JOBS, metavar="N",
        help="images built at once; stages they share are built once (default: %(default)s)",
    )


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def build_images(
    cfg: config.Config, build_plan: BuildPlan, names: Sequence[str], tag: str, jobs: int = pipeline.DEFAULT_JOBS
) -> list[pipeline.Built]:
    """Build the images of ``names`` from one prepared Dockerfile, ``jobs`` at a time, with a progress bar."""
    text = pipeline.prepare(cfg, replace(build_plan, base_image=cfg.base_image))
    with progress_bar(total=len(names), desc="build", unit="image") as bar:

        def done(built: pipeline.Built) -> None:
            bar.set_description(f"built {built.function}", refresh=False)
            bar.update()

        return pipeline.build_many(cfg, text, names, tag=tag, jobs=jobs, on_done=done, on_line=progress_line(bar))
