"""YAML reading for SAM templates: CloudFormation short-form tags and whole-line spans.

``compose`` parses a template with CloudFormation's short-form tags (``!Ref``,
``!Sub``, ...) turned into their long form; :class:`Source` turns PyYAML's node
marks into spans of whole lines (:class:`Block`, :class:`Entry`), which is what
the rewrites in ``sam_edit`` edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml

from ..core.errors import TemplateError

# --------------------------------------------------------------------------- reading


if TYPE_CHECKING:  # mypy cannot follow a base class chosen at run time; the C loader has the same API
    _BaseLoader: TypeAlias = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: 10x faster


class _Loader(_BaseLoader):
    """SafeLoader that reads CloudFormation short-form tags and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a plain value, not {key!r}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _intrinsic(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # the composer makes no other kind of node
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def compose(text: str, path: str) -> tuple[yaml.MappingNode, dict[str, Any]]:
    """Parse ``text`` into its node tree and its data; YAML errors name ``path:line``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise TemplateError(
            f"{where}: {exc.problem or exc.context}. Fix the YAML there and run again."
        ) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML ({exc}).") from exc
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a YAML mapping at the top.")
    return node, data


# --------------------------------------------------------------------------- spans


@dataclass(frozen=True)
class Entry:
    """One ``key: value`` of a block mapping as whole lines (0-based, ``stop`` exclusive).

    ``start`` includes the comment and blank lines above the key (they describe
    it); ``line`` is the key's own line; ``stop`` follows its last line of content.
    """

    key: str
    value: yaml.Node = field(repr=False, compare=False)
    line: int
    start: int
    stop: int


@dataclass(frozen=True)
class Block:
    """A block mapping: its entries, where its body starts and its key column."""

    entries: tuple[Entry, ...]
    body: int
    column: int

    def get(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)


def split_lines(text: str) -> list[str]:
    """``text`` cut after each "\\n" only (str.splitlines also cuts at form feeds and more)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


class Source:
    """The lines of a template's text, with the spans of its block mappings."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = split_lines(text)
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._last: dict[int, int] = {}  # by id(node); the caller keeps the nodes alive

    def last_line(self, node: yaml.Node) -> int:
        """The last line holding content of ``node`` (trailing comments excluded)."""
        if id(node) not in self._last:
            self._last[id(node)] = self._find_last_line(node)
        return self._last[id(node)]

    def _find_last_line(self, node: yaml.Node) -> int:
        start, end = node.start_mark, node.end_mark
        if isinstance(node, yaml.ScalarNode):
            if node.style not in ("|", ">"):
                return end.line if end.column or end.line == start.line else end.line - 1
            last = end.line - 1 if end.column == 0 else end.line
            header = self.lines[start.line][start.column :].split("#")[0]
            while "+" not in header and last > start.line and not self.lines[last].strip():
                last -= 1  # blank lines after a clipped block scalar are not its content
            return last
        if getattr(node, "flow_style", False):
            return end.line
        children: Iterable[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            children = (n for pair in node.value for n in pair)
        else:
            children = node.value
        return max((self.last_line(c) for c in children), default=start.line)

    def block(self, node: yaml.Node, body: int, where: str) -> Block:
        """The block mapping ``node`` whose first entry may start at line ``body``."""
        if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
            raise TemplateError(
                f"{where} (line {node.start_mark.line + 1}) is not a block mapping; "
                "builder edits only block-style YAML there. Rewrite it in block style."
            )
        entries = []
        start = body
        for key_node, value in node.value:
            stop = max(self.last_line(key_node), self.last_line(value)) + 1
            entries.append(Entry(str(key_node.value), value, key_node.start_mark.line, start, stop))
            start = stop
        return Block(tuple(entries), body, node.value[0][0].start_mark.column)

    def text_of(self, entry: Entry, *, leading: bool = False) -> str:
        """The entry's lines, with or without its leading comments."""
        return "".join(self.lines[entry.start if leading else entry.line : entry.stop])

    def value_source(self, node: yaml.Node) -> str:
        return self.text[node.start_mark.index : node.end_mark.index]
