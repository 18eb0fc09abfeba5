"""Checks on single values shared by every policy section.

Node ids, country codes, closed-vocabulary choices, names, and the peer
selector (``peers`` / ``peer_group``) used by rules and inbound entries.
Each check reports through the ``Reader`` and returns whether it passed.
"""

from __future__ import annotations

from yaml.nodes import Node, ScalarNode

from .groups import GroupTable
from .reader import NULL_TAG, Reader, join, listing, suggestion
from .node_ids import country_problem, is_node_id, node_id_problem
from .vocabulary import COUNTRY_CODES, NAME_PATTERN

NEVER_MATCHES = "an empty list never matches; remove the key to match any value"


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def node_id_ok(r: Reader, value: str, node: Node, path: str) -> bool:
    if value != value.upper() and is_node_id(value.upper()):
        r.report(node, path, f"node ids are upper case: write {value.upper()!r}, not {value!r}")
        return False
    problem = node_id_problem(value)
    if problem:
        r.report(node, path, problem)
        return False
    return True


def choices(
    r: Reader, node: Node, path: str, allowed: tuple[str, ...] | frozenset[str], what: str
) -> list[tuple[str, Node]] | None:
    """A string or list of strings, each one of ``allowed``; [] is reported."""
    items = r.texts(node, path)
    if items is None:
        return None
    if not items:
        r.report(node, path, NEVER_MATCHES)
        return None
    good = []
    for value, item in items:
        if value in allowed:
            good.append((value, item))
        else:
            r.report(
                item, path,
                f"unknown {what} {value!r}{suggestion(value, allowed)}; one of: {listing(allowed)}",
            )
    return good if len(good) == len(items) else None


def countries(r: Reader, node: Node, path: str) -> frozenset[str] | None:
    """A country code or a list of them; [] and unknown codes are reported."""
    items = r.texts(node, path)
    if items is None:
        return None
    if not items:
        r.report(node, path, NEVER_MATCHES)
        return None
    good = set()
    for value, item in items:
        if value in COUNTRY_CODES:
            good.add(value)
        else:
            r.report(item, path, country_problem(value))
    return frozenset(good) if len(good) == len({value for value, _ in items}) else None


def check_name(r: Reader, node: Node, name: str, path: str, what: str) -> bool:
    if NAME_PATTERN.match(name):
        return True
    r.report(
        node, path,
        f"{what} names are lower-case words (a-z, 0-9, '-', '_', '.'), up to 64 characters",
    )
    return False


def peer_selector(
    r: Reader, body: dict[str, tuple[Node, Node]], path: str, table: GroupTable, owner: str
) -> tuple[bool, frozenset[str] | None, tuple[str, ...] | None, frozenset[str] | None]:
    """(ok, peers, groups, resolved union or None for any peer)."""
    if "peers" not in body and "peer_group" not in body:
        return True, None, None, None
    ok = True
    peers: frozenset[str] | None = None
    groups: tuple[str, ...] | None = None
    union: set[str] = set()
    if "peers" in body:
        key = join(path, "peers")
        node = body["peers"][1]
        items = r.texts(node, key)
        if items is not None and not items:
            r.report(node, key, NEVER_MATCHES)
        found = [value for value, item in items or [] if node_id_ok(r, value, item, key)]
        if items is None or not items or len(found) != len(items):
            ok = False
        peers = frozenset(found)
        union |= peers
    if "peer_group" in body:
        key = join(path, "peer_group")
        node = body["peer_group"][1]
        items = r.texts(node, key)
        if items is not None and not items:
            r.report(node, key, NEVER_MATCHES)
            ok = False
        names = []
        for value, item in items or []:
            if value in table.members:
                names.append(value)
                union |= table.members[value]
            else:
                known = listing(table.members) or "none defined"
                r.report(
                    item, key,
                    f"unknown group {value!r}{suggestion(value, table.members)}; known groups: {known}",
                )
                ok = False
        if items is None:
            ok = False
        groups = tuple(names)
    if ok and not union:
        # Only reachable with a valid peer_group and no peers: the groups are empty.
        shown = ", ".join(repr(name) for name in groups or ())
        r.report(
            body["peer_group"][1], join(path, "peer_group"),
            f"peer_group {shown} resolves to no peers, so this {owner} never matches",
        )
        ok = False
    return ok, peers, groups, frozenset(union)
