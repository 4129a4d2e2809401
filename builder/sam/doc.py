"""Whole-line edits of a SAM template's text, shared by migrate, rollback and pin.

:class:`Doc` collects line edits over a parsed template and applies them;
the helpers keep removed text (``cut_runs``, ``snippet``) and put it back
(``put_back``, ``placed``). See ``sam_edit`` for what is kept where.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

import yaml

from ..core.errors import TemplateError
from .spans import Block, Entry, split_lines
from .template import Template, parse_template

IMAGE_KEYS = ("PackageType", "ImageUri", "ImageConfig")
ROLLBACK_KEY = "BuilderRollback"
STATE_KEY = "Builder"


# --------------------------------------------------------------------------- text helpers


def shift(text: str, delta: int) -> str:
    """Indent (or dedent) every non-empty line of ``text`` by ``delta`` spaces."""
    if delta == 0:
        return text
    out = []
    for line in split_lines(text):
        if not line.strip("\r\n"):
            out.append(line)
        elif delta > 0:
            out.append(" " * delta + line)
        else:
            out.append(line[min(-delta, len(line) - len(line.lstrip(" "))) :])
    return "".join(out)


# Kept text holds ``${AWS::Region}`` and the like from !Sub; outside a Sub, cfn-lint reports each
# (E1029), so it is kept as ``$!{...}`` (any "!" already there gets one more: undone exactly).
_ESCAPE = re.compile(r"\$(!*)\{")
_UNESCAPE = re.compile(r"\$!(!*)\{")


def snippet(column: int, **texts: str) -> dict[str, Any]:
    """Lines kept for later, dedented by ``column`` when that can be undone exactly.

    Else they are kept as they are, with ``Indent`` saying where their keys are. Text with
    ``${`` is kept escaped, with ``Escaped: true``.
    """
    lines = [line.rstrip("\n") for text in texts.values() for line in split_lines(text)]
    if all(not line or (line.startswith(" " * column) and line[column:]) for line in lines):
        kept: dict[str, Any] = {name: shift(text, -column) for name, text in texts.items()}
    else:
        kept = {**texts, "Indent": column}
    if any("${" in text for text in texts.values()):
        kept = {k: _ESCAPE.sub(lambda m: "$!" + m[1] + "{", v) if k in texts else v for k, v in kept.items()}
        kept["Escaped"] = True
    return kept


def kept_text(snippet: Mapping[str, Any], name: str = "Text") -> str:
    """A kept snippet's text as it was (escapes undone)."""
    text = snippet[name]
    return _UNESCAPE.sub(lambda m: "$" + m[1] + "{", text) if snippet.get("Escaped") else text


def placed(snippet: Mapping[str, Any], column: int, name: str = "Text") -> str:
    """A kept snippet's lines indented for a mapping whose keys are at ``column``."""
    return shift(kept_text(snippet, name), column - snippet.get("Indent", 0))


def scalar(value: str) -> str:
    """``value`` as a plain YAML scalar when that reads back the same, else double-quoted."""
    try:
        plain = value.strip() == value and yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain and value else json.dumps(value, ensure_ascii=False)


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, multi-line text as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(
    str,
    lambda dumper, s: dumper.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None
    ),
)


def emit(key: str, value: Any, column: int, step: int) -> str:
    """``key: value`` as block YAML at ``column``; checked to read back as ``value``."""
    text = yaml.dump(
        {key: value},
        Dumper=_Dumper,
        indent=max(step, 2),
        sort_keys=False,
        default_flow_style=False,
        width=1 << 20,
        allow_unicode=True,
    )
    if yaml.safe_load(text) != {key: value}:  # pragma: no cover - PyYAML's styles round-trip
        raise TemplateError(f"internal error: cannot write {key} so that it reads back the same.")
    return shift(text, column)


class Doc:
    """A template being edited: its parse, its lines, and the edits collected so far."""

    def __init__(self, text: str, path: str) -> None:
        if re.search(r"\r(?!\n)|[\x85\u2028\u2029]", text):
            raise TemplateError(
                f"{path} uses line breaks other than LF or CRLF; convert them to LF and run again."
            )
        self.template = parse_template(text, path)
        self.src = self.template.source
        self.edits: list[tuple[int, int, str]] = []
        self.resources = self.block(("Resources",))
        self.step = self.resources.column  # the template's indentation step

    @overload
    def block(self, path: tuple[str, ...], *, required: Literal[True] = ...) -> Block: ...
    @overload
    def block(self, path: tuple[str, ...], *, required: bool) -> Block | None: ...

    def block(self, path: tuple[str, ...], *, required: bool = True) -> Block | None:
        """The block mapping at ``path`` (keys from the top), or None when absent and not required."""
        block = self.src.block(self.template.root, 0, "the template")
        for depth, key in enumerate(path):
            entry = block.get(key)
            if entry is None:
                if required:
                    raise TemplateError(
                        f"{self.template.path}: {'.'.join(path[: depth + 1])} is missing."
                    )
                return None
            block = self.src.block(
                entry.value, entry.line + 1, f"{self.template.path}: {'.'.join(path[: depth + 1])}"
            )
        return block

    def text(self, text: str) -> str:
        """Stored text ("\\n" line ends) in this file's line ends."""
        return text.replace("\n", self.src.newline) if self.src.newline != "\n" else text

    def stored(self, entry: Entry, *, leading: bool = False) -> str:
        return self.src.text_of(entry, leading=leading).replace("\r\n", "\n")

    def replace(self, start: int, stop: int, text: str = "") -> None:
        self.edits.append((start, stop, self.text(text)))

    def remove_added(self, entry: Entry) -> None:
        """Delete an entry that builder added, with the blank lines it put above it."""
        start = entry.line
        while start > entry.start and not self.src.lines[start - 1].strip():
            start -= 1
        self.replace(start, entry.stop)

    def apply(self) -> str:
        lines = list(self.src.lines)
        order = sorted(range(len(self.edits)), key=lambda i: (*self.edits[i][:2], i), reverse=True)
        last_start = len(lines) + 1
        for i in order:
            start, stop, text = self.edits[i]
            if stop > last_start:  # pragma: no cover - the edits below never overlap
                raise TemplateError("internal error: overlapping template edits.")
            lines[start:stop] = [text] if text else []
            last_start = start
        return "".join(lines)

    def state(self) -> dict[str, Any]:
        meta = self.template.data.get("Metadata")
        state = meta.get(STATE_KEY) if isinstance(meta, dict) else None
        return copy.deepcopy(state) if isinstance(state, dict) else {}

    def write_state(self, state: dict[str, Any]) -> None:
        """Edit top-level ``Metadata.Builder`` to hold ``state`` (removed when empty)."""
        if state == self.state():
            return
        root = self.block(())
        meta = root.get("Metadata")
        block = self.block(("Metadata",)) if meta else None
        entry = block.get(STATE_KEY) if block else None
        if not state:
            if entry:
                assert block is not None and meta is not None  # the entry is one of Metadata's
                if len(block.entries) == 1:
                    self.remove_added(meta)
                else:
                    self.replace(entry.line, entry.stop)
            return
        state = {k: state[k] for k in ("Repository", "Globals", "Moved", "Receivers", "RemovedLayers") if k in state}
        if block:
            text = emit(STATE_KEY, state, block.column, self.step)
            if entry:
                self.replace(entry.line, entry.stop, text)
            else:
                self.replace(block.entries[-1].stop, block.entries[-1].stop, text)
        else:
            resources = root.get("Resources")
            assert resources is not None  # __init__ required it
            where = resources.start
            self.replace(
                where, where, "\nMetadata:\n" + emit(STATE_KEY, state, self.step, self.step)
            )


def cut_runs(doc: Doc, block: Block, removed: Iterable[Entry]) -> list[dict[str, Any]]:
    """Delete ``removed`` entries of ``block``; return them as runs that rollback puts back.

    A run is consecutive removed entries (with their comments) and the key they followed.
    """
    removed = set(removed)
    runs: list[tuple[str | None, str]] = []
    after, text = None, None
    for entry in block.entries:
        if entry not in removed:
            if text is not None:
                runs.append((after, text))
            after, text = entry.key, None
            continue
        text = (text or "") + doc.stored(entry, leading=True)
        doc.replace(entry.start, entry.stop)
    if text is not None:
        runs.append((after, text))
    # cfn-lint rejects null in Metadata, so a missing "After" means "first".
    return [
        {**({"After": after} if after else {}), **snippet(block.column, Text=text)}
        for after, text in runs
    ]


def put_back(doc: Doc, block: Block, runs: Iterable[Mapping[str, Any]], fallback: int) -> None:
    """Insert ``runs`` after the keys they followed (at ``fallback`` when that key is gone)."""
    for run in runs:
        anchor = block.get(run["After"]) if "After" in run else None
        if "After" not in run:
            where = block.body
        else:
            where = anchor.stop if anchor and anchor.key not in IMAGE_KEYS else fallback
        doc.replace(where, where, placed(run, block.column))


def finish(text: str, had_newline: bool) -> str:
    return (
        text
        if had_newline or not text.endswith("\n")
        else text[: -2 if text.endswith("\r\n") else -1]
    )


def open_doc(template: Template) -> tuple[Doc, bool]:
    """A Doc over the template's text, which gets a final newline while it is edited."""
    had = template.text.endswith("\n") or not template.text
    newline = "\r\n" if "\r\n" in template.text else "\n"
    return Doc(template.text if had else template.text + newline, template.path), had
