"""Property-based tests: generated and mutated builder.toml files, lock files and SAM templates.

Each input ends in success or a ``BuilderError`` (a message and an exit code), never another
exception. Examples that once failed are kept below the properties as plain tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.core.errors import BuilderError, LockError, TemplateError
from builder.deps.lock import parse_lock
from builder.project import config
from builder.sam import template as sam
from tests.helpers import FIXTURES, SAM_APP

# CI runs the same 400 examples of each property every time (derandomize), so a run never fails on
# luck; BUILDER_FUZZ=random searches new ones (keep what it finds as a test below).
RANDOM = os.environ.get("BUILDER_FUZZ") == "random"
FUZZ = settings(max_examples=400, deadline=None, database=None,  # nothing written outside tmp
                derandomize=not RANDOM, suppress_health_check=[HealthCheck.function_scoped_fixture])
MINI_TOML = (FIXTURES / "mini" / "builder.toml").read_text(encoding="utf-8")
SAM_TEMPLATE = (SAM_APP / "template.yaml").read_text(encoding="utf-8")

# ---- values as TOML writes them ---------------------------------------------------------------

_scalars = st.one_of(
    st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'),
    st.integers(-5, 10**12).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", '"3.11"', '"3.99"', '"abc"', '"functions/hello/app.handler"', '"../x"',
                     '"*.txt"', '"one"', '"manylinux2014_x86_64"', '"app.handler"', '""', "{a = 1}", "[]"]),
)  # fmt: skip
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"),
                       max_leaves=6)  # fmt: skip
_keys = st.sampled_from([
    "name", "python-version", "base-image", "lock-file", "source-roots", "platforms", "templates", "keep", "images",
    "handler", "include", "exclude-modules", "event", "tolerance", "max-function-bytes", "defaults", "patterns",
    "bogus", "Name",
])  # fmt: skip
_tables = st.sampled_from(["", "[functions.hello]", "[functions.report]", "[functions.new-one]", "[functions.Bad_Name]",
                           "[strip]", "[strip.per-dist]", "[check]", "[functions]", "[tool.builder]"])  # fmt: skip


@st.composite
def builder_tomls(draw) -> str:
    """A builder.toml made of known and unknown tables, keys and values of any type."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        table = draw(_tables)
        if table:
            lines.append(table)
        for _ in range(draw(st.integers(0, 4))):
            lines.append(f"{draw(_keys)} = {draw(_values)}")
    return "\n".join(lines) + "\n"


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` with a few characters or lines deleted, repeated or replaced."""
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        where = draw(st.integers(0, len(text) - 1))
        kind = draw(st.sampled_from(["delete", "insert", "line", "repeat"]))
        if kind == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 20)):]
        elif kind == "insert":
            text = text[:where] + draw(st.sampled_from(['"', "[", "]", "=", "\n", ":", " ", "-", "{", "!Ref ", "\t",
                                                        "'", "#", "\\", "\x00", "é"])) + text[where:]  # fmt: skip
        elif kind == "line":
            lines = text.splitlines(keepends=True)
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "".join(lines)
        else:
            end = min(len(text), where + draw(st.integers(1, 40)))
            text = text[:end] + text[where:end] + text[end:]
    return text


def _mini(tmp_path: Path, toml: str) -> Path:
    root = tmp_path / "mini"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(FIXTURES / "mini", root)
    (root / "builder.toml").write_text(toml, encoding="utf-8")
    return root


def loads_or_says_why(root: Path) -> None:
    try:
        config.load(root)
    except BuilderError as exc:
        assert str(exc) and exc.exit_code != 1, exc  # a message and a code of its own


# ---- the properties ---------------------------------------------------------------------------


@FUZZ
@given(toml=builder_tomls())
def test_any_builder_toml_loads_or_says_what_is_wrong(tmp_path, toml):
    loads_or_says_why(_mini(tmp_path, toml))


@FUZZ
@given(toml=mutated(MINI_TOML))
def test_a_damaged_builder_toml_loads_or_says_what_is_wrong(tmp_path, toml):
    loads_or_says_why(_mini(tmp_path, toml))


_lock_lines = st.lists(st.one_of(
    st.sampled_from(["six==1.16.0", "numpy==2.2.6 ; python_version >= \"3.11\"", "requests[socks]==2.32.3", "a==1",
                     "  --hash=sha256:" + "0" * 64, "-r other.txt", "-r lock.txt", "--index-url https://x", "-e .",
                     "# via x", "\\", "pandas>=2", "x @ https://h/x.whl", "==1.0", "name==", "-c c.txt", "--bogus",
                     "foo==1.0 ; python_version <", "foo===weird", "Foo_Bar==1.0.post1", ""]),
    st.text(max_size=30),
), max_size=12)  # fmt: skip


@FUZZ
@given(lines=_lock_lines, joiner=st.sampled_from(["\n", " \\\n", "\r\n"]))
def test_any_lock_file_parses_or_says_which_line(tmp_path, lines, joiner):
    lock = tmp_path / "lock.txt"
    lock.write_text(joiner.join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    (tmp_path / "other.txt").write_text("six==1.16.0\n")
    try:
        parse_lock(lock)
    except BuilderError as exc:
        assert str(exc) and exc.exit_code == 5


@FUZZ
@given(text=mutated(SAM_TEMPLATE))
def test_a_damaged_sam_template_parses_or_says_what_is_wrong(text):
    try:
        sam.parse_template(text, "template.yaml")
    except BuilderError as exc:
        assert str(exc) and exc.exit_code != 1


@settings(max_examples=150, deadline=None, database=None, derandomize=not RANDOM,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated(SAM_TEMPLATE))
def test_a_damaged_sam_project_loads_or_says_what_is_wrong(tmp_path, text):
    root = tmp_path / "sam-app"
    if not root.exists():
        shutil.copytree(SAM_APP, root, ignore=shutil.ignore_patterns(".builder", "__pycache__", ".aws-sam"))
    (root / "template.yaml").write_text(text, encoding="utf-8")
    loads_or_says_why(root)


# ---- examples the properties found, kept ------------------------------------------------------


def test_a_tag_on_a_mapping_key_is_a_template_error_with_its_place():
    """Found by the template property: ``!Ref `` typed before a key made it a mapping (TypeError)."""
    with pytest.raises(TemplateError, match=r"^template.yaml:1:1: a key must be a plain value, not \{'Ref': 'A'\}"):
        sam.parse_template('!Ref A: 1\nResources: {}\n', "template.yaml")


def test_a_nul_byte_in_an_included_lock_name_is_a_lock_error(tmp_path):
    """Found by the lock property in CI: ``-r other.txt \\`` then a NUL made the path unusable (ValueError)."""
    lock = tmp_path / "lock.txt"
    lock.write_text("-r other.txt \\\n\x00\n", encoding="utf-8")
    with pytest.raises(LockError, match=r"lock.txt:1: -r .* is not a file name"):
        parse_lock(lock)
