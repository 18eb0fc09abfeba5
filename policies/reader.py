"""Reading a composed YAML node tree while collecting located issues.

The parser works on ``yaml.compose`` output rather than on loaded Python
values, because only the node tree still knows line numbers and still shows
duplicate mapping keys (PyYAML's loader silently keeps the last one).
Scalars are read from their source text, so ``NO`` (Norway) stays ``"NO"``
instead of turning into ``False``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Issue

_TAG = "tag:yaml.org,2002:"
STR_TAG = _TAG + "str"
BOOL_TAG = _TAG + "bool"
INT_TAG = _TAG + "int"
FLOAT_TAG = _TAG + "float"
NULL_TAG = _TAG + "null"
MERGE_TAG = _TAG + "merge"


def line_of(node: Node) -> int:
    """1-based line where ``node`` starts."""
    return node.start_mark.line + 1


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def describe(node: Node) -> str:
    """A short phrase naming what a node holds, for type errors."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag
    if tag == NULL_TAG:
        return "nothing (null)"
    if tag == INT_TAG:
        return f"the integer {node.value}"
    if tag == FLOAT_TAG:
        return f"the number {node.value}"
    if tag == BOOL_TAG:
        return f"the boolean {node.value}"
    if tag == STR_TAG:
        return f"the string {node.value!r}"
    short = tag.removeprefix(_TAG)
    return f"a value tagged {short!r} ({node.value!r})"


def suggestion(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a close choice exists, else ''."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def listing(choices: Iterable[str]) -> str:
    return ", ".join(sorted(choices))


class Reader:
    """Typed accessors over YAML nodes; every problem becomes an ``Issue``."""

    def __init__(self, filename: str):
        self.file = filename
        self.issues: list[Issue] = []

    def report(self, where: Node | int, key: str, message: str) -> None:
        line = where if isinstance(where, int) else line_of(where)
        self.issues.append(Issue(self.file, line, key or "(top)", message))

    def mapping(
        self,
        node: Node,
        path: str,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, tuple[Node, Node]] | None:
        """Keys of a mapping node -> (key node, value node).

        Reports a non-mapping, duplicate keys, keys outside ``allowed`` (when
        given) and missing ``required`` keys. Returns None if not a mapping.
        """
        if not isinstance(node, MappingNode):
            self.report(node, path, f"expected a mapping, got {describe(node)}")
            return None
        allowed_set = None if allowed is None else frozenset(allowed)
        seen: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                self.report(
                    key_node, join(path, "<<"),
                    "YAML merge keys are not supported; write the keys out",
                )
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag == NULL_TAG:
                self.report(key_node, path, f"keys must be plain words, got {describe(key_node)}")
                continue
            name = key_node.value
            key_path = join(path, name)
            if name in seen:
                first = line_of(seen[name][0])
                self.report(
                    key_node, key_path,
                    f"duplicate key (first defined at line {first}); "
                    "YAML would silently keep only the last one",
                )
                continue
            if allowed_set is not None and name not in allowed_set:
                self.report(
                    key_node, key_path,
                    f"unknown key{suggestion(name, allowed_set)}; "
                    f"allowed here: {listing(allowed_set)}",
                )
                continue
            seen[name] = (key_node, value_node)
        for name in required:
            if name not in seen:
                self.report(node, join(path, name), "missing required key")
        return seen

    def entry_path(self, node: Node, fallback: str, section: str) -> str:
        """``section.<name>`` for a list entry with a usable ``name``, else ``fallback``.

        Lets issues about an entry's keys name the entry even before the
        entry has been checked.
        """
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if (
                    isinstance(key_node, ScalarNode)
                    and key_node.value == "name"
                    and isinstance(value_node, ScalarNode)
                    and value_node.tag in (STR_TAG, BOOL_TAG)
                    and value_node.value
                ):
                    return f"{section}.{value_node.value}"
        return fallback

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, path, f"expected a list, got {describe(node)}")
            return None
        return list(node.value)

    def text(self, node: Node, path: str) -> str | None:
        """A plain string. Booleans are read as their source text."""
        if isinstance(node, ScalarNode) and node.tag in (STR_TAG, BOOL_TAG):
            if node.value == "":
                self.report(node, path, "expected a non-empty string")
                return None
            return node.value
        self.report(node, path, f"expected a string, got {describe(node)}")
        return None

    def texts(self, node: Node, path: str) -> list[tuple[str, Node]] | None:
        """One string or a list of strings, each with its node.

        Returns None on a type error; an empty list is returned as [] and
        left to the caller to judge.
        """
        if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
            value = self.text(node, path)
            return None if value is None else [(value, node)]
        if not isinstance(node, SequenceNode):
            self.report(node, path, f"expected a string or a list of strings, got {describe(node)}")
            return None
        out: list[tuple[str, Node]] = []
        for item in node.value:
            value = self.text(item, path)
            if value is not None:
                out.append((value, item))
        return out

    def integer(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode) and node.tag == INT_TAG:
            return SafeConstructor().construct_yaml_int(node)
        self.report(node, path, f"expected an integer, got {describe(node)}")
        return None
