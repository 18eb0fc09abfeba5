"""In-memory screening index: cheap candidate stage, careful scorer on top.

Candidate stage, per query name:
  1. rapidfuzz `cdist` with `fuzz.ratio` over the sorted Latin keys of every
     stored name (ratio over pre-sorted keys is token_sort_ratio), with a
     score cutoff; the best CANDIDATES_PER_STAGE names are kept;
  2. the same over consonant-skeleton keys (catches Arabic script against
     Latin spellings);
  3. an exact-key index over per-token symbols (rigour name symbols,
     cross-script dictionary clusters), consonant skeletons and metaphones:
     names sharing keys with most query tokens are kept; very common keys
     are skipped (the fuzzy stages cover them);
  4. entries sharing a (scheme, value) identifier with the query.
Every entry owning a candidate name is then scored by `scorer.score_entry`
over all its names.

Concurrency: searches read an immutable snapshot; `add` / `remove` record
pending changes under a lock, and the next search (or `refresh()`) folds them
into a new snapshot, so concurrent searches never see a half-applied change.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

from node.screening import identifiers as ids
from node.screening.errors import InvalidQuery
from node.screening.forms import KINDS, NameForms, normalise_name
from node.screening.scorer import Hit, best_pair, score_entry, upper_bound

CANDIDATES_PER_STAGE = 20
KEY_CUTOFF = 55
SKELETON_CUTOFF = 60
MAX_POSTING = 2500
BATCH_CHUNK = 256


@dataclass
class Query:
    """What to screen: one party, any number of names in any script."""

    names: Sequence[str]
    country: str | None = None
    identifiers: Sequence[Mapping] = ()
    kind: str | None = None
    forms: list[NameForms] = field(default_factory=list, repr=False)

    def prepared(self) -> Query:
        if self.kind not in (None, *KINDS):
            raise InvalidQuery(f"kind must be one of {KINDS} or None")
        if isinstance(self.names, str):
            raise InvalidQuery("names must be a list of strings")
        if not self.forms:
            self.forms = [normalise_name(n, self.kind) for n in self.names if n and n.strip()]
        if not any(not f.is_empty for f in self.forms) and not self.identifiers:
            raise InvalidQuery("query has no usable name or identifier")
        return self


@dataclass(frozen=True)
class _Entry:
    forms: tuple[NameForms, ...]
    meta: Mapping
    slots: tuple[int, ...]
    ident_keys: frozenset


class _KeyArray:
    """Distinct key strings for cdist, each with the name slots that carry it."""

    __slots__ = ("strings", "slots", "positions", "free")

    def __init__(self, strings=None, slots=None, positions=None, free=None) -> None:
        self.strings: list[str] = strings if strings is not None else []
        self.slots: list[tuple[int, ...]] = slots if slots is not None else []
        self.positions: dict[str, int] = positions if positions is not None else {}
        self.free: list[int] = free if free is not None else []

    def copy(self) -> _KeyArray:
        return _KeyArray(list(self.strings), list(self.slots), dict(self.positions), list(self.free))

    def discard(self, key: str, slot: int) -> None:
        pos = self.positions.get(key)
        if pos is None:
            return
        remaining = tuple(s for s in self.slots[pos] if s != slot)
        if remaining:
            self.slots[pos] = remaining
        else:
            del self.positions[key]
            self.strings[pos], self.slots[pos] = "", ()
            self.free.append(pos)

    def put(self, key: str, slot: int) -> None:
        if not key:
            return
        pos = self.positions.get(key)
        if pos is not None:
            self.slots[pos] = self.slots[pos] + (slot,)
            return
        if self.free:
            pos = self.free.pop()
            self.strings[pos], self.slots[pos] = key, (slot,)
        else:
            pos = len(self.strings)
            self.strings.append(key)
            self.slots.append((slot,))
        self.positions[key] = pos


@dataclass
class _Snapshot:
    owners: list[str | None]
    names: list[NameForms | None]
    latin: _KeyArray
    skeleton: _KeyArray
    abjad_skeleton: _KeyArray
    postings: dict[str, tuple[int, ...]]
    idents: dict[tuple[str, str], tuple[str, ...]]
    entries: dict[str, _Entry]
    free: list[int]

    @classmethod
    def empty(cls) -> _Snapshot:
        return cls([], [], _KeyArray(), _KeyArray(), _KeyArray(), {}, {}, {}, [])


class ScreeningIndex:
    """Thread-safe screening index over stored `NameForms`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = _Snapshot.empty()
        self._pending_add: dict[str, tuple[tuple[NameForms, ...], Mapping]] = {}
        self._pending_remove: set[str] = set()

    # -- mutation ---------------------------------------------------------
    def add(self, entry_key: str, forms: Iterable[NameForms], meta: Mapping) -> None:
        """Add or replace an entry (a party of a record) with its names."""
        forms = tuple(f for f in forms if isinstance(f, NameForms))
        with self._lock:
            self._pending_add[entry_key] = (forms, dict(meta))
            self._pending_remove.add(entry_key)

    def remove(self, entry_key: str) -> None:
        with self._lock:
            self._pending_add.pop(entry_key, None)
            self._pending_remove.add(entry_key)

    def __len__(self) -> int:
        return len(self.refresh().entries)

    def __contains__(self, entry_key: str) -> bool:
        return entry_key in self.refresh().entries

    @property
    def name_count(self) -> int:
        snap = self.refresh()
        return len(snap.owners) - len(snap.free)

    def refresh(self) -> _Snapshot:
        """Fold pending changes into a new snapshot; return the current one."""
        if not self._pending_add and not self._pending_remove:
            return self._snapshot
        with self._lock:
            if self._pending_add or self._pending_remove:
                self._snapshot = self._apply(self._snapshot, self._pending_add,
                                             self._pending_remove)
                self._pending_add, self._pending_remove = {}, set()
            return self._snapshot

    @staticmethod
    def _apply(old: _Snapshot, adds, removes) -> _Snapshot:
        owners, names, free = list(old.owners), list(old.names), list(old.free)
        latin, skel, abjad = old.latin.copy(), old.skeleton.copy(), old.abjad_skeleton.copy()
        entries = dict(old.entries)
        postings = dict(old.postings)
        idents = dict(old.idents)
        dropped_slots: dict[str, set[int]] = {}
        dropped_idents: dict[tuple[str, str], set[str]] = {}
        for entry_key in removes:
            entry = entries.pop(entry_key, None)
            if entry is None:
                continue
            for slot, forms in zip(entry.slots, entry.forms):
                latin.discard(forms.key, slot)
                skel.discard(forms.skeleton_key, slot)
                abjad.discard(forms.skeleton_key, slot)
                owners[slot] = names[slot] = None
                free.append(slot)
                for token_keys in forms.index_keys:
                    for key in token_keys:
                        dropped_slots.setdefault(key, set()).add(slot)
            for ident in entry.ident_keys:
                dropped_idents.setdefault(ident, set()).add(entry_key)
        for key, slots in dropped_slots.items():
            remaining = tuple(s for s in postings.get(key, ()) if s not in slots)
            if remaining:
                postings[key] = remaining
            else:
                postings.pop(key, None)
        for ident, gone in dropped_idents.items():
            remaining = tuple(k for k in idents.get(ident, ()) if k not in gone)
            if remaining:
                idents[ident] = remaining
            else:
                idents.pop(ident, None)
        free.sort(reverse=True)
        added_slots: dict[str, list[int]] = {}
        added_idents: dict[tuple[str, str], list[str]] = {}
        for entry_key, (forms, meta) in adds.items():
            slots = []
            for name in forms:
                if free:
                    slot = free.pop()
                    owners[slot], names[slot] = entry_key, name
                else:
                    slot = len(owners)
                    owners.append(entry_key)
                    names.append(name)
                slots.append(slot)
                latin.put(name.key, slot)
                skel.put(name.skeleton_key, slot)
                if any(name.abjad):
                    abjad.put(name.skeleton_key, slot)
                for token_keys in name.index_keys:
                    for key in set(token_keys):
                        added_slots.setdefault(key, []).append(slot)
            ident_keys = frozenset(ids.identifier_keys(meta.get("identifiers") or ()))
            for ident in ident_keys:
                added_idents.setdefault(ident, []).append(entry_key)
            entries[entry_key] = _Entry(forms, meta, tuple(slots), ident_keys)
        for key, slots in added_slots.items():
            postings[key] = postings.get(key, ()) + tuple(slots)
        for ident, keys_ in added_idents.items():
            idents[ident] = idents.get(ident, ()) + tuple(keys_)
        return _Snapshot(owners, names, latin, skel, abjad, postings, idents, entries, free)

    # -- search -----------------------------------------------------------
    def search(self, query: Query, threshold: float = 0.0, limit: int = 10) -> list[Hit]:
        """Hits scoring at least `threshold`, best first, at most `limit`."""
        return self.search_many([query], threshold, limit)[0]

    def search_many(
        self, queries: Sequence[Query], threshold: float = 0.0, limit: int = 10,
        workers: int = -1,
    ) -> list[list[Hit]]:
        """Screen many parties; the fuzzy candidate stage runs as one cdist per chunk."""
        if not 0.0 <= threshold <= 1.0:
            raise InvalidQuery("threshold must be within [0, 1]")
        if limit < 1:
            raise InvalidQuery("limit must be at least 1")
        snap = self.refresh()
        prepared = [q.prepared() for q in queries]
        results: list[list[Hit]] = []
        for start in range(0, len(prepared), BATCH_CHUNK):
            chunk = prepared[start:start + BATCH_CHUNK]
            candidates = self._fuzzy_candidates(snap, chunk, workers if len(chunk) > 1 else 1)
            for query, slots in zip(chunk, candidates):
                results.append(self._score(snap, query, slots, threshold, limit))
        return results

    def _fuzzy_candidates(self, snap: _Snapshot, chunk: Sequence[Query], workers: int):
        """Per query, candidate name slots from the fuzzy stages and the key index.

        A Latin query name is compared by key with every stored name, and by
        skeleton with the stored names that have Arabic-script parts; an
        Arabic-script query name is compared by skeleton with every name.
        """
        found: list[set[int]] = [set() for _ in chunk]
        plans = (
            ("key", snap.latin, KEY_CUTOFF, False),
            ("skeleton_key", snap.abjad_skeleton, SKELETON_CUTOFF, False),
            ("skeleton_key", snap.skeleton, SKELETON_CUTOFF, True),
        )
        for attr, array, cutoff, abjad_query in plans:
            rows = [(qi, getattr(forms, attr)) for qi, query in enumerate(chunk)
                    for forms in query.forms
                    if not forms.is_empty and any(forms.abjad) == abjad_query]
            rows = [(qi, text) for qi, text in rows if text]
            if not rows or not array.strings:
                continue
            matrix = process.cdist([text for _, text in rows], array.strings, scorer=fuzz.ratio,
                                   processor=None, score_cutoff=cutoff, dtype=np.uint8,
                                   workers=workers)
            for (qi, _), row in zip(rows, matrix):
                nonzero = np.flatnonzero(row)
                if len(nonzero) > CANDIDATES_PER_STAGE:
                    top = np.argpartition(row[nonzero], -CANDIDATES_PER_STAGE)
                    nonzero = nonzero[top[-CANDIDATES_PER_STAGE:]]
                for pos in nonzero.tolist():
                    found[qi].update(array.slots[pos])
        for qi, query in enumerate(chunk):
            for forms in query.forms:
                if not forms.is_empty:
                    found[qi].update(self._key_candidates(snap, forms))
        return found

    @staticmethod
    def _key_candidates(snap: _Snapshot, forms: NameForms) -> list[int]:
        counts: Counter[int] = Counter()
        usable = 0
        for token_keys in forms.index_keys:
            slots: set[int] = set()
            for key in token_keys:
                posting = snap.postings.get(key)
                if posting and len(posting) <= MAX_POSTING:
                    slots.update(posting)
            if slots:
                usable += 1
                counts.update(slots)
        if not counts:
            return []
        needed = 1 if len(forms.tokens) == 1 else max(1, min(usable, (len(forms.tokens) + 1) // 2))
        best = [slot for slot, n in counts.most_common() if n >= needed]
        return best[:CANDIDATES_PER_STAGE]

    def _score(self, snap: _Snapshot, query: Query, slots: set[int], threshold: float,
               limit: int) -> list[Hit]:
        entry_keys = {snap.owners[s] for s in slots if s < len(snap.owners)}
        query_ids = ids.identifier_keys(query.identifiers)
        for ident in query_ids:
            entry_keys.update(snap.idents.get(ident, ()))
        entry_keys.discard(None)
        hits = []
        cache: dict = {}
        ident_hits = set()
        for ident in query_ids:
            ident_hits.update(snap.idents.get(ident, ()))
        for entry_key in entry_keys:
            entry = snap.entries.get(entry_key)
            if entry is None:
                continue
            pair = best_pair(query.forms, entry.forms, cache)
            if entry_key not in ident_hits and (
                pair[0] is None or upper_bound(pair[0].score) < threshold
            ):
                continue
            hit = score_entry(query.forms, query.kind, query.country, query_ids, entry_key,
                              entry.forms, entry.meta, threshold, pair)
            if hit is not None and hit.score >= threshold:
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.entry_key))
        return hits[:limit]
