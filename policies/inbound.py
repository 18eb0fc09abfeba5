"""Inbound limits: which record types this node accepts from which peers.

Each entry names peers (``peers`` and/or ``peer_group``; neither means any
peer), the record types it accepts and a maximum record size in bytes.
A record is accepted when at least one entry covers the peer and the record
type and its size is within the largest limit among those entries. Anything
else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import RECORD_TYPES


@dataclass(frozen=True)
class InboundEntry:
    name: str
    line: int
    record_types: frozenset[str]
    max_bytes: int
    peers: frozenset[str] | None = None
    peer_groups: tuple[str, ...] | None = None
    peer_set: frozenset[str] | None = None  # None: any peer

    def covers(self, peer: str, record_type: str) -> bool:
        return record_type in self.record_types and (
            self.peer_set is None or peer in self.peer_set
        )


class Inbound:
    """Precomputed acceptance table: (peer, record type) -> (limit, the deciding entries' names quoted,
    the reason given when a record is accepted)."""

    def __init__(self, entries: list[InboundEntry]):
        self.entries = tuple(entries)
        known = set()
        for entry in entries:
            if entry.peer_set is not None:
                known |= entry.peer_set
        self._by_peer = {peer: self._table(peer) for peer in known}
        self._anyone = self._table(None)

    def _table(self, peer: str | None) -> dict[str, tuple[int, str, str]]:
        table: dict[str, tuple[int, str, str]] = {}
        for record_type in RECORD_TYPES:
            covering = [
                entry
                for entry in self.entries
                if record_type in entry.record_types
                and (entry.peer_set is None or (peer is not None and peer in entry.peer_set))
            ]
            if covering:
                limit = max(entry.max_bytes for entry in covering)
                quoted = ", ".join(f"'{e.name}'" for e in covering if e.max_bytes == limit)
                table[record_type] = (limit, quoted, f"accepted by inbound entry {quoted} (limit {limit} bytes)")
        return table

    def limit(self, peer: str, record_type: str) -> int | None:
        """The largest record of ``record_type`` taken from ``peer``, in bytes; None when none is taken."""
        found = self._by_peer.get(peer, self._anyone).get(record_type)
        return None if found is None else found[0]

    def accepts(self, peer: str, record_type: str, size_bytes: int) -> tuple[bool, str]:
        if record_type not in RECORD_TYPES:
            return False, f"unknown record type {record_type!r}; only {', '.join(RECORD_TYPES)} exist"
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            return False, f"record size {size_bytes!r} is not a byte count"
        table = self._by_peer.get(peer, self._anyone) if isinstance(peer, str) else self._anyone
        found = table.get(record_type)
        if found is None:
            return False, f"no inbound entry accepts {record_type} records from {peer}"
        limit, quoted, accepted = found
        if size_bytes > limit:
            return False, (
                f"a {size_bytes}-byte {record_type} from {peer} exceeds the "
                f"{limit}-byte limit of inbound entry {quoted}"
            )
        return True, accepted
