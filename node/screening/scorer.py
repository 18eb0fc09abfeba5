"""The careful scorer: compares a query with one indexed entry and explains why.

Name similarity (per pair of query name x stored name, the best pair wins):

    aligned    name parts aligned one-to-one, greedily by similarity, where a
               part pair scores: 1.0 identical; 0.95 shared name symbol
               (rigour name symbol or cross-script dictionary cluster); 0.92
               identical consonant skeleton when one side is Arabic script;
               0.9 identical metaphone; Jaro-Winkler otherwise (0.8 for an
               initial against a name with that first letter). Pairs under
               0.75 do not align. Two parts listed as different names in the
               same dictionary table ("hassan" / "hussein") do not align.
               aligned = sum(similarity * weights of the pair) / (weights of
               the aligned parts + UNMATCHED_FACTOR * weights of the parts
               left over on either side): a missing middle name costs about
               an eighth, a one-word query against a three-word name scores
               about 0.6.
    sort_ratio token_sort_ratio of the Latin forms (of consonant skeletons
               when one side is Arabic script).
    name       NAME_ALIGNED * aligned + NAME_SORT * sort_ratio.

Then record-level signals move the score: country match / mismatch, person
vs organisation mismatch, legal-form match / mismatch, identifier match (very
strong: the score becomes at least IDENTIFIER_FLOOR) or conflict. WRatio and
token_set_ratio are deliberately not used: a name that is a subset of
another would score 100 and flood analysts with alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import ratio

from node.screening import identifiers as ids
from node.screening.forms import NameForms

PART_CUTOFF = 0.75
SYMBOL_SIMILARITY = 0.95
SKELETON_SIMILARITY = 0.92
PHONETIC_SIMILARITY = 0.9
INITIAL_SIMILARITY = 0.8
NAME_ALIGNED = 0.7
UNMATCHED_FACTOR = 0.6
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


@dataclass(frozen=True)
class NameComparison:
    query_name: str
    stored_name: str
    score: float
    aligned: float
    sort_ratio: float
    parts: tuple[PartMatch, ...]
    unmatched_query: tuple[str, ...]
    unmatched_stored: tuple[str, ...]


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


def part_similarity(q: NameForms, i: int, r: NameForms, j: int) -> tuple[float, str]:
    """Similarity of query part i and stored part j, with how it was found."""
    qa, ra = q.abjad[i], r.abjad[j]
    a, b = q.tokens[i], r.tokens[j]
    if a == b and qa == ra:
        return 1.0, "exact"
    best, how = 0.0, ""
    if not qa and not ra:
        if len(a) == 1 or len(b) == 1:
            return (INITIAL_SIMILARITY, "initial") if a[0] == b[0] else (0.0, "")
        best, how = JaroWinkler.similarity(a, b), "jaro_winkler"
        if q.phonetics[i] and q.phonetics[i] == r.phonetics[j] and best < PHONETIC_SIMILARITY:
            best, how = PHONETIC_SIMILARITY, "phonetic"
    else:
        sa, sb = q.skeletons[i], r.skeletons[j]
        if sa and sa == sb:
            best, how = SKELETON_SIMILARITY, "skeleton"
        elif len(sa) >= 2 and len(sb) >= 2:
            best, how = 0.9 * JaroWinkler.similarity(sa, sb), "skeleton_jaro_winkler"
    qs, rs = q.symbol_sets[i], r.symbol_sets[j]
    if qs and rs and best < SYMBOL_SIMILARITY:
        shared = qs & rs
        if shared:
            return SYMBOL_SIMILARITY, "symbol " + min(shared)
        if best < 1.0 and q.cluster_languages[i] & r.cluster_languages[j]:
            return 0.0, "distinct_names"
    return best, how


def compare_names(q: NameForms, r: NameForms) -> NameComparison:
    """Align the parts of two names and score the pair in [0, 1]."""
    pairs = []
    for i in range(len(q.tokens)):
        for j in range(len(r.tokens)):
            sim, how = part_similarity(q, i, r, j)
            if sim >= PART_CUTOFF:
                pairs.append((sim, q.weights[i] + r.weights[j], i, j, how))
    pairs.sort(key=lambda p: (-p[0], -p[1], p[2], p[3]))
    used_q: set[int] = set()
    used_r: set[int] = set()
    matched = 0.0
    parts = []
    for sim, weight, i, j, how in pairs:
        if i in used_q or j in used_r:
            continue
        used_q.add(i)
        used_r.add(j)
        matched += sim * weight
        parts.append(PartMatch(q.tokens[i], r.tokens[j], round(sim, 4), how))
    paired = sum(q.weights[i] for i in used_q) + sum(r.weights[j] for j in used_r)
    unpaired = q.total_weight + r.total_weight - paired
    total = paired + UNMATCHED_FACTOR * unpaired
    aligned = matched / total if total else 0.0
    if any(q.abjad) or any(r.abjad):
        sort_ratio = ratio(q.skeleton_key, r.skeleton_key) / 100.0
    else:
        sort_ratio = ratio(q.key, r.key) / 100.0
    score = NAME_ALIGNED * aligned + NAME_SORT * sort_ratio
    return NameComparison(
        query_name=q.text,
        stored_name=r.text,
        score=score,
        aligned=aligned,
        sort_ratio=sort_ratio,
        parts=tuple(parts),
        unmatched_query=tuple(t for k, t in enumerate(q.tokens) if k not in used_q),
        unmatched_stored=tuple(t for k, t in enumerate(r.tokens) if k not in used_r),
    )


def _country(meta: Mapping) -> str | None:
    country = meta.get("country")
    return str(country).upper() if country else None


def best_pair(
    query_forms: Sequence[NameForms],
    entry_forms: Sequence[NameForms],
    cache: dict | None = None,
) -> tuple[NameComparison | None, tuple[NameForms, NameForms] | None]:
    """The best-scoring (query name, stored name) pair of an entry.

    `cache` (one per query) reuses comparisons of names with identical text,
    which are frequent: many parties share a name.
    """
    best: NameComparison | None = None
    best_forms: tuple[NameForms, NameForms] | None = None
    for qi, q in enumerate(query_forms):
        if q.is_empty:
            continue
        for r in entry_forms:
            if r.is_empty:
                continue
            key = (qi, r.text, r.kind)
            comparison = cache.get(key) if cache is not None else None
            if comparison is None:
                comparison = compare_names(q, r)
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
) -> Hit | None:
    """Score one entry against a query; None when no name pair is comparable.

    `pair` is a precomputed `best_pair(query_forms, entry_forms)` result.
    """
    best, best_forms = pair if pair is not None else best_pair(query_forms, entry_forms)
    stored_ids = ids.identifier_keys(meta.get("identifiers") or ())
    matches, conflicts = ids.compare(query_identifiers, stored_ids)
    if best is None and not matches:
        return None
    name_score = best.score if best else 0.0
    signals = []
    if best is not None:
        signals.append(Signal("aligned_parts", round(best.aligned, 4),
                              round(NAME_ALIGNED * best.aligned, 4),
                              _describe_parts(best)))
        signals.append(Signal("token_sort_ratio", round(best.sort_ratio, 4),
                              round(NAME_SORT * best.sort_ratio, 4)))
    score = name_score
    stored_kind = best_forms[1].kind if best_forms else None
    if query_kind and stored_kind and query_kind != stored_kind:
        score += KIND_MISMATCH
        signals.append(Signal("kind_mismatch", f"{query_kind}/{stored_kind}", KIND_MISMATCH))
    if best_forms and best_forms[0].legal and best_forms[1].legal:
        q_legal, r_legal = set(best_forms[0].legal), set(best_forms[1].legal)
        if q_legal & r_legal:
            score += LEGAL_MATCH
            signals.append(Signal("legal_form_match", ",".join(sorted(q_legal & r_legal)),
                                  LEGAL_MATCH))
        else:
            score += LEGAL_MISMATCH
            signals.append(Signal("legal_form_mismatch",
                                  f"{','.join(sorted(q_legal))}/{','.join(sorted(r_legal))}",
                                  LEGAL_MISMATCH))
    stored_country = _country(meta)
    if query_country and stored_country:
        if query_country.upper() == stored_country:
            score += COUNTRY_MATCH
            signals.append(Signal("country_match", stored_country, COUNTRY_MATCH))
        else:
            score += COUNTRY_MISMATCH
            signals.append(Signal("country_mismatch",
                                  f"{query_country.upper()}/{stored_country}", COUNTRY_MISMATCH))
    for scheme in conflicts:
        score += IDENTIFIER_CONFLICT
        signals.append(Signal("identifier_conflict", scheme, IDENTIFIER_CONFLICT,
                              "same scheme, different value"))
    if matches:
        before = min(max(score, 0.0), 1.0)
        after = min(1.0, max(before + IDENTIFIER_BOOST, IDENTIFIER_FLOOR))
        scheme, value = matches[0]
        signals.append(Signal("identifier_match", scheme, round(after - before, 4),
                              f"{len(matches)} identifier(s) agree"))
        score = after
    score = round(min(max(score, 0.0), 1.0), 4)
    return Hit(
        entry_key=entry_key,
        meta=meta,
        score=score,
        threshold=threshold,
        query_name=best.query_name if best else "",
        matched_name=best.stored_name if best else "",
        name_score=round(name_score, 4),
        signals=tuple(signals),
        parts=best.parts if best else (),
    )


def _describe_parts(comparison: NameComparison) -> str:
    pieces = [f"{p.query}~{p.stored}({p.how} {p.similarity:.2f})" for p in comparison.parts]
    pieces += [f"-{t}" for t in comparison.unmatched_query]
    pieces += [f"+{t}" for t in comparison.unmatched_stored]
    return " ".join(pieces)
