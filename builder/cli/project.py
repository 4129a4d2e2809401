"""Commands about the project itself: functions (what builder found), init (a builder.toml), lock."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import ConfigError, LockError
from ..core.files import write_atomic
from ..core.paths import CONFIG_FILE
from ..deps import locking
from ..project.model import Config
from .common import load, notices, table


def _describe(cfg: Config) -> list[dict]:
    out = []
    for fn in cfg.functions:
        out.append({
            "name": fn.name, "logical_id": fn.logical_id, "handler": fn.handler, "template": fn.template,
            "code": fn.code_root.path, "layers": [r.path for r in fn.roots[1:] if not r.package],
            "packages": [r.path for r in fn.roots[1:] if r.package], "arn_layers": list(fn.arn_layers),
            "requirements": list(fn.requirements), "lock": fn.lock_file, "event": fn.event,
        })  # fmt: skip
    return out


def cmd_functions(args: argparse.Namespace) -> int:
    cfg = load(args)
    rows = _describe(cfg)
    if args.json:
        skipped = [{"logical_id": fid, "reason": why} for fid, why in cfg.skipped]
        print(json.dumps({"functions": rows, "left_alone": skipped, "notices": list(cfg.notices)}, indent=2, sort_keys=True))
        return 0
    own = {r["name"] for r in rows if r["lock"] != cfg.lock_file}
    packages = any(r["packages"] for r in rows)  # local projects its requirements name: a column when there are some
    print(table(
        ("function", "logical ID", "handler", "code", "layers", *(("local packages",) if packages else ()), "lock"),
        [(r["name"], r["logical_id"] or "-", r["handler"], r["code"], ", ".join(r["layers"]) or "-",
          *((", ".join(r["packages"]) or "-",) if packages else ()),
          r["lock"] + (" (diverges)" if r["name"] in own else "")) for r in rows],
    ))  # fmt: skip
    notices(cfg)
    return 0


def _init_text(cfg: Config) -> str:
    lines = [
        f"# builder configuration for {cfg.name}, written by `python -m builder init`.",
        f"# builder reads the functions from {', '.join(cfg.templates) or 'this file'}; what is here overrides",
        "# or adds to that. Every key is optional: uncomment what you need.",
        f'name = "{cfg.name}"                      # images are <name>-<function>:<tag>',
        f'# python-version = "{cfg.python_version}"          # from the functions\' Runtime',
        f'# base-image = "{cfg.base_image}"',
        '# keep = []                          # modules or distributions only dynamic imports load',
        "",
        "# [strip]                            # gitignore-style rules on top of the defaults",
        '# patterns = ["*.md"]',
        "",
    ]
    for fn in cfg.functions:
        where = f"{fn.logical_id}: {fn.handler} in {fn.code_root.path}" if fn.logical_id else fn.handler
        lines += [
            f"# [functions.{fn.name}]                # {where}",
            '# include = []                      # extra files (globs from the root)',
            '# keep = []',
            f'# event = "{fn.event}"',
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def cmd_init(args: argparse.Namespace) -> int:
    cfg = load(args)
    path = cfg.root / CONFIG_FILE
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists already; pass --force to replace it (or edit it by hand).")
    write_atomic(path, _init_text(cfg))
    print(f"wrote {path} ({len(cfg.functions)} functions, all settings commented out)")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    cfg = load(args)
    if not cfg.locked_by_builder:
        raise ConfigError(
            f"{cfg.root / CONFIG_FILE} names the lock file {cfg.lock_file}: lock it with pip-compile. "
            "builder locks requirements files itself when lock-file is not set."
        )
    if args.check:
        stale = locking.staleness(cfg)
        if stale:
            raise LockError(f"The locks in {cfg.root / 'builder-locks'} are stale ({stale}). Run `python -m builder lock` and commit them.")
        print("the locks are current")
        return 0
    result = locking.ensure(cfg, upgrade=args.upgrade)
    if not result.written:
        print("the locks are current; nothing to do (--upgrade takes the newest versions the requirements allow)")
        return 0
    for rel in result.written:
        note = " (the shared lock)" if rel == cfg.lock_file else " (its requirements conflict with the shared lock's)"
        print(f"wrote {rel}{note}", file=sys.stdout)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    f = sub.add_parser("functions", help="list the functions builder found (and what it left alone)")
    f.add_argument("--json", action="store_true", help="machine-readable")
    f.set_defaults(handler=cmd_functions)

    i = sub.add_parser("init", help="write a commented builder.toml with what builder derived from the template")
    i.add_argument("--force", action="store_true", help="replace an existing builder.toml")
    i.set_defaults(handler=cmd_init)

    lk = sub.add_parser("lock", help="lock the requirements files into builder-locks/ (build does it when needed)")
    lk.add_argument("--upgrade", action="store_true", help="take the newest versions the requirements allow")
    lk.add_argument("--check", action="store_true", help="fail (exit 5) when a requirements file changed since")
    lk.set_defaults(handler=cmd_lock)
