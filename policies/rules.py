"""Sharing rules: a match (all conditions must hold) and an action.

Match conditions are precompiled into frozensets. ``None`` means "no
condition" (any value matches). Within one condition, a list means any-of.
The peer condition is the union of ``peers`` and the members of
``peer_group``; the engine indexes rules by peer ahead of time, so
``matches_record`` only looks at the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .views import EMPTY, HIT_PROJECTIONS, Projection
from .vocabulary import DENIAL, LICENCE

SHARE = "share"
ANSWER = "answer"
WITHHOLD = "withhold"
HIT = "hit"
DETAIL = "detail"


def brief(values: Iterable[Any], limit: int = 8) -> str:
    """Sorted, comma-joined, shortened after ``limit`` items."""
    items = sorted(str(v) for v in values)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def _in(value: Any, allowed: frozenset[str]) -> bool:
    """``value`` is one of ``allowed`` (unhashable values never are)."""
    try:
        return value in allowed
    except TypeError:
        return False


def _any_in(values: Any, allowed: frozenset[str]) -> bool:
    """``values`` is a list or tuple holding at least one of ``allowed``."""
    if not isinstance(values, (list, tuple)):
        return False
    try:
        return not allowed.isdisjoint(values)
    except TypeError:  # unhashable items: look at the strings one by one
        return any(isinstance(v, str) and v in allowed for v in values)


@dataclass(frozen=True, eq=False)
class Rule:
    """One compiled rule. ``index`` is its position in the policy file."""

    index: int
    name: str
    line: int
    action: str
    answer_level: str | None
    view_name: str | None
    projections: dict[str, Projection] | None
    record_types: frozenset[str]
    peers: frozenset[str] | None = None
    peer_groups: tuple[str, ...] | None = None
    peer_set: frozenset[str] | None = None
    regimes: frozenset[str] | None = None
    sensitivity: frozenset[str] | None = None
    status: frozenset[str] | None = None
    destinations: frozenset[str] | None = None
    licence_types: frozenset[str] | None = None

    def applies_to_peer(self, peer: str) -> bool:
        return self.peer_set is None or peer in self.peer_set

    def matches_record(self, record: dict, record_type: str) -> bool:
        """Every record condition holds (record type and peer are indexed).

        The same tests as ``_in`` / ``_any_in`` (used by ``why_not``), inlined
        on the fast path with the same results.
        """
        get = record.get
        try:
            if self.sensitivity is not None and get("sensitivity") not in self.sensitivity:
                return False
            if self.status is not None and get("status") not in self.status:
                return False
            if self.licence_types is not None and get("type") not in self.licence_types:
                return False
            if self.destinations is not None and record_type == DENIAL:
                if get("destination_country") not in self.destinations:
                    return False
        except TypeError:
            return False
        if self.regimes is not None and not _any_in(get("regimes"), self.regimes):
            return False
        if self.destinations is not None and record_type != DENIAL:
            if not _any_in(get("destinations"), self.destinations):
                return False
        return True

    def matches(self, record: dict, record_type: str, peer: str) -> bool:
        return (
            record_type in self.record_types
            and self.applies_to_peer(peer)
            and self.matches_record(record, record_type)
        )

    def projection(self, record_type: str) -> Projection:
        """What this rule alone would reveal for a record of that type."""
        if self.action == WITHHOLD:
            return EMPTY
        if self.action == ANSWER and self.answer_level == HIT:
            return HIT_PROJECTIONS[record_type]
        assert self.projections is not None
        return self.projections[record_type]

    def why_not(self, record: dict, record_type: str, peer: str) -> list[str]:
        """Every condition that fails, as short sentences ([] if it matches)."""
        reasons: list[str] = []
        if record_type not in self.record_types:
            reasons.append(f"applies to {brief(self.record_types)} records, not {record_type}")
        if not self.applies_to_peer(peer):
            wanted = []
            if self.peers:
                wanted.append(f"peers {brief(self.peers)}")
            if self.peer_groups:
                wanted.append(f"groups {brief(self.peer_groups)}")
            reasons.append(f"peer {peer} is not in {' or '.join(wanted)}")
        if record_type not in self.record_types:
            return reasons  # the record conditions are written for other record types
        if self.sensitivity is not None:
            value = record.get("sensitivity")
            if not _in(value, self.sensitivity):
                reasons.append(
                    f"sensitivity {value!r} is not one of {brief(self.sensitivity)}"
                )
        if self.status is not None:
            value = record.get("status")
            if not _in(value, self.status):
                reasons.append(f"status {value!r} is not one of {brief(self.status)}")
        if self.regimes is not None:
            value = record.get("regimes")
            if not _any_in(value, self.regimes):
                shown = brief(value) if isinstance(value, (list, tuple)) and value else "none"
                reasons.append(
                    f"regimes ({shown}) include none of {brief(self.regimes)}"
                )
        if self.destinations is not None:
            if record_type == DENIAL:
                value = record.get("destination_country")
                if not _in(value, self.destinations):
                    reasons.append(
                        f"destination_country {value!r} is not one of {brief(self.destinations)}"
                    )
            else:
                value = record.get("destinations")
                if not _any_in(value, self.destinations):
                    shown = brief(value) if isinstance(value, (list, tuple)) and value else "none"
                    reasons.append(
                        f"destinations ({shown}) include none of {brief(self.destinations)}"
                    )
        if self.licence_types is not None and record_type == LICENCE:
            value = record.get("type")
            if not _in(value, self.licence_types):
                reasons.append(
                    f"licence type {value!r} is not one of {brief(self.licence_types)}"
                )
        return reasons
