"""The CLI imports only the module of the command it runs: the map it reads must be right."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from builder import cli
from builder.core.errors import CommandFailed, LockError
from tests.helpers import REPO


def _registered(name: str) -> set[str]:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"builder.cli.{name}").register(sub)
    return set(sub.choices)


def test_every_command_is_mapped_to_the_module_that_registers_it():
    registered = {command: name for name in cli.COMMAND_MODULES for command in _registered(name)}
    assert cli.COMMANDS == registered


@pytest.mark.parametrize(("argv", "modules"), [
    (["--project", "x", "build", "--all"], ["images"]),
    (["--template", "t.yaml", "-v", "invoke", "-f", "health"], ["local"]),
    (["--project", "closure", "functions"], ["project"]),  # a value that looks like a command
    (["--help"], list(cli.COMMAND_MODULES)),
    (["bild"], list(cli.COMMAND_MODULES)),  # unknown: argparse lists every command
    ([], list(cli.COMMAND_MODULES)),
])  # fmt: skip
def test_a_command_loads_its_own_module_only_and_anything_else_loads_all(argv, modules):
    assert [m.__name__.rsplit(".", 1)[1] for m in cli.command_modules(argv)] == modules


def test_a_build_imports_neither_the_sam_migration_nor_the_local_runner_nor_the_size_reports():
    code = (
        "import sys; from builder import cli; cli.parser(cli.command_modules(['build', '--all']))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('builder.sam', 'builder.local', 'builder.measure.check', 'docker'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


PIP_COMPILE_FAILED = """\
  ERROR: Could not find a version that satisfies the requirement orders-lib (from versions: none)
Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/pip/_vendor/resolvelib/resolvers.py", line 397, in resolve
    self._add_to_criteria(self.state.criteria, r, parent=None)
pip._vendor.resolvelib.resolvers.RequirementsConflicted: Requirements conflict: SpecifierRequirement('orders-lib')

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/piptools/scripts/compile.py", line 509, in cli
    results = resolver.resolve(max_rounds=max_rounds)
              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
pip._internal.exceptions.DistributionNotFound: No matching distribution found for orders-lib
"""


def test_a_failed_tools_output_is_replayed_with_its_tracebacks_cut_to_the_exception(monkeypatch, capsys):
    def handler(args):
        failed = CommandFailed(["python", "-m", "piptools", "compile"], 1, PIP_COMPILE_FAILED)
        raise LockError("requirements.txt cannot be locked: no distribution matches orders-lib.") from failed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None: argparse.Namespace(
        verbose=False, handler=handler))  # fmt: skip
    assert cli.main(["functions"]) == LockError.exit_code
    err = capsys.readouterr().err
    assert err == ("  ERROR: Could not find a version that satisfies the requirement orders-lib (from versions: none)\n"
                   "pip._internal.exceptions.DistributionNotFound: No matching distribution found for orders-lib\n\n"
                   "error: requirements.txt cannot be locked: no distribution matches orders-lib.\n")  # fmt: skip
    assert cli.without_tracebacks("no traceback\n  indented\n") == "no traceback\n  indented\n"



@pytest.mark.parametrize("verbose", [False, True])
def test_the_lines_a_command_prints_go_beside_the_bar_and_into_the_log_only_with_verbose(verbose):
    line = "#1 [internal] load build definition"
    program = (
        "import logging, sys\n"
        "from builder.cli.common import progress_bar, progress_lines\n"
        "from builder.core import proc\n"
        f"logging.basicConfig(format='%(message)s', level=logging.{'DEBUG' if verbose else 'WARNING'})\n"
        "with progress_bar(total=1) as bar, progress_lines(bar):\n"
        f"    proc.run([sys.executable, '-c', {f'print({line!r})'!r}])\n"
        "    print('\\nbeside the bar:', bar.postfix, file=sys.stderr)\n"
        "    logging.getLogger('builder.output').warning('note: kept')\n"
    )
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=REPO)
    lines = shown.stderr.splitlines()
    assert f"beside the bar: {line}" in lines
    assert "note: kept" in lines  # a warning is in the log all the same
    assert shown.stderr.count(f"  {line}") == verbose  # a log line of its own only with --verbose
