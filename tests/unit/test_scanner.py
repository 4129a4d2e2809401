"""The fast import scanner finds exactly what a full parse finds, on tricky code and on the standard library."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from builder.analysis.fastscan import scan_fast
from builder.analysis.imports import DYNAMIC, OPTIONAL, ImportRecord, scan_full

# --- the scanner --------------------------------------------------------------------------------

TRICKY = '''"""Docstring with
import not_an_import
from neither import this
"""
import os, sys as system  # comment with import x
from . import (
    alpha,
    beta as b,
)
from ..pkg.mod import *
import a.b.c; import d
x = "import fake"; y = 'from fake import z'
if x: import one_liner
@decorator
def f():
    s = """
from inside_string import nothing
"""
    import lazy  # inside a function
class K:
    def m(self):
        try:
            from opt import thing
        except (ImportError, KeyError):
            from fallback import thing
        else:
            import after_success
        finally:
            import always
with suppress(ImportError):
    import suppressed
if TYPE_CHECKING:
    import typing_only
elif sys.version_info > (3,):
    import version_branch
if not TYPE_CHECKING:
    import runtime_only
else:
    import also_typing_only
value = 1 + \\
2
import after_continuation
__all__ = ["a", "b"]
__all__ += ["c"]
mod = importlib.import_module("pkg.dynamic")
rel = importlib.import_module("..up", package="a.b.c")
from importlib import import_module as load
aliased = load("pkg.aliased")
spec = importlib.util.spec_from_file_location("x", path)
match value:
    case 1:
        import in_match
'''


def test_fast_scanner_matches_the_full_parse() -> None:
    full = scan_full(TRICKY, "tricky.py")
    assert scan_fast(TRICKY, "tricky.py") == full
    seen = {(r.level, r.module, r.names, r.flags) for r in full.imports}
    assert (0, "os", None, 0) in seen and (0, "sys", None, 0) in seen
    assert (1, "", ("alpha", "beta"), 0) in seen and (2, "pkg.mod", ("*",), 0) in seen
    assert {(0, m, None, 0) for m in ("a.b.c", "d", "one_liner", "lazy", "after_success", "always",
                                      "version_branch", "runtime_only", "after_continuation", "in_match")} <= seen
    assert (0, "opt", ("thing",), OPTIONAL) in seen and (0, "fallback", ("thing",), OPTIONAL) in seen
    assert (0, "suppressed", None, OPTIONAL) in seen
    assert (0, "pkg.dynamic", None, DYNAMIC) in seen and (0, "a.b.up", None, DYNAMIC) in seen
    assert (0, "pkg.aliased", None, DYNAMIC) in seen
    modules = {r.module for r in full.imports}
    assert not modules & {"not_an_import", "neither", "fake", "inside_string", "typing_only", "also_typing_only"}
    assert full.all_names == ("a", "b", "c")
    spec_line = next(i for i, text in enumerate(TRICKY.splitlines(), 1) if "spec_from_file_location" in text)
    assert [line for line, _ in full.warnings] == [spec_line]
    assert ImportRecord(5, 0, "os", None) in full.imports


@pytest.mark.parametrize("name", ["json/decoder.py", "argparse.py", "importlib/__init__.py", "asyncio/base_events.py",
                                  "typing.py", "logging/__init__.py", "pathlib.py", "email/message.py"])  # fmt: skip
def test_fast_scanner_matches_the_full_parse_on_the_standard_library(name: str) -> None:
    path = Path(sys.modules["json"].__file__).parent.parent / name
    source = path.read_text(encoding="utf-8")
    assert scan_fast(source, name) == scan_full(source, name)
