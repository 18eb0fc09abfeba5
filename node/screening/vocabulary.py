"""The screening index's vocabulary: every distinct name part of the stored names.

Per part (its Latin form and whether it came from Arabic script): consonant
skeleton, metaphone, symbols, and a numpy array of the name slots that carry
it (its posting). Per part concept (the consonant skeleton, or the part
itself when the skeleton has fewer than three letters, so that "Mohammed",
"Muhammad" and "محمد" are one concept) the number of stored names that carry
it, from which rarity weights follow:

    rarity = log(1 / share) / log(1 / RARE_SHARE), within [RARITY_FLOOR, 1]

where share = names carrying the concept / max(names, RARITY_MIN_NAMES): a
part carried by one name in RARE_SHARE**-1 or fewer weighs fully, one carried
by every tenth name about a third. Small indexes (under RARITY_MIN_NAMES
names) leave most weights whole.

`match(forms, i)` matches one query part against the vocabulary (exact,
symbols, skeletons across scripts, metaphone, Jaro-Winkler), memoised. The vocabulary is copied on write by the index: `copy()`
is shallow, `update()` replaces what it changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from node.screening.forms import GENERIC_WEIGHT, NameForms
from node.screening.parts import (
    PART_CUTOFF,
    PHONETIC_SIMILARITY,
    SHORT_SKELETON_SIMILARITY,
    SKELETON_FACTOR,
    SKELETON_SIMILARITY,
    SYMBOL_SIMILARITY,
    consonant_waw_skeleton,
    edit_similarity,
    english_style,
    latin_similarity,
    transcription_similarity,
)

FUZZY_LIMIT = 32
PRESELECT = 48
PRESELECT_CUTOFF = 0.7
MEMO_SIZE = 50_000
RARE_SHARE = 0.002
RARITY_FLOOR = 0.3
RARITY_MIN_NAMES = 2000
_LOG_RARE = math.log(1.0 / RARE_SHARE)
_EMPTY = np.zeros(0, np.int32)


@dataclass(frozen=True)
class Part:
    text: str
    abjad: bool
    skeleton: str
    phonetic: str
    symbols: frozenset[str]


def concept(forms: NameForms, i: int) -> str:
    """What rarity is counted on: the skeleton, or the part when the skeleton is short."""
    skel = forms.skeletons[i]
    if len(skel) >= 3:
        return skel
    return ("a:" if forms.abjad[i] else "l:") + forms.tokens[i]


def rarity(carriers: int, names: int) -> float:
    share = max(carriers, 1) / max(names, RARITY_MIN_NAMES)
    return min(1.0, max(RARITY_FLOOR, math.log(1.0 / share) / _LOG_RARE))


class _Strings:
    """Distinct strings for fuzzy matching, each with the part ids behind it."""

    __slots__ = ("texts", "ids", "positions")

    def __init__(self, texts=None, ids_=None, positions=None) -> None:
        self.texts: list[str] = texts if texts is not None else []
        self.ids: list[tuple[int, ...]] = ids_ if ids_ is not None else []
        self.positions: dict[str, int] = positions if positions is not None else {}

    def copy(self) -> _Strings:
        return _Strings(list(self.texts), list(self.ids), dict(self.positions))

    def put(self, text: str, tid: int) -> None:
        pos = self.positions.get(text)
        if pos is None:
            self.positions[text] = len(self.texts)
            self.texts.append(text)
            self.ids.append((tid,))
        else:
            self.ids[pos] = self.ids[pos] + (tid,)

    def nearest(self, text: str, cutoff: float,
                similarity: Callable[[str, str], float]) -> list[tuple[tuple[int, ...], float]]:
        """Strings within `cutoff` by `similarity`, preselected by Jaro-Winkler (fast)."""
        if not self.texts:
            return []
        found = process.extract(text, self.texts, scorer=JaroWinkler.normalized_similarity,
                                processor=None, score_cutoff=PRESELECT_CUTOFF, limit=PRESELECT)
        scored = []
        for choice, _, pos in found:
            score = similarity(text, choice)
            if score >= cutoff:
                scored.append((score, pos))
        scored.sort(reverse=True)
        return [(self.ids[pos], score) for score, pos in scored[:FUZZY_LIMIT]]


def _skeleton_similarity(a: str, b: str) -> float:
    return SKELETON_FACTOR * edit_similarity(a, b)


def _transcribed(transcription: str, latin: str) -> float:
    return transcription_similarity(latin, transcription)


class Vocabulary:
    """Distinct name parts, their postings and concept counts."""

    __slots__ = ("ids", "parts", "postings", "part_weights", "keys", "latin", "abjad",
                 "latin_skeletons", "abjad_skeletons", "carriers", "names", "_memo", "_rarity")

    def __init__(self) -> None:
        self.ids: dict[tuple[str, bool], int] = {}
        self.parts: list[Part] = []
        self.postings: list[np.ndarray] = []
        self.part_weights: list[float] = []
        self.keys: dict[str, tuple[int, ...]] = {}
        self.latin = _Strings()
        self.abjad = _Strings()
        self.latin_skeletons = _Strings()
        self.abjad_skeletons = _Strings()
        self.carriers: dict[str, int] = {}
        self.names = 0
        self._memo: dict[tuple, dict[int, float]] = {}
        self._rarity: dict[str, float] = {}

    def copy(self) -> Vocabulary:
        new = Vocabulary.__new__(Vocabulary)
        new.ids, new.parts, new.postings = dict(self.ids), list(self.parts), list(self.postings)
        new.part_weights = list(self.part_weights)
        new.keys, new.carriers, new.names = dict(self.keys), dict(self.carriers), self.names
        new.latin, new.abjad = self.latin.copy(), self.abjad.copy()
        new.latin_skeletons = self.latin_skeletons.copy()
        new.abjad_skeletons = self.abjad_skeletons.copy()
        # Matches stay valid while no part is added (`update` starts afresh
        # then); rarity changes with every update.
        new._memo, new._rarity = self._memo, {}
        return new

    # -- building -----------------------------------------------------------
    def _key(self, key: str, tid: int) -> None:
        self.keys[key] = self.keys.get(key, ()) + (tid,)

    def _intern(self, forms: NameForms, i: int) -> int:
        token, abjad = forms.tokens[i], forms.abjad[i]
        symbols = frozenset(forms.symbols[i])
        tid = self.ids.get((token, abjad))
        if tid is not None:
            part = self.parts[tid]
            new = symbols - part.symbols
            if new:
                self._memo = {}  # symbol lookups change
                self.parts[tid] = Part(part.text, abjad, part.skeleton, part.phonetic,
                                       part.symbols | new)
                for symbol in new:
                    self._key(symbol, tid)
            return tid
        tid = len(self.parts)
        skel, phon = forms.skeletons[i], forms.phonetics[i]
        self.ids[(token, abjad)] = tid
        self.parts.append(Part(token, abjad, skel, phon, symbols))
        self.postings.append(_EMPTY)
        self.part_weights.append(forms.weights[i])
        for symbol in symbols:
            self._key(symbol, tid)
        if len(skel) >= 2:
            self._key(("sa:" if abjad else "sl:") + skel, tid)
            (self.abjad_skeletons if abjad else self.latin_skeletons).put(skel, tid)
        waw = consonant_waw_skeleton(token) if abjad else ""
        if len(waw) >= 2:
            self._key("sa:" + waw, tid)
            self.abjad_skeletons.put(waw, tid)
        if not abjad and len(phon) >= 2:
            self._key("p:" + phon, tid)
        if not abjad:
            self._key("e:" + english_style(token), tid)
        if len(token) >= 2:
            (self.abjad if abjad else self.latin).put(token, tid)
        return tid

    def update(self, gone: Iterable[tuple[int, NameForms]],
               added: Iterable[tuple[int, NameForms]]) -> None:
        """Drop the names of `gone` slots, then add the `added` ones."""
        known = len(self.parts)
        removed: dict[int, set[int]] = {}
        appended: dict[int, list[int]] = {}
        for slot, forms in gone:
            for i, token in enumerate(forms.tokens):
                tid = self.ids.get((token, forms.abjad[i]))
                if tid is not None:
                    removed.setdefault(tid, set()).add(slot)
            for c in {concept(forms, i) for i in range(len(forms.tokens))}:
                left = self.carriers.get(c, 0) - 1
                if left > 0:
                    self.carriers[c] = left
                else:
                    self.carriers.pop(c, None)
            self.names -= 1
        ids, parts, carriers = self.ids, self.parts, self.carriers
        for slot, forms in added:
            tokens, abjads, symbols, skeletons = forms.tokens, forms.abjad, forms.symbols, forms.skeletons
            tids, concepts = set(), set()
            for i, token in enumerate(tokens):
                tid = ids.get((token, abjads[i]))
                if tid is None or (symbols[i] and not parts[tid].symbols.issuperset(symbols[i])):
                    tid = self._intern(forms, i)
                tids.add(tid)
                skel = skeletons[i]
                concepts.add(skel if len(skel) >= 3 else ("a:" if abjads[i] else "l:") + token)
            for tid in tids:
                appended.setdefault(tid, []).append(slot)
            for c in concepts:
                carriers[c] = carriers.get(c, 0) + 1
            self.names += 1
        for tid in removed.keys() | appended.keys():
            posting = self.postings[tid]
            if tid in removed and len(posting):
                gone_slots = np.fromiter(removed[tid], np.int32, len(removed[tid]))
                posting = posting[~np.isin(posting, gone_slots)]
            if tid in appended:
                posting = np.concatenate([posting, np.asarray(appended[tid], np.int32)])
            self.postings[tid] = posting
        self._rarity = {}
        if len(self.parts) != known:
            self._memo = {}

    # -- querying -----------------------------------------------------------
    def weights(self, forms: NameForms) -> tuple[float, ...]:
        """The name's part weights scaled by each part's rarity among stored names."""
        memo = self._rarity
        out = []
        for i, w in enumerate(forms.weights):
            c = concept(forms, i)
            factor = memo.get(c)
            if factor is None:
                factor = memo[c] = rarity(self.carriers.get(c, 0), self.names)
            out.append(w * factor)
        return tuple(out)

    def match(self, forms: NameForms, i: int) -> dict[int, float]:
        """Query part i of `forms` -> {part id: similarity}, memoised per vocabulary.

        Matches depend on the parts only, not on postings or counts, so the
        memo survives updates that add no new part; it is emptied when full.
        """
        key = (forms.tokens[i], forms.abjad[i], forms.symbols[i],
               forms.weights[i] <= GENERIC_WEIGHT)
        found = self._memo.get(key)
        if found is None:
            found = self._match(forms, i)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return found

    def _match(self, forms: NameForms, i: int) -> dict[int, float]:
        token, abjad = forms.tokens[i], forms.abjad[i]
        skel, phon = forms.skeletons[i], forms.phonetics[i]
        found: dict[int, float] = {}

        def put(tids: Iterable[int], sim: float) -> None:
            for tid in tids:
                if found.get(tid, 0.0) < sim:
                    found[tid] = sim

        tid = self.ids.get((token, abjad))
        if tid is not None:
            put((tid,), 1.0)
        if len(token) < 2 and not abjad:
            return found
        for symbol in forms.symbols[i]:
            put(self.keys.get(symbol, ()), SYMBOL_SIMILARITY)
        if forms.weights[i] <= GENERIC_WEIGHT:
            return found
        if len(skel) >= 2:
            put(self.keys.get(("sl:" if abjad else "sa:") + skel, ()),
                SKELETON_SIMILARITY if len(skel) >= 3 else SHORT_SKELETON_SIMILARITY)
        if not abjad and len(phon) >= 2:
            put(self.keys.get("p:" + phon, ()), PHONETIC_SIMILARITY)
        if not abjad:
            put(self.keys.get("e:" + english_style(token), ()), PHONETIC_SIMILARITY)
        if abjad:
            for tids, score in self.abjad.nearest(token, PART_CUTOFF, edit_similarity):
                put(tids, score)
        else:
            for tids, score in self.latin.nearest(token, PART_CUTOFF, latin_similarity):
                put(tids, score)
        if len(skel) >= 2:
            other = self.latin_skeletons if abjad else self.abjad_skeletons
            for tids, score in other.nearest(skel, PART_CUTOFF, _skeleton_similarity):
                put(tids, score)
        if abjad:
            for tids, score in self.latin.nearest(token, PART_CUTOFF, _transcribed):
                put(tids, score)
        else:
            # "کاوش" is "kawsh": Latin v is looked up as w
            for tids, score in self.abjad.nearest(token.replace("v", "w"), PART_CUTOFF,
                                                  lambda q, c: transcription_similarity(token, c)):
                put(tids, score)
        return found
