"""Reading the ``rules`` and ``inbound`` sections into compiled objects.

Besides type and vocabulary checks, this is where rules that can never
match are caught: an empty list, a status that does not exist for the
rule's record types, regimes on a licence rule, licence_type on a denial
rule, a peer_group without members.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from .checks import check_name, choices, countries, is_null, peer_selector
from .groups import GroupTable
from .inbound import InboundEntry
from .reader import Reader, describe, join, line_of, listing, suggestion
from .rules import ANSWER, DETAIL, HIT, SHARE, WITHHOLD, Rule
from .view_parser import ViewDef, parse_view
from .views import Projection
from .vocabulary import (
    ACTIONS,
    ALL_STATUSES,
    ANSWER_LEVELS,
    DENIAL,
    LICENCE,
    LICENCE_TYPES,
    RECORD_TYPES,
    REGIMES,
    SENSITIVITIES,
    STATUSES,
)

RULE_KEYS = ("name", "description", "match", "action", "answer", "view")
MATCH_KEYS = (
    "record_type",
    "regimes",
    "sensitivity",
    "status",
    "destination_country",
    "licence_type",
    "peer_group",
    "peers",
)
INBOUND_KEYS = ("name", "description", "peers", "peer_group", "record_types", "max_bytes")


def parse_rules(
    r: Reader, node: Node, table: GroupTable, views: dict[str, ViewDef | None]
) -> list[Rule]:
    items = r.sequence(node, "rules")
    rules: list[Rule] = []
    first: dict[str, int] = {}
    for position, item in enumerate(items or [], start=1):
        rule = _rule(r, item, position, len(rules), table, views, first)
        if rule is not None:
            rules.append(rule)
    return rules


def _rule(
    r: Reader,
    node: Node,
    position: int,
    index: int,
    table: GroupTable,
    views: dict[str, ViewDef | None],
    first: dict[str, int],
) -> Rule | None:
    before = len(r.issues)
    path = r.entry_path(node, f"rules[{position}]", "rules")
    body = r.mapping(node, path, RULE_KEYS, required=("name", "match", "action"))
    if body is None:
        return None

    name = None
    if "name" in body:
        name_node = body["name"][1]
        name = r.text(name_node, join(path, "name"))
        if name is not None:
            if check_name(r, name_node, name, join(path, "name"), "rule") and name in first:
                r.report(
                    name_node, join(path, "name"),
                    f"duplicate rule name (first used at line {first[name]})",
                )
            first.setdefault(name, line_of(name_node))
    if "description" in body:
        r.text(body["description"][1], join(path, "description"))

    action = None
    if "action" in body:
        action_node = body["action"][1]
        action = r.text(action_node, join(path, "action"))
        if action is not None and action not in ACTIONS:
            r.report(
                action_node, join(path, "action"),
                f"unknown action {action!r}{suggestion(action, ACTIONS)}; one of: {listing(ACTIONS)}",
            )
            action = None

    level = _answer_level(r, body, path, action)
    projections = _rule_view(r, body, path, action, level, views)
    match = _match(r, body["match"][1], join(path, "match"), table) if "match" in body else None

    if len(r.issues) != before or match is None or name is None or action is None:
        return None
    return Rule(
        index=index,
        name=name,
        line=line_of(node),
        action=action,
        answer_level=level,
        view_name=_view_name(body),
        projections=projections,
        **match,
    )


def _answer_level(
    r: Reader, body: dict[str, tuple[Node, Node]], path: str, action: str | None
) -> str | None:
    key = join(path, "answer")
    if "answer" not in body:
        return HIT if action == ANSWER else None
    node = body["answer"][1]
    level = r.text(node, key)
    if level is None:
        return None
    if level not in ANSWER_LEVELS:
        r.report(
            node, key,
            f"unknown answer level {level!r}{suggestion(level, ANSWER_LEVELS)}; "
            f"one of: {listing(ANSWER_LEVELS)}",
        )
        return None
    if action is not None and action != ANSWER:
        r.report(body["answer"][0], key, f"answer applies only to action answer, not {action}")
        return None
    return level


def _view_name(body: dict[str, tuple[Node, Node]]) -> str | None:
    if "view" in body and isinstance(body["view"][1], ScalarNode):
        return body["view"][1].value
    return None


def _rule_view(
    r: Reader,
    body: dict[str, tuple[Node, Node]],
    path: str,
    action: str | None,
    level: str | None,
    views: dict[str, ViewDef | None],
) -> dict[str, Projection] | None:
    """The rule's projections per record type, or None if it shows nothing."""
    key = join(path, "view")
    shows = action == SHARE or (action == ANSWER and level == DETAIL)
    if "view" not in body:
        if shows:
            what = "a share rule" if action == SHARE else "an answer: detail rule"
            r.report(
                body["action"][0], key,
                f"{what} needs a view: name one from views, or write it inline",
            )
        return None
    key_node, node = body["view"]
    if action == WITHHOLD:
        r.report(key_node, key, "a withhold rule shows nothing; remove its view")
        return None
    if action == ANSWER and level == HIT:
        r.report(
            key_node, key,
            "answer: hit reveals only hit/no-hit and the reference; the view would never be used "
            "(use answer: detail to reveal the view)",
        )
        return None
    if isinstance(node, MappingNode):
        return parse_view(r, node, key)
    if isinstance(node, ScalarNode) and not is_null(node):
        name = node.value
        if name not in views:
            known = listing(views) or "none defined"
            r.report(
                node, key, f"unknown view {name!r}{suggestion(name, views)}; known views: {known}"
            )
            return None
        view = views[name]
        return None if view is None else view.projections
    r.report(node, key, f"expected a view name or an inline view, got {describe(node)}")
    return None


def _match(r: Reader, node: Node, path: str, table: GroupTable) -> dict | None:
    before = len(r.issues)
    body = r.mapping(node, path, MATCH_KEYS)
    if body is None:
        return None

    def pick(key: str, allowed: tuple[str, ...], what: str) -> list[tuple[str, Node]] | None:
        if key not in body:
            return None
        return choices(r, body[key][1], join(path, key), allowed, what)

    record_types = pick("record_type", RECORD_TYPES, "record type")
    regimes = pick("regimes", REGIMES, "regime")
    sensitivity = pick("sensitivity", SENSITIVITIES, "sensitivity")
    status = pick("status", tuple(sorted(ALL_STATUSES)), "status")
    licence_types = pick("licence_type", LICENCE_TYPES, "licence type")
    destinations = (
        countries(r, body["destination_country"][1], join(path, "destination_country"))
        if "destination_country" in body
        else None
    )
    ok, peers, groups, peer_set = peer_selector(r, body, path, table, "rule")

    explicit = record_types is not None
    types = {value for value, _ in record_types} if explicit else set(RECORD_TYPES)
    if regimes is not None:
        if explicit and LICENCE in types:
            r.report(
                body["regimes"][0], join(path, "regimes"),
                "licences carry no regimes, so this rule can never match a licence; "
                "match record_type: denial",
            )
        types.discard(LICENCE)
    if licence_types is not None:
        if explicit and DENIAL in types:
            r.report(
                body["licence_type"][0], join(path, "licence_type"),
                "licence_type never matches a denial; match record_type: licence",
            )
        types.discard(DENIAL)
    if status is not None and types:
        types = _status_types(r, body, path, status, types, explicit)
    if not types and len(r.issues) == before:
        r.report(
            node, path,
            "no record type can satisfy this match (regimes apply only to denials, "
            "licence_type only to licences)",
        )
    if len(r.issues) != before or not ok:
        return None

    def values(found):
        return None if found is None else frozenset(value for value, _ in found)

    return dict(
        record_types=frozenset(types),
        peers=peers,
        peer_groups=groups,
        peer_set=peer_set,
        regimes=values(regimes),
        sensitivity=values(sensitivity),
        status=values(status),
        destinations=destinations,
        licence_types=values(licence_types),
    )


def _status_types(
    r: Reader,
    body: dict[str, tuple[Node, Node]],
    path: str,
    status: list[tuple[str, Node]],
    types: set[str],
    explicit: bool,
) -> set[str]:
    """Check statuses against the record types; narrow implicit types."""
    key = join(path, "status")
    for value, item in status:
        owners = [t for t in sorted(types) if value in STATUSES[t]]
        if not owners:
            kinds = " or ".join(sorted(types)) or "any"
            valid = listing(set().union(*(STATUSES[t] for t in types))) if types else ""
            r.report(
                item, key,
                f"status {value!r} does not exist for {kinds} records, so it never matches"
                + (f"; {kinds} statuses: {valid}" if valid else ""),
            )
    wanted = {value for value, _ in status}
    usable = {t for t in types if wanted & STATUSES[t]}
    if explicit:
        for missing in sorted(types - usable):
            if any(value in STATUSES[t] for value, _ in status for t in types):
                r.report(
                    body["status"][0], key,
                    f"none of these statuses exists for {missing} records, so the rule never "
                    f"matches a {missing}; {missing} statuses: {listing(STATUSES[missing])}",
                )
        return types
    return usable


def parse_inbound(r: Reader, node: Node, table: GroupTable) -> list[InboundEntry]:
    items = r.sequence(node, "inbound")
    entries: list[InboundEntry] = []
    first: dict[str, int] = {}
    for position, item in enumerate(items or [], start=1):
        path = r.entry_path(item, f"inbound[{position}]", "inbound")
        entry = _inbound_entry(r, item, path, table, first)
        if entry is not None:
            entries.append(entry)
    return entries


def _inbound_entry(
    r: Reader, node: Node, path: str, table: GroupTable, first: dict[str, int]
) -> InboundEntry | None:
    before = len(r.issues)
    body = r.mapping(node, path, INBOUND_KEYS, required=("name", "record_types", "max_bytes"))
    if body is None:
        return None
    name = None
    if "name" in body:
        name_node = body["name"][1]
        name = r.text(name_node, join(path, "name"))
        if name is not None:
            if check_name(r, name_node, name, join(path, "name"), "inbound entry") and name in first:
                r.report(
                    name_node, join(path, "name"),
                    f"duplicate inbound entry name (first used at line {first[name]})",
                )
            first.setdefault(name, line_of(name_node))
    if "description" in body:
        r.text(body["description"][1], join(path, "description"))
    record_types = None
    if "record_types" in body:
        record_types = choices(
            r, body["record_types"][1], join(path, "record_types"), RECORD_TYPES, "record type"
        )
    max_bytes = None
    if "max_bytes" in body:
        value_node = body["max_bytes"][1]
        max_bytes = r.integer(value_node, join(path, "max_bytes"))
        if max_bytes is not None and max_bytes <= 0:
            r.report(value_node, join(path, "max_bytes"), "max_bytes must be a positive number of bytes")
    ok, peers, groups, peer_set = peer_selector(r, body, path, table, "inbound entry")
    if len(r.issues) != before or not ok or name is None or record_types is None or max_bytes is None:
        return None
    return InboundEntry(
        name=name,
        line=line_of(node),
        record_types=frozenset(value for value, _ in record_types),
        max_bytes=max_bytes,
        peers=peers,
        peer_groups=groups,
        peer_set=peer_set,
    )
