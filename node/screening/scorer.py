"""The careful scorer: compares a query with one indexed entry and explains why.

Name similarity (per pair of query name x stored name, the best pair wins):

    aligned    name parts aligned one-to-one, greedily by similarity, where a
               part pair scores: 1.0 identical; 0.95 shared name symbol
               (rigour name symbol, cross-script dictionary cluster, business
               class); across scripts 0.92 identical consonant skeleton
               (0.76 when the skeleton has two letters), else the best of
               0.85 x edit similarity of the skeletons and 0.9 x edit
               similarity of the Latin spelling and the transcription; in one
               script the edit similarity (`edit_similarity`: mean of
               Jaro-Winkler and optimal string alignment, compounds judged on
               what precedes a shared ending; German-style romanisations also
               compared in English style), raised to 0.9 by an identical
               metaphone; 0.8 for an initial against a name with that first
               letter. Pairs under 0.75 do not align. Two parts listed as
               different names in the same dictionary table ("hassan" /
               "hussein") do not align, nor a patronymic with a family name.
               aligned = sum(similarity * weights of the pair) / (weights of
               the aligned parts + UNMATCHED_FACTOR * weights of the parts
               left over on either side (MIDDLE_FACTOR for middle names: parts
               between two aligned ones, and patronymics) + CONFLICT_FACTOR *
               twice the distinctive weight left over on both sides): a
               missing middle name costs a little, a one-word query against a
               three-word name scores about 0.6, and a different family name
               ("Ali Hassan Al-Rashid" / "Ali Hassan Al-Khatib") counts in
               full, as a conflict rather than a gap.
               Weights: the name's own (business words and particles 0.25,
               initials 0.5, other parts 1), times the part's rarity in the
               index when the index supplies it: a name part most listed
               names share ("Mohammed", "Trading") proves less than a rare
               one. Conflicts count the names' own weights: a different
               family name is a difference however common it is.
    sort_ratio character ratio of the distinctive parts, sorted (token_sort_ratio)
               or in the order the alignment gives, the better of the two
               (across scripts: of consonant skeletons, x 0.85, kept within
               aligned +/- 0.1).
    name       NAME_ALIGNED * aligned + NAME_SORT * sort_ratio.

Then record-level signals move the score: country match / mismatch, person
vs organisation mismatch, legal-form match / mismatch, identifier match (very
strong: the score becomes at least IDENTIFIER_FLOOR) or conflict. WRatio and
token_set_ratio are deliberately not used: a name that is a subset of
another would score 100 and flood analysts with alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from rapidfuzz.fuzz import ratio

from node.screening import identifiers as ids
from node.screening.forms import GENERIC_WEIGHT, NameForms
from node.screening.parts import PART_CUTOFF, SKELETON_FACTOR, is_patronymic, part_similarity

SORT_MARGIN = 0.1
NAME_ALIGNED = 0.7
UNMATCHED_FACTOR = 0.6
MIDDLE_FACTOR = 0.3
CONFLICT_FACTOR = 0.4
NAME_SORT = 0.3

COUNTRY_MATCH = 0.05
COUNTRY_MISMATCH = -0.08
KIND_MISMATCH = -0.10
LEGAL_MATCH = 0.02
LEGAL_MISMATCH = -0.04
IDENTIFIER_BOOST = 0.25
IDENTIFIER_FLOOR = 0.95
IDENTIFIER_CONFLICT = -0.15


@dataclass(frozen=True)
class PartMatch:
    """One aligned pair of name parts."""

    query: str
    stored: str
    similarity: float
    how: str


@dataclass(frozen=True)
class Signal:
    """One piece of evidence and what it did to the score."""

    name: str
    value: float | str
    contribution: float
    detail: str = ""


class NameComparison:
    """How two names compare: score, its components, and (on demand) the aligned parts."""

    __slots__ = ("query", "stored", "score", "aligned", "sort_ratio", "_alignment")

    def __init__(self, query: NameForms, stored: NameForms, score: float, aligned: float,
                 sort_ratio: float, alignment: list[tuple[int, int, float, str]]) -> None:
        self.query, self.stored = query, stored
        self.score, self.aligned, self.sort_ratio = score, aligned, sort_ratio
        self._alignment = alignment

    @property
    def query_name(self) -> str:
        return self.query.text

    @property
    def stored_name(self) -> str:
        return self.stored.text

    @property
    def parts(self) -> tuple[PartMatch, ...]:
        return tuple(PartMatch(self.query.tokens[i], self.stored.tokens[j], round(sim, 4), how)
                     for i, j, sim, how in self._alignment)

    @property
    def unmatched_query(self) -> tuple[str, ...]:
        used = {i for i, _, _, _ in self._alignment}
        return tuple(t for k, t in enumerate(self.query.tokens) if k not in used)

    @property
    def unmatched_stored(self) -> tuple[str, ...]:
        used = {j for _, j, _, _ in self._alignment}
        return tuple(t for k, t in enumerate(self.stored.tokens) if k not in used)


@dataclass(frozen=True)
class Hit:
    """A screening hit, explained."""

    entry_key: str
    meta: Mapping
    score: float
    threshold: float
    query_name: str
    matched_name: str
    name_score: float
    signals: tuple[Signal, ...]
    parts: tuple[PartMatch, ...]

    def to_dict(self) -> dict:
        return {
            "entry_key": self.entry_key,
            "meta": dict(self.meta),
            "score": self.score,
            "threshold": self.threshold,
            "query_name": self.query_name,
            "matched_name": self.matched_name,
            "name_score": self.name_score,
            "signals": [asdict(s) for s in self.signals],
            "parts": [asdict(p) for p in self.parts],
        }


def compare_names(
    q: NameForms,
    r: NameForms,
    q_weights: Sequence[float] | None = None,
    r_weights: Sequence[float] | None = None,
    part_cache: dict | None = None,
) -> NameComparison:
    """Align the parts of two names and score the pair in [0, 1].

    `q_weights` / `r_weights` replace the names' own part weights (the index
    passes them scaled by rarity); `part_cache` (one per query name) reuses
    part similarities: stored names share their parts.
    """
    qw = q.weights if q_weights is None else q_weights
    rw = r.weights if r_weights is None else r_weights
    pairs = []
    r_tokens, r_abjad, r_symbols = r.tokens, r.abjad, r.symbols
    for i in range(len(q.tokens)):
        for j in range(len(r_tokens)):
            if part_cache is None:
                sim, how = part_similarity(q, i, r, j)
            else:
                key = (i, r_tokens[j], r_abjad[j], r_symbols[j])
                found = part_cache.get(key)
                if found is None:
                    found = part_cache[key] = part_similarity(q, i, r, j)
                sim, how = found
            if sim >= PART_CUTOFF:
                pairs.append((-sim, -(qw[i] + rw[j]), i, j, how))
    pairs.sort()
    used_q: set[int] = set()
    used_r: set[int] = set()
    matched = paired = 0.0
    alignment = []
    for neg_sim, neg_weight, i, j, how in pairs:
        if i in used_q or j in used_r:
            continue
        used_q.add(i)
        used_r.add(j)
        matched += neg_sim * neg_weight
        paired -= neg_weight
        alignment.append((i, j, -neg_sim, how))
    unpaired = sum(qw) + sum(rw) - paired
    middle = _middle_weight(q, qw, used_q) + _middle_weight(r, rw, used_r)
    # A conflict weighs what the parts are, not how common: a different family
    # name is a difference however many people carry it.
    conflict = 0.0
    if len(used_q) < len(qw) and len(used_r) < len(rw):
        conflict = min(
            sum(w for i, w in enumerate(q.weights) if i not in used_q and w > GENERIC_WEIGHT),
            sum(w for j, w in enumerate(r.weights) if j not in used_r and w > GENERIC_WEIGHT),
        )
    total = (paired + UNMATCHED_FACTOR * (unpaired - middle) + MIDDLE_FACTOR * middle
             + CONFLICT_FACTOR * 2 * conflict)
    aligned = matched / total if total else 0.0
    if any(q.abjad) != any(r.abjad):
        # Across scripts only consonant skeletons compare, and they say less
        # than the aligned parts: kept within a tenth of those.
        sort_ratio = max(ratio(q.skeleton_key, r.skeleton_key),
                         _ordered_ratio(q.skeletons, r.skeletons, q, r, alignment)) / 100.0
        sort_ratio = min(max(sort_ratio * SKELETON_FACTOR, aligned - SORT_MARGIN),
                         aligned + SORT_MARGIN)
    else:
        sort_ratio = max(ratio(q.key, r.key),
                         _ordered_ratio(q.tokens, r.tokens, q, r, alignment)) / 100.0
    score = NAME_ALIGNED * aligned + NAME_SORT * sort_ratio
    return NameComparison(q, r, score, aligned, sort_ratio, alignment)


def _middle_weight(forms: NameForms, weights: Sequence[float], used: set[int]) -> float:
    """Weight of the unmatched parts that are middle names: between two matched
    parts, or patronymics ("Dmitry [Mikhailovich] Ivanov"), often left out."""
    if not used:
        return 0.0
    first, last = min(used), max(used)
    return sum(w for k, w in enumerate(weights)
               if k not in used and (first < k < last or is_patronymic(forms.tokens[k])))


def _ordered_ratio(qv: Sequence[str], rv: Sequence[str], q: NameForms, r: NameForms,
                   alignment: list) -> float:
    """Character ratio of the distinctive parts, the stored ones in the order of their partners.

    Sorting parts alphabetically before comparing (token_sort_ratio) puts
    "Wang Wei" and "Wong Wei" in different orders; following the alignment
    does not.
    """
    if not alignment:
        return 0.0
    partner = {i: j for i, j, _, _ in alignment}
    r_core = set(r.core)
    ordered = [partner[i] for i in q.core if partner.get(i) in r_core]
    ordered += [j for j in r.core if j not in set(ordered)]
    return ratio(" ".join(qv[i] for i in q.core if qv[i]), " ".join(rv[j] for j in ordered if rv[j]))


def _country(meta: Mapping) -> str | None:
    country = meta.get("country")
    return str(country).upper() if country else None


def best_pair(
    query_forms: Sequence[NameForms],
    entry_forms: Sequence[NameForms],
    cache: dict | None = None,
    weigh: Callable[[NameForms], Sequence[float]] | None = None,
) -> tuple[NameComparison | None, tuple[NameForms, NameForms] | None]:
    """The best-scoring (query name, stored name) pair of an entry.

    `cache` (one per query) reuses comparisons of names with identical text,
    which are frequent: many parties share a name. `weigh(forms)` gives the
    part weights to use (rarity-scaled by the index); None keeps the names' own.
    """
    best: NameComparison | None = None
    best_forms: tuple[NameForms, NameForms] | None = None
    for qi, q in enumerate(query_forms):
        if q.is_empty:
            continue
        qw = weigh(q) if weigh is not None else None
        parts = cache.setdefault(("parts", qi), {}) if cache is not None else None
        for r in entry_forms:
            if r.is_empty:
                continue
            key = (qi, r.text, r.kind)
            comparison = cache.get(key) if cache is not None else None
            if comparison is None:
                comparison = compare_names(q, r, qw, weigh(r) if weigh is not None else None,
                                           parts)
                if cache is not None:
                    cache[key] = comparison
            if best is None or comparison.score > best.score:
                best, best_forms = comparison, (q, r)
    return best, best_forms


def upper_bound(name_score: float) -> float:
    """The most the record-level signals other than identifiers can add."""
    return name_score + COUNTRY_MATCH + LEGAL_MATCH


def score_entry(
    query_forms: Sequence[NameForms],
    query_kind: str | None,
    query_country: str | None,
    query_identifiers: set[tuple[str, str]],
    entry_key: str,
    entry_forms: Sequence[NameForms],
    meta: Mapping,
    threshold: float,
    pair: tuple | None = None,
    stored_identifiers: set[tuple[str, str]] | frozenset | None = None,
) -> Hit | None:
    """Score one entry against a query; None when no name pair is comparable.

    `pair` is a precomputed `best_pair(query_forms, entry_forms)` result;
    `stored_identifiers` the entry's precomputed `identifier_keys`.
    """
    best, best_forms = pair if pair is not None else best_pair(query_forms, entry_forms)
    result = _adjusted(best, best_forms, query_kind, query_country, query_identifiers, meta,
                       stored_identifiers, explain=True)
    if result is None:
        return None
    score, signals = result
    return Hit(
        entry_key=entry_key,
        meta=meta,
        score=score,
        threshold=threshold,
        query_name=best.query_name if best else "",
        matched_name=best.stored_name if best else "",
        name_score=round(best.score if best else 0.0, 4),
        signals=tuple(signals),
        parts=best.parts if best else (),
    )


def entry_score(
    pair: tuple,
    query_kind: str | None,
    query_country: str | None,
    query_identifiers: set[tuple[str, str]],
    meta: Mapping,
    stored_identifiers: set[tuple[str, str]] | frozenset | None = None,
) -> float | None:
    """The score `score_entry` gives, without building the explanation."""
    result = _adjusted(pair[0], pair[1], query_kind, query_country, query_identifiers, meta,
                       stored_identifiers, explain=False)
    return None if result is None else result[0]


def _adjusted(best, best_forms, query_kind, query_country, query_identifiers, meta,
              stored_identifiers, explain: bool) -> tuple[float, list[Signal]] | None:
    """The name score moved by the record-level signals (and the signals, if `explain`)."""
    if stored_identifiers is None:
        stored_identifiers = ids.identifier_keys(meta.get("identifiers") or ())
    if query_identifiers and stored_identifiers:
        matches, conflicts = ids.compare(query_identifiers, stored_identifiers)
    else:
        matches, conflicts = [], []
    if best is None and not matches:
        return None
    name_score = best.score if best else 0.0
    signals: list[Signal] = []
    if explain and best is not None:
        signals.append(Signal("aligned_parts", round(best.aligned, 4),
                              round(NAME_ALIGNED * best.aligned, 4),
                              _describe_parts(best)))
        signals.append(Signal("token_sort_ratio", round(best.sort_ratio, 4),
                              round(NAME_SORT * best.sort_ratio, 4)))
    score = name_score
    stored_kind = best_forms[1].kind if best_forms else None
    if query_kind and stored_kind and query_kind != stored_kind:
        score += KIND_MISMATCH
        if explain:
            signals.append(Signal("kind_mismatch", f"{query_kind}/{stored_kind}", KIND_MISMATCH))
    if best_forms and best_forms[0].legal and best_forms[1].legal:
        q_legal, r_legal = set(best_forms[0].legal), set(best_forms[1].legal)
        if q_legal & r_legal:
            score += LEGAL_MATCH
            if explain:
                signals.append(Signal("legal_form_match", ",".join(sorted(q_legal & r_legal)),
                                      LEGAL_MATCH))
        else:
            score += LEGAL_MISMATCH
            if explain:
                signals.append(Signal("legal_form_mismatch",
                                      f"{','.join(sorted(q_legal))}/{','.join(sorted(r_legal))}",
                                      LEGAL_MISMATCH))
    stored_country = _country(meta)
    if query_country and stored_country:
        if query_country.upper() == stored_country:
            score += COUNTRY_MATCH
            if explain:
                signals.append(Signal("country_match", stored_country, COUNTRY_MATCH))
        else:
            score += COUNTRY_MISMATCH
            if explain:
                signals.append(Signal("country_mismatch",
                                      f"{query_country.upper()}/{stored_country}", COUNTRY_MISMATCH))
    for scheme in conflicts:
        score += IDENTIFIER_CONFLICT
        if explain:
            signals.append(Signal("identifier_conflict", scheme, IDENTIFIER_CONFLICT,
                                  "same scheme, different value"))
    if matches:
        before = min(max(score, 0.0), 1.0)
        after = min(1.0, max(before + IDENTIFIER_BOOST, IDENTIFIER_FLOOR))
        scheme, _ = matches[0]
        if explain:
            signals.append(Signal("identifier_match", scheme, round(after - before, 4),
                                  f"{len(matches)} identifier(s) agree"))
        score = after
    return round(min(max(score, 0.0), 1.0), 4), signals


def _describe_parts(comparison: NameComparison) -> str:
    pieces = [f"{p.query}~{p.stored}({p.how} {p.similarity:.2f})" for p in comparison.parts]
    pieces += [f"-{t}" for t in comparison.unmatched_query]
    pieces += [f"+{t}" for t in comparison.unmatched_stored]
    return " ".join(pieces)
