"""Peer groups: named sets of node ids that may include other groups.

A group is written either as a list of node ids or as a mapping with
``members`` (node ids) and ``include`` (other group names). Resolution
flattens includes, reports unknown groups and include cycles, and builds
the reverse index peer -> groups used by the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .reader import listing, suggestion

Report = Callable[[int, str, str], None]


@dataclass(frozen=True)
class GroupSpec:
    """A group as written: its own members and the groups it includes."""

    name: str
    line: int
    members: tuple[str, ...] = ()
    includes: tuple[tuple[str, int], ...] = ()  # (group name, line of the mention)


@dataclass(frozen=True)
class GroupTable:
    """Resolved groups: every group's full member set and each peer's groups."""

    members: dict[str, frozenset[str]] = field(default_factory=dict)
    memberships: dict[str, frozenset[str]] = field(default_factory=dict)

    def peers_in(self, name: str) -> frozenset[str]:
        return self.members[name]

    def groups_of(self, peer: str) -> frozenset[str]:
        return self.memberships.get(peer, frozenset())


def resolve_groups(specs: dict[str, GroupSpec], report: Report) -> GroupTable:
    """Flatten includes. ``report(line, key, message)`` gets each problem."""
    resolved: dict[str, frozenset[str]] = {}
    state: dict[str, str] = {}  # name -> "open" while on the stack, "done" after

    def visit(name: str, stack: list[str]) -> frozenset[str]:
        if state.get(name) == "done":
            return resolved[name]
        state[name] = "open"
        stack.append(name)
        spec = specs[name]
        found = set(spec.members)
        for included, line in spec.includes:
            key = f"groups.{name}.include"
            if included not in specs:
                known = listing(specs) or "none defined"
                report(
                    line, key,
                    f"unknown group {included!r}{suggestion(included, specs)}; known groups: {known}",
                )
                continue
            if state.get(included) == "open":
                cycle = stack[stack.index(included):] + [included]
                report(line, key, "group include cycle: " + " -> ".join(cycle))
                continue
            found |= visit(included, stack)
        stack.pop()
        state[name] = "done"
        resolved[name] = frozenset(found)
        return resolved[name]

    for name in specs:
        visit(name, [])

    memberships: dict[str, set[str]] = {}
    for name, peers in resolved.items():
        for peer in peers:
            memberships.setdefault(peer, set()).add(name)
    return GroupTable(
        members=resolved,
        memberships={peer: frozenset(names) for peer, names in memberships.items()},
    )
