"""Views: which fields of a record a peer may see.

A view is written as an allow-list (``allow``) or a deny-list (``redact``)
of field paths, plus ``redact_roles`` (party roles whose parties are dropped
whole). Paths are top-level fields (``contact``) or one level into parties
and licence lines (``parties.address``, ``lines.balance_quantity``).

Each view compiles, per record type, into a ``Projection``: plain frozensets
over the record vocabulary. Fields outside the vocabulary never pass, so a
``redact`` view means "every known field except these". Projections meet by
set intersection (fields) and union (dropped roles), which is how several
matching rules combine into the most restrictive view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .vocabulary import (
    FIELDS,
    KEPT_FIELDS,
    LINE_FIELDS,
    LINE_KEY,
    PARTY_FIELDS,
    PARTY_KEY,
    PARTY_ROLES,
    RECORD_TYPES,
    REFERENCE_FIELD,
)

ALL_PARTY_FIELDS = frozenset(PARTY_FIELDS)
ALL_LINE_FIELDS = frozenset(LINE_FIELDS)
ALL_ROLES = frozenset(PARTY_ROLES)


_ATOMS = frozenset({str, int, float, bool, type(None)})


def copy_value(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if isinstance(value, dict):
        return {key: copy_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_value(item) for item in value]
    return value


@dataclass(frozen=True)
class Projection:
    """Concrete visible sets for one record type.

    ``fields``: top-level fields that pass (always includes KEPT_FIELDS).
    ``party_fields`` / ``line_fields``: sub-fields kept inside each visible
    party / licence line. ``roles``: party roles that stay visible.
    """

    fields: frozenset[str]
    party_fields: frozenset[str]
    line_fields: frozenset[str]
    roles: frozenset[str]

    def meet(self, other: Projection) -> Projection:
        """The most restrictive combination of two projections."""
        return Projection(
            fields=self.fields & other.fields,
            party_fields=self.party_fields & other.party_fields,
            line_fields=self.line_fields & other.line_fields,
            roles=self.roles & other.roles,
        )

    def apply(self, record: dict, *, copy: bool = True) -> dict:
        """A new dict holding only what this projection lets through.

        With ``copy=False`` the values it keeps whole (a field's list, a party's names, a party or
        a line whose every field it keeps) are the record's own objects, not copies: for a caller
        that serializes the view at once and then drops both (sync builds thousands of views in a
        row)."""
        fields = self.fields
        keep_value = copy_value if copy else _same
        out: dict[str, Any] = {key: value if key in _PROJECTED else keep_value(value)
                               for key, value in record.items() if key in fields}
        if "parties" in out:
            out["parties"] = self._parties(out["parties"], keep_value)
        if "lines" in out:
            out["lines"] = self._lines(out["lines"], keep_value)
        return out

    def _parties(self, parties: Any, keep_value) -> list:
        if not isinstance(parties, (list, tuple)):
            return []
        reuse = keep_value is _same  # a party kept whole is the record's own dict
        roles = self.roles
        keep = self.party_fields
        return [
            party if reuse and keep.issuperset(party) else
            {key: keep_value(item) for key, item in party.items() if key in keep}
            for party in parties
            if isinstance(party, dict) and _hashable_in(party.get(PARTY_KEY), roles)
        ]

    def _lines(self, lines: Any, keep_value) -> list:
        if not isinstance(lines, (list, tuple)):
            return []
        reuse = keep_value is _same
        keep = self.line_fields
        return [
            line if reuse and keep.issuperset(line) else
            {key: keep_value(item) for key, item in line.items() if key in keep}
            for line in lines
            if isinstance(line, dict)
        ]


_PROJECTED = frozenset(("parties", "lines"))  # projected item by item, not kept whole


def _same(value: Any) -> Any:
    return value


def _hashable_in(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def compile_view(
    mode: str, paths: frozenset[str], redact_roles: frozenset[str]
) -> dict[str, Projection]:
    """Projections per record type for a view written as ``mode`` (allow|redact).

    ``paths`` must already be validated against ``vocabulary.VIEW_PATHS``.
    """
    top = {path for path in paths if "." not in path}
    nested: dict[str, set[str]] = {"parties": set(), "lines": set()}
    for path in paths:
        if "." in path:
            container, sub = path.split(".", 1)
            nested[container].add(sub)

    if mode == "allow":
        party_fields = ALL_PARTY_FIELDS if "parties" in top else frozenset(nested["parties"])
        line_fields = ALL_LINE_FIELDS if "lines" in top else frozenset(nested["lines"])
        visible_top = set(top)
        if nested["parties"]:
            visible_top.add("parties")
        if nested["lines"]:
            visible_top.add("lines")
    else:
        party_fields = ALL_PARTY_FIELDS - nested["parties"]
        line_fields = ALL_LINE_FIELDS - nested["lines"]
        visible_top = None  # everything except `top`

    roles = ALL_ROLES - redact_roles
    out: dict[str, Projection] = {}
    for record_type in RECORD_TYPES:
        known = FIELDS[record_type]
        fields = (known & visible_top) if visible_top is not None else (known - top)
        if "exporter" in redact_roles:
            # A licence names its exporter in a top-level field as well.
            fields = fields - {"exporter"}
        out[record_type] = Projection(
            fields=frozenset(fields) | KEPT_FIELDS,
            party_fields=party_fields | {PARTY_KEY},
            line_fields=line_fields | {LINE_KEY},
            roles=frozenset(roles),
        )
    return out


def hit_projection(record_type: str) -> Projection:
    """What an answer at level ``hit`` reveals: identity and the reference."""
    return Projection(
        fields=KEPT_FIELDS | {REFERENCE_FIELD[record_type]},
        party_fields=frozenset(),
        line_fields=frozenset(),
        roles=frozenset(),
    )


HIT_PROJECTIONS: dict[str, Projection] = {rt: hit_projection(rt) for rt in RECORD_TYPES}
EMPTY = Projection(frozenset(), frozenset(), frozenset(), frozenset())

__all__ = ["Projection", "compile_view", "copy_value", "HIT_PROJECTIONS", "EMPTY"]
