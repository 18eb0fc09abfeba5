"""In-memory screening index: cheap candidate stage, careful scorer on top.

The index keeps a vocabulary of every distinct name part of the stored names
(`vocabulary.Vocabulary`): per part its consonant skeleton, metaphone and
symbols, a numpy array of the name slots that carry it, and how many stored
names carry its concept (for rarity weights).

Candidate stage, per query name:
  1. each query part is matched against the vocabulary: the same part,
     a shared symbol (rigour name symbol, cross-script dictionary cluster,
     business class), the same consonant skeleton across scripts, the same
     metaphone, and Jaro-Winkler over the Latin parts (over skeletons across
     scripts), the best FUZZY_LIMIT at or above the part cutoff;
  2. a cheap score for every stored name at once (numpy): how much of the
     query name it covers (per query part the best similarity of one of its
     parts, weighted by the query part's rarity-scaled weight, over the
     query's weight) and how much of it the query covers (its matched parts'
     own weights, each at its best similarity, over its weight), combined as
     their harmonic mean;
  3. the CANDIDATES best distinct names by that score go on, with every
     stored name scoring as well (a name listed for many parties counts
     once), at most MAX_CANDIDATES;
  4. so do entries sharing an identifier (scheme and value) with the query.
Every entry owning a candidate name is then scored by the careful scorer
(`scorer.score_entry`) over all its names, with rarity-scaled part weights.

Concurrency: searches read an immutable snapshot; `add` / `remove` record
pending changes under a lock, and the next search (or `refresh()`) folds them
into a new snapshot (copy on write), so concurrent searches never see a
half-applied change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from node.screening import identifiers as ids
from node.screening.errors import InvalidQuery
from node.screening.forms import KINDS, NameForms, normalise_name
from node.screening.scorer import Hit, best_pair, entry_score, score_entry, upper_bound
from node.screening.vocabulary import Vocabulary

CANDIDATES = 16
SHORTLIST = 512
MAX_CANDIDATES = 256


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


@dataclass
class _Snapshot:
    owners: list[str | None]
    names: list[NameForms | None]
    free: list[int]
    entries: dict[str, _Entry]
    idents: dict[tuple[str, str], tuple[str, ...]]
    vocabulary: Vocabulary
    totals: np.ndarray  # per slot: the name's own total part weight (0 when free)
    name_ids: np.ndarray  # per slot: one id per distinct name (same parts, same script)
    distinct: dict[tuple, int]

    @classmethod
    def empty(cls) -> _Snapshot:
        return cls([], [], [], {}, {}, Vocabulary(), np.zeros(0, np.float32),
                   np.zeros(0, np.int32), {})


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
        entries = dict(old.entries)
        idents = dict(old.idents)
        vocabulary = old.vocabulary.copy()
        dropped_idents: dict[tuple[str, str], set[str]] = {}
        gone: list[tuple[int, NameForms]] = []
        for entry_key in removes:
            entry = entries.pop(entry_key, None)
            if entry is None:
                continue
            for slot, forms in zip(entry.slots, entry.forms):
                gone.append((slot, forms))
                owners[slot] = names[slot] = None
                free.append(slot)
            for ident in entry.ident_keys:
                dropped_idents.setdefault(ident, set()).add(entry_key)
        for ident, keys_ in dropped_idents.items():
            remaining = tuple(k for k in idents.get(ident, ()) if k not in keys_)
            if remaining:
                idents[ident] = remaining
            else:
                idents.pop(ident, None)
        free.sort(reverse=True)
        added: list[tuple[int, NameForms]] = []
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
                added.append((slot, name))
            ident_keys = frozenset(ids.identifier_keys(meta.get("identifiers") or ()))
            for ident in ident_keys:
                added_idents.setdefault(ident, []).append(entry_key)
            entries[entry_key] = _Entry(forms, meta, tuple(slots), ident_keys)
        for ident, keys_ in added_idents.items():
            idents[ident] = idents.get(ident, ()) + tuple(keys_)
        vocabulary.update(gone, added)
        totals = np.zeros(len(owners), np.float32)
        totals[: len(old.totals)] = old.totals[: len(owners)]
        name_ids = np.zeros(len(owners), np.int32)
        name_ids[: len(old.name_ids)] = old.name_ids[: len(owners)]
        distinct = dict(old.distinct)
        for slot, _ in gone:
            totals[slot] = 0.0
        for slot, name in added:
            totals[slot] = name.total_weight
            name_ids[slot] = distinct.setdefault((name.tokens, name.abjad), len(distinct))
        return _Snapshot(owners, names, free, entries, idents, vocabulary, totals, name_ids,
                         distinct)

    # -- search -----------------------------------------------------------
    def search(self, query: Query, threshold: float = 0.0, limit: int = 10) -> list[Hit]:
        """Hits scoring at least `threshold`, best first, at most `limit`."""
        return self.search_many([query], threshold, limit)[0]

    def search_many(
        self, queries: Sequence[Query], threshold: float = 0.0, limit: int = 10,
        workers: int = -1,
    ) -> list[list[Hit]]:
        """Screen many parties against one snapshot.

        `workers` is accepted for compatibility; the candidate stage is
        vectorised per query and needs no thread pool.
        """
        if not 0.0 <= threshold <= 1.0:
            raise InvalidQuery("threshold must be within [0, 1]")
        if limit < 1:
            raise InvalidQuery("limit must be at least 1")
        snap = self.refresh()
        prepared = [q.prepared() for q in queries]
        matcher = snap.vocabulary.match
        results: list[list[Hit]] = []
        for query in prepared:
            weights: dict[int, tuple[float, ...]] = {}

            def weigh(forms: NameForms, _w=weights) -> tuple[float, ...]:
                found = _w.get(id(forms))
                if found is None:
                    found = _w[id(forms)] = snap.vocabulary.weights(forms)
                return found

            slots: set[int] = set()
            for forms in query.forms:
                if not forms.is_empty:
                    slots.update(self._candidates(snap, forms, matcher, weigh(forms)))
            results.append(self._score(snap, query, slots, threshold, limit, weigh))
        return results

    @staticmethod
    def _candidates(snap: _Snapshot, forms: NameForms, matcher, weights) -> list[int]:
        """The stored names most like one query name, by the cheap score."""
        n = len(snap.owners)
        total = sum(weights)
        if not n or total <= 0:
            return []
        vocabulary = snap.vocabulary
        postings = vocabulary.postings
        covered = np.zeros(n, np.float32)
        stored_best: dict[int, float] = {}
        for i in range(len(forms.tokens)):
            found = matcher(forms, i)
            if not found:
                continue
            ranked = sorted(found.items(), key=lambda item: item[1])
            slots = np.concatenate([postings[tid] for tid, _ in ranked])
            if not len(slots):
                continue
            best = np.zeros(n, np.float32)
            # ascending similarity: where a name carries several matches, the best is written last
            best[slots] = np.repeat(np.fromiter((sim for _, sim in ranked), np.float32, len(ranked)),
                                    [len(postings[tid]) for tid, _ in ranked])
            covered += np.float32(weights[i]) * best
            for tid, sim in ranked:
                if stored_best.get(tid, 0.0) < sim:
                    stored_best[tid] = sim
        hits = np.flatnonzero(covered)
        if not len(hits):
            return []
        tids = list(stored_best)
        lengths = [len(postings[tid]) for tid in tids]
        values = np.repeat(np.fromiter((vocabulary.part_weights[t] * stored_best[t] for t in tids),
                                       np.float32, len(tids)), lengths)
        stored = np.bincount(np.concatenate([postings[t] for t in tids]), weights=values,
                             minlength=n)[hits]
        query_share = covered[hits] / np.float32(total)
        stored_share = np.minimum(stored / np.maximum(snap.totals[hits], 1e-6), 1.0)
        cheap = 2 * query_share * stored_share / np.maximum(query_share + stored_share, 1e-6)
        if len(hits) <= CANDIDATES:
            return hits.tolist()
        # The CANDIDATES best distinct names (names listed for many parties count
        # once), then every slot scoring as well as the last of them.
        shortlist = np.argpartition(cheap, -SHORTLIST)[-SHORTLIST:] if len(hits) > SHORTLIST \
            else np.arange(len(hits))
        shortlist = shortlist[np.argsort(-cheap[shortlist], kind="stable")]
        _, first = np.unique(snap.name_ids[hits[shortlist]], return_index=True)
        first.sort()
        floor = cheap[shortlist[first[min(CANDIDATES, len(first)) - 1]]]
        chosen = np.flatnonzero(cheap >= floor)
        if len(chosen) > MAX_CANDIDATES:
            chosen = chosen[np.argpartition(cheap[chosen], -MAX_CANDIDATES)[-MAX_CANDIDATES:]]
        return hits[chosen].tolist()

    @staticmethod
    def _score(snap: _Snapshot, query: Query, slots: set[int], threshold: float,
               limit: int, weigh) -> list[Hit]:
        """Score the candidates' entries; explain only the ones returned."""
        entry_keys = {snap.owners[s] for s in slots if s < len(snap.owners)}
        query_ids = ids.identifier_keys(query.identifiers)
        ident_hits: set[str] = set()
        for ident in query_ids:
            ident_hits.update(snap.idents.get(ident, ()))
        entry_keys.update(ident_hits)
        entry_keys.discard(None)
        scored = []
        cache: dict = {}
        for entry_key in entry_keys:
            entry = snap.entries.get(entry_key)
            if entry is None:
                continue
            pair = best_pair(query.forms, entry.forms, cache, weigh)
            if entry_key not in ident_hits and (
                pair[0] is None or upper_bound(pair[0].score) < threshold
            ):
                continue
            score = entry_score(pair, query.kind, query.country, query_ids, entry.meta,
                                entry.ident_keys)
            if score is not None and score >= threshold:
                scored.append((-score, entry_key, pair))
        scored.sort(key=lambda item: (item[0], item[1]))
        hits = []
        for _, entry_key, pair in scored[:limit]:
            entry = snap.entries[entry_key]
            hits.append(score_entry(query.forms, query.kind, query.country, query_ids, entry_key,
                                    entry.forms, entry.meta, threshold, pair, entry.ident_keys))
        return hits
