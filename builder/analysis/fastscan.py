"""A fast import scanner that gives the same ``FileImports`` as ``imports.scan_full`` on valid code.

``ast.parse`` of a whole 150-line file costs about 1.3 ms, which is 6.5 s for a
5,000-module backend. Most lines of a module cannot import, so this scanner
first runs a lexer (one regular expression, in C) that skips strings and
comments and finds the words that can start an import (``import``,
``import_module``, ``__import__``, ``__all__``...). For each hit it takes the
whole top-level statement around it (from the column-0 line before it to the
next one, with its ``else``/``except``/``finally`` clauses). A plain one-line
module-level ``import``/``from`` is read directly; the other statements are
parsed with ``ast`` on a skeleton that keeps their line numbers, and walked
with the same walker as the full scan, so try/except, ``TYPE_CHECKING`` and
imports inside functions are handled identically.

Any doubt falls back to the full parse: an odd number of triple quotes (an
unterminated string), or a skeleton that does not parse (a real syntax error, or
a statement cut in a bracket). The price of the speed: a syntax error in a
statement that imports nothing is not seen here (the function would fail at
import, which the image tests catch). ``ParseCache(strict=True)`` parses every
file in full.
"""

from __future__ import annotations

import ast
import bisect
import keyword
import re

from .imports import FileImports, ImportRecord, scan_full, walk_module

# Two regexes, each fast because its first characters let ``re`` skip ahead: the words that can
# start an import (plain literals: word boundaries are checked in Python, ``\b`` costs 3x), and
# strings and comments, lexed lazily only as far as the words need.
_WORD = re.compile(r"import|__all__|run_(?:module|path)|spec_from_file_location|load_source|SourceFileLoader")
_STRING_OR_COMMENT = re.compile(
    r'"""(?:[^"\\]+|\\.|"(?!""))*"""' r"|'''(?:[^'\\]+|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]+|\\.)*"' r"|'(?:[^'\\\n]+|\\.)*'" r"|#[^\n]*",
    re.DOTALL,
)
_WORD_CHARS = re.compile(r"\w*")
_WORDS = {"import", "__import__", "import_module", "run_module", "__all__", "spec_from_file_location",
          "load_source", "run_path", "SourceFileLoader", "entry_points", "iter_entry_points",
          "load_entry_point"}  # fmt: skip
_DYNAMIC_WORDS = _WORDS - {"import", "__all__"}
_CODE_START = re.compile(r"^[^\s#]", re.MULTILINE)
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")
_KEYWORDS = frozenset(keyword.kwlist)
_IMPORT_LINE = re.compile(r"import[ \t]+([^#;\\()]+?)[ \t]*(?:#.*)?$")
_FROM_LINE = re.compile(r"from[ \t]+(\.*)[ \t]*([A-Za-z_][\w.]*)?[ \t]+import[ \t]+([^#;\\()]+?)[ \t]*(?:#.*)?$")
_ALIAS = re.compile(r"[ \t]*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?[ \t]*$")
_BLANK_OR_COMMENTS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*(?:#[^\n]*)?")


def _names(text: str) -> list[str] | None:
    """``a.b as c, d`` -> ["a.b", "d"]; None if it is not that simple (ast decides)."""
    out = []
    for part in text.split(","):
        m = _ALIAS.match(part)
        if m is None or any(p in _KEYWORDS for p in m.group(1).split(".")) or m.group(2) in _KEYWORDS:
            return None
        out.append(m.group(1))
    return out


def _simple_line(text: str, line: int) -> list[ImportRecord] | None:
    """A one-line module-level import read without ast; None when ast must decide."""
    words = text.split()
    if len(words) == 2 and words[0] == "import" and words[1].isidentifier() and words[1] not in _KEYWORDS:
        return [ImportRecord(line, 0, words[1], None)]  # the common case, quickly
    if words[0] == "import":
        m = _IMPORT_LINE.match(text)
        names = _names(m.group(1)) if m else None
        return None if names is None else [ImportRecord(line, 0, name, None) for name in names]
    m = _FROM_LINE.match(text)
    if m is None:
        return None
    dots, module, rest = m.groups()
    if (module and any(p in _KEYWORDS for p in module.split("."))) or not (module or dots):
        return None
    names = ["*"] if rest.strip() == "*" else _names(rest)
    if names is None or any("." in n for n in names):
        return None
    return [ImportRecord(line, len(dots), module or "", tuple(names))]


class _Lexer:
    """Strings and comments of a source, lexed on demand up to a position."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.matches = _STRING_OR_COMMENT.finditer(source)
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.done = 0  # everything before this offset is lexed

    def _until(self, pos: int) -> None:
        for m in self.matches:
            start, end = m.span()
            self.starts.append(start)
            self.ends.append(end)
            self.done = end
            if end > pos:
                return
        self.done = len(self.source) + 1

    def inside(self, pos: int) -> bool:
        """Whether ``pos`` lies inside a string or a comment (after its first character)."""
        if pos >= self.done:
            self._until(pos)
        k = bisect.bisect_right(self.ends, pos)
        return k < len(self.starts) and self.starts[k] < pos

    def code_start(self, pos: int) -> bool:
        """Whether the line starting at ``pos`` starts a top-level statement or clause."""
        char = self.source[pos : pos + 1]
        if not char or char in " \t\n#\x0c":
            return False
        return not self.inside(pos) and self.source[pos - 2 : pos] != "\\\n"  # no continuation


def _statements(source: str, lexer: _Lexer, hits: list[int]) -> list[list[int]]:
    """[start, end) of the whole top-level statements around ``hits``, merged, in order."""
    spans: list[list[int]] = []
    for pos in hits:
        if spans and pos < spans[-1][1]:
            continue
        start = source.rfind("\n", 0, pos) + 1
        while start and not (lexer.code_start(start) and not _CLAUSE.match(source, start)):
            start = source.rfind("\n", 0, start - 1) + 1
        end = pos
        while True:
            newline = source.find("\n", end)
            m = _CODE_START.search(source, newline + 1) if newline >= 0 else None
            if m is None:
                end = len(source)
                break
            end = m.start()
            if lexer.code_start(end) and not _CLAUSE.match(source, end):
                break
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(end, spans[-1][1])
        else:
            spans.append([start, end])
    return spans


def scan_fast(source: str, path: str) -> FileImports:
    """The imports of ``source``, parsing only the top-level statements that can import."""
    if source.count('"""') % 2 or source.count("'''") % 2:
        return scan_full(source, path)  # likely an unterminated string (or quotes in quotes): ast decides
    lexer = _Lexer(source)
    hits: list[int] = []
    dynamic = False
    for m in _WORD.finditer(source):
        start, end = m.span()
        while start and (source[start - 1].isalnum() or source[start - 1] == "_"):
            start -= 1
        rest = _WORD_CHARS.match(source, end)
        assert rest is not None  # \w* matches anywhere, if only the empty string
        word = source[start : rest.end()]
        if word in _WORDS and not lexer.inside(start):
            hits.append(start)
            dynamic = dynamic or word in _DYNAMIC_WORDS
    if not hits:
        return FileImports(())

    direct: list[ImportRecord] = []
    skeleton: list[str] = []
    line, counted, emitted = 1, 0, 0  # the line at offset ``counted``; lines written to the skeleton
    for start, end in _statements(source, lexer, hits):
        line += source.count("\n", counted, start)
        counted = start
        newline = source.find("\n", start, end)
        first = source[start:newline] if newline >= 0 else source[start:end]
        # a file that loads modules dynamically goes through ast whole: aliases such as
        # ``from importlib import import_module as load`` must be seen by the walker
        if not dynamic and first.startswith(("import", "from")) and (newline < 0 or _blank(source, newline + 1, end)):
            simple = _simple_line(first, line)
            if simple is not None:
                direct.extend(simple)
                continue
        chunk = source[start:end]
        if not chunk.endswith("\n"):
            chunk += "\n"
        skeleton.append("\n" * (line - 1 - emitted))
        skeleton.append(chunk)
        emitted = line - 1 + chunk.count("\n")
    if not skeleton:
        return FileImports(tuple(direct))
    try:
        tree = ast.parse("".join(skeleton), filename=path)
    except SyntaxError:
        return scan_full(source, path)  # the statement itself is wrong, or the slicing was: ast decides
    walked = walk_module(tree, dynamic)
    if not direct:
        return walked
    imports = tuple(sorted(direct + list(walked.imports), key=lambda r: r.line))
    return FileImports(imports, walked.warnings, walked.all_names)


def _blank(source: str, start: int, end: int) -> bool:
    """Whether ``source[start:end]`` holds only blank lines and comments."""
    m = _BLANK_OR_COMMENTS.match(source, start, end)
    return m is not None and m.end() == end
