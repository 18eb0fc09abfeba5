"""Turning policy text into checked, compiled parts, or into every issue.

The parser walks the ``yaml.compose`` node tree (see ``reader``) section by
section, records every problem it finds with its line and key, and only
compiles what it could fully check. ``parse_document`` either returns a
``Parts`` bundle or raises ``PolicyInvalid`` with all issues, sorted by line.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from .checks import check_name, is_null, node_id_ok
from .errors import PolicyInvalid
from .groups import GroupSpec, GroupTable, resolve_groups
from .inbound import InboundEntry
from .reader import NULL_TAG, Reader, join, line_of
from .rule_parser import parse_inbound, parse_rules
from .rules import Rule
from .view_parser import ViewDef, parse_views

SUPPORTED_VERSION = 1
TOP_KEYS = ("version", "description", "groups", "views", "rules", "inbound")
GROUP_KEYS = ("description", "members", "include")


@dataclass(frozen=True)
class Parts:
    description: str | None
    groups: GroupTable
    views: dict[str, ViewDef | None]
    rules: list[Rule]
    inbound: list[InboundEntry]


def parse_document(text: str, filename: str) -> Parts:
    reader = Reader(filename)
    parts = _parse(reader, text)
    if reader.issues or parts is None:
        raise PolicyInvalid(sorted(reader.issues, key=lambda issue: issue.line))
    return parts


def _parse(r: Reader, text: str) -> Parts | None:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "cannot be read"
        r.report(line, "(yaml)", f"malformed YAML: {problem}")
        return None
    except yaml.YAMLError as exc:
        r.report(1, "(yaml)", f"malformed YAML: {exc}")
        return None
    if root is None or (isinstance(root, ScalarNode) and root.tag == NULL_TAG):
        r.report(1, "(top)", f"empty policy; it needs at least 'version: {SUPPORTED_VERSION}'")
        return None
    top = r.mapping(root, "", TOP_KEYS, required=("version",))
    if top is None:
        return None

    if "version" in top:
        version = r.integer(top["version"][1], "version")
        if version is not None and version != SUPPORTED_VERSION:
            r.report(
                top["version"][1], "version",
                f"unsupported policy version {version}; this engine reads version {SUPPORTED_VERSION}",
            )
    description = r.text(top["description"][1], "description") if "description" in top else None

    specs = _groups(r, top["groups"][1]) if "groups" in top else {}
    table = resolve_groups(specs, r.report)
    views = parse_views(r, top["views"][1]) if "views" in top else {}
    rules = parse_rules(r, top["rules"][1], table, views) if "rules" in top else []
    inbound = parse_inbound(r, top["inbound"][1], table) if "inbound" in top else []
    return Parts(description, table, views, rules, inbound)


# --- groups --------------------------------------------------------------


def _member_list(r: Reader, node: Node, path: str) -> tuple[str, ...] | None:
    items = r.texts(node, path)
    if items is None:
        return None
    out: list[str] = []
    first_line: dict[str, int] = {}
    for value, item in items:
        if not node_id_ok(r, value, item, path):
            continue
        if value in first_line:
            r.report(item, path, f"{value} is listed twice (first at line {first_line[value]})")
            continue
        first_line[value] = line_of(item)
        out.append(value)
    return tuple(out)


def _groups(r: Reader, node: Node) -> dict[str, GroupSpec]:
    entries = r.mapping(node, "groups") if not is_null(node) else {}
    specs: dict[str, GroupSpec] = {}
    for name, (key_node, value) in (entries or {}).items():
        path = join("groups", name)
        check_name(r, key_node, name, path, "group")
        members: tuple[str, ...] = ()
        includes: list[tuple[str, int]] = []
        if isinstance(value, MappingNode):
            body = r.mapping(value, path, GROUP_KEYS) or {}
            if "description" in body:
                r.text(body["description"][1], join(path, "description"))
            if "members" in body:
                members = _member_list(r, body["members"][1], join(path, "members")) or ()
            if "include" in body:
                for included, item in r.texts(body["include"][1], join(path, "include")) or []:
                    includes.append((included, line_of(item)))
        else:
            members = _member_list(r, value, path) or ()
        specs[name] = GroupSpec(name, line_of(key_node), members, tuple(includes))
    return specs
