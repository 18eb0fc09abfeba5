"""Reading the ``views`` section and inline views into projections."""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import Node

from .checks import check_name, is_null
from .reader import Reader, join, line_of, listing, suggestion
from .views import Projection, compile_view
from .vocabulary import KEPT_FIELDS, LINE_KEY, PARTY_KEY, PARTY_ROLES, VIEW_PATHS

VIEW_KEYS = ("description", "allow", "redact", "redact_roles")


@dataclass(frozen=True)
class ViewDef:
    name: str
    line: int
    projections: dict[str, Projection]


def parse_views(r: Reader, node: Node) -> dict[str, ViewDef | None]:
    """Every view by name; None for a view whose problems were reported."""
    entries = r.mapping(node, "views") if not is_null(node) else {}
    views: dict[str, ViewDef | None] = {}
    for name, (key_node, value) in (entries or {}).items():
        path = join("views", name)
        check_name(r, key_node, name, path, "view")
        projections = parse_view(r, value, path)
        views[name] = (
            ViewDef(name, line_of(key_node), projections) if projections is not None else None
        )
    return views


def parse_view(r: Reader, node: Node, path: str) -> dict[str, Projection] | None:
    before = len(r.issues)
    body = r.mapping(node, path, VIEW_KEYS)
    if body is None:
        return None
    if "description" in body:
        r.text(body["description"][1], join(path, "description"))
    modes = [mode for mode in ("allow", "redact") if mode in body]
    if len(modes) == 2:
        r.report(body["redact"][0], join(path, "redact"), "a view takes either allow or redact, not both")
    elif not modes:
        r.report(
            node, path,
            "a view needs allow (the fields to show) or redact (the fields to hide; "
            "redact: [] shows every field)",
        )
    paths: set[str] = set()
    mode = modes[0] if modes else "allow"
    for each in modes:
        key = join(path, each)
        for value, item in r.texts(body[each][1], key) or []:
            if _view_path_ok(r, value, item, key, each):
                paths.add(value)
    roles: set[str] = set()
    if "redact_roles" in body:
        key = join(path, "redact_roles")
        for value, item in r.texts(body["redact_roles"][1], key) or []:
            if value in PARTY_ROLES:
                roles.add(value)
            else:
                r.report(
                    item, key,
                    f"unknown party role {value!r}{suggestion(value, PARTY_ROLES)}; "
                    f"one of: {listing(PARTY_ROLES)}",
                )
    if len(r.issues) != before:
        return None
    return compile_view(mode, frozenset(paths), frozenset(roles))


def _view_path_ok(r: Reader, value: str, node: Node, key: str, mode: str) -> bool:
    if value in (f"parties.{PARTY_KEY}", f"lines.{LINE_KEY}"):
        r.report(
            node, key,
            f"{value} always stays while the item is visible; "
            "use redact_roles to drop parties, or name the whole field",
        )
        return False
    if value not in VIEW_PATHS:
        r.report(
            node, key,
            f"unknown field {value!r}{suggestion(value, VIEW_PATHS)}; see docs/policies.md for the field list",
        )
        return False
    if mode == "redact" and value in KEPT_FIELDS:
        r.report(
            node, key,
            f"{value} is an identity field and always stays (tombstones need it); "
            "it cannot be redacted",
        )
        return False
    return True


