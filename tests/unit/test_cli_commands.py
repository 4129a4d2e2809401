"""The CLI imports only the module of the command it runs: the map it reads must be right."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from builder import cli
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
