"""Normalised forms of one party name, computed once when a record is stored.

`normalise_name(text, kind)` runs rigour's name analysis (prefix removal,
legal-form rewriting, Latin transliteration of Cyrillic/Greek/..., name-part
tagging and cross-script name symbols), then this module's own token rules:

- Arabic-script tokens get a consonantal transcription ("محمد" -> "mhmd")
  and are flagged `abjad`: they are compared on consonant skeletons only;
- "Abd"/"Abdul"/"عبد" is joined to the following name ("Abd al-Rahman" ->
  "abdalrahman"), the Arabic article "ال" is stripped, standalone "al"/"el"
  are dropped;
- legal forms (Ltd, LLC, ООО, GmbH, SARL, ذ.م.م ...) leave the token list
  and become legal classes (LLC, JSC, ...);
- generic business words ("trading", "شركة") and particles ("bin", "von")
  stay, with a low weight;
- every token carries its consonant skeleton, metaphone and symbols: rigour
  name symbols ("n:Q...") and cross-script dictionary clusters ("v:...").

The result, `NameForms`, is plain data and round-trips through JSON
(`to_dict` / `from_dict`), so the index can be rebuilt from storage without
recomputing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from rigour.names import NameTypeTag, analyze_names
from rigour.text.phonetics import metaphone
from rigour.text.translit import ascii_text

from node.screening import dictionary
from node.screening.errors import InvalidForms
from node.screening.transcription import (
    ABJADS,
    abjad_skeleton,
    dominant_script,
    skeleton,
    token_script,
    transcribe_arabic,
)

FORMS_VERSION = 2
#: Stored forms of these versions load; older ones may lack later token rules.
READABLE_VERSIONS = (1, 2)
KINDS = ("person", "organisation")

PARTICLE_WEIGHT = 0.25
GENERIC_WEIGHT = 0.25
INITIAL_WEIGHT = 0.5

_ABD_LATIN = frozenset(
    {"abd", "abdul", "abdel", "abdal", "abdol", "abdu", "abdur", "abdus", "abdoul", "abdou"}
)
_ABD_ARABIC = frozenset({"عبد"})
_ARTICLES_LATIN = frozenset({"al", "el", "ul", "ar", "ur", "ad", "as", "an", "at", "az", "ash"})
_DROP_LATIN = frozenset({"al", "el", "the", "and", "of", "und", "et", "i"})
_PARTICLES = frozenset(
    {
        "bin", "ibn", "bint", "ben", "abu", "abou", "bou", "ould", "de", "del", "della",
        "der", "den", "van", "von", "da", "di", "du", "dos", "das", "la", "le", "y", "zu",
        "bn",
    }
)
_PARTICLES_ARABIC = frozenset({"بن", "ابن", "بنت", "ابو", "أبو", "بو"})
_ARABIC_PREFIXES = ("وال", "بال", "لل", "ال")
_ARABIC_LEGAL = {"ذمم": "LLC", "ذممم": "LLC", "شمم": "JSC", "شمل": "JSC", "شذمم": "LLC"}
# Letters only Persian (and Urdu) writing uses: such names keep "ال" (Alborz).
_PERSIAN_LETTERS = frozenset("پچژگکی")
# Legal-form words rigour leaves as name parts (by part form), for organisations.
_LEGAL_LATIN = {"aş": "JSC", "pvt": "LLC", "pte": "LLC", "şti": "LLC", "sti": "LLC", "bhd": "LLC",
                "sdn": "LLC"}
# Arabic and Persian business words, with the rigour org symbol of their English sense.
_GENERIC_ARABIC = {
    "شركة": "CO", "شركه": "CO", "مؤسسة": "CO", "مجموعة": "GRP", "تجارة": "TRADE",
    "تجارية": "TRADE", "عامة": "GENERAL", "صناعية": "INDUSTRY", "صناعات": "INDUSTRY",
    "صناعة": "INDUSTRY", "دولية": "INTL", "استيراد": "IMPORT", "تصدير": "EXPORT",
    "هندسة": "ENG", "هندسية": "ENG", "تكنولوجيا": "TECH", "تقنية": "TECH",
    "خدمات": "SERVICE", "معدات": "EQUIPMENT", "مصنع": "FACTORY", "قابضة": "HOLDING",
    "نقل": "TRANSPORT", "مقاولات": "CONTRACTING", "نفطية": "OIL", "نفط": "OIL",
    "شرکت": "CO", "صنعت": "INDUSTRY", "صنایع": "INDUSTRY", "صنعتی": "INDUSTRY",
    "فناوری": "TECH", "مهندسی": "ENG", "بازرگانی": "TRADE", "توسعه": "DEV",
    "گروه": "GRP", "بین‌المللی": "INTL",
}
# Latin business words rigour does not tag, with the symbol of their sense; the
# Persian ones are transcriptions of the Persian words above.
_GENERIC_LATIN_SYMBOLS = {
    "contracting": "CONTRACTING", "contractors": "CONTRACTING", "oilfield": "OIL",
    "petroleum": "OIL", "sanat": "INDUSTRY", "sanaat": "INDUSTRY", "sanaye": "INDUSTRY",
    "sanayeh": "INDUSTRY", "fanavari": "TECH", "mohandesi": "ENG", "bazargani": "TRADE",
    "tosee": "DEV", "toseeh": "DEV", "sherkat": "CO", "company": "CO",
}
_GENERIC_LATIN = frozenset(
    {
        "trading", "trade", "traders", "company", "co", "corp", "corporation", "group",
        "holding", "holdings", "international", "intl", "industries", "industrial",
        "industry", "industrie", "technologies", "technology", "tech", "engineering",
        "enterprises", "enterprise", "services", "service", "systems", "system",
        "solutions", "import", "export", "logistics", "general", "global", "supply",
        "supplies", "equipment", "manufacturing", "electronics", "machinery", "products",
        "materials", "development", "investment", "investments", "partners", "establishment",
        "est", "factory", "plant", "works", "handel", "handels", "technik", "gruppe",
        "kompaniya", "gruppa", "torgovyy", "torgovyi", "dom", "zavod", "predpriyatie",
        "obedinenie", "nauchno", "proizvodstvennoe", "tehnologii", "tekhnologii",
        "sanayi", "ticaret", "societe", "sociedad", "commerce", "commercial", "fze", "fzco",
        "components", "instruments", "precision", "optics", "automation", "metals", "chemicals",
        "chemical", "energy", "marine", "aerospace", "aviation", "transport", "power", "mining",
        "construction", "shipping", "consulting", "research", "laboratory", "laboratories",
        "networks", "telecom", "communications", "resources", "ventures", "private",
        *_GENERIC_LATIN_SYMBOLS,
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NAME_SYMBOLS = ("NAME", "NICK")
_GENERIC_SYMBOLS = ("SYMBOL", "DOMAIN")


@dataclass(frozen=True)
class NameForms:
    """Normalised forms of one name; parallel tuples, one slot per token."""

    text: str
    kind: str | None
    script: str
    tokens: tuple[str, ...]
    skeletons: tuple[str, ...]
    phonetics: tuple[str, ...]
    symbols: tuple[tuple[str, ...], ...]
    weights: tuple[float, ...]
    abjad: tuple[bool, ...]
    legal: tuple[str, ...] = ()
    version: int = FORMS_VERSION

    @cached_property
    def core(self) -> tuple[int, ...]:
        """Token positions that distinguish the name (no particles, no business words)."""
        core = tuple(i for i, w in enumerate(self.weights) if w > GENERIC_WEIGHT)
        return core or tuple(range(len(self.tokens)))

    @cached_property
    def key(self) -> str:
        """Sorted distinctive Latin tokens: `fuzz.ratio` over keys is token_sort_ratio."""
        return " ".join(sorted(self.tokens[i] for i in self.core))

    @cached_property
    def skeleton_key(self) -> str:
        """Sorted distinctive consonant skeletons, for matching across Arabic script."""
        return " ".join(sorted(self.skeletons[i] for i in self.core if self.skeletons[i]))

    @cached_property
    def index_keys(self) -> tuple[tuple[str, ...], ...]:
        """Exact keys per token for the key index: symbols, skeleton, phonetic."""
        keys = []
        for i, token in enumerate(self.tokens):
            own = list(self.symbols[i])
            if len(self.skeletons[i]) >= 2:
                own.append("s:" + self.skeletons[i])
            if self.phonetics[i] and len(self.phonetics[i]) >= 2:
                own.append("p:" + self.phonetics[i])
            keys.append(tuple(own))
        return tuple(keys)

    @cached_property
    def symbol_sets(self) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(s) for s in self.symbols)

    @cached_property
    def cluster_sets(self) -> tuple[frozenset[str], ...]:
        """Cross-script dictionary clusters only ("v:..."), per token."""
        return tuple(frozenset(x for x in s if x.startswith("v:")) for s in self.symbols)

    @cached_property
    def cluster_languages(self) -> tuple[frozenset[str], ...]:
        """Dictionary tables ("arabic", "russian", ...) each token is listed in."""
        return tuple(frozenset(c.split(":", 2)[1] for c in s) for s in self.cluster_sets)

    @cached_property
    def total_weight(self) -> float:
        return sum(self.weights)

    @property
    def is_empty(self) -> bool:
        return not self.tokens

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "text": self.text,
            "kind": self.kind,
            "script": self.script,
            "tokens": list(self.tokens),
            "skeletons": list(self.skeletons),
            "phonetics": list(self.phonetics),
            "symbols": [list(s) for s in self.symbols],
            "weights": list(self.weights),
            "abjad": list(self.abjad),
            "legal": list(self.legal),
        }

    @classmethod
    def from_dict(cls, data: dict) -> NameForms:
        try:
            if data["version"] not in READABLE_VERSIONS:
                raise InvalidForms(f"unsupported NameForms version {data['version']!r}")
            tokens = tuple(map(str, data["tokens"]))
            forms = cls(
                text=str(data["text"]),
                kind=data["kind"],
                script=str(data["script"]),
                tokens=tokens,
                skeletons=tuple(map(str, data["skeletons"])),
                phonetics=tuple(map(str, data["phonetics"])),
                symbols=tuple(tuple(map(str, s)) for s in data["symbols"]),
                weights=tuple(map(float, data["weights"])),
                abjad=tuple(map(bool, data["abjad"])),
                legal=tuple(map(str, data.get("legal", ()))),
                version=int(data["version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidForms(f"malformed NameForms: {exc}") from exc
        n = len(tokens)
        lengths = {len(forms.skeletons), len(forms.phonetics), len(forms.symbols),
                   len(forms.weights), len(forms.abjad)}
        if lengths != {n}:
            raise InvalidForms("NameForms token lists differ in length")
        if forms.kind not in (None, *KINDS):
            raise InvalidForms(f"unknown kind {forms.kind!r}")
        return forms


@dataclass
class _Token:
    form: str  # native-script form (lowercase)
    latin: str
    abjad: bool
    parts: frozenset[int]
    symbols: set[str] = field(default_factory=set)
    generic: bool = False
    particle: bool = False


def _latin_of(native: str, comparable: str) -> tuple[str, bool]:
    script = token_script(native)
    if script in ABJADS:
        return transcribe_arabic(native), True
    if not comparable.isascii():
        comparable = ascii_text(comparable)
    return _NON_ALNUM.sub("", comparable.lower()), False


def _strip_arabic_article(form: str) -> str:
    for prefix in _ARABIC_PREFIXES:
        if form.startswith(prefix) and len(form) - len(prefix) >= 2:
            return form[len(prefix):]
    return form


def _merge_abd(tokens: list[_Token]) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        is_abd = (tok.latin in _ABD_LATIN and not tok.abjad) or tok.form in _ABD_ARABIC
        if is_abd and i + 1 < len(tokens):
            group = [tok, tokens[i + 1]]
            if (
                not tok.abjad
                and tokens[i + 1].latin in _ARTICLES_LATIN
                and i + 2 < len(tokens)
            ):
                group.append(tokens[i + 2])
            merged = _Token(
                form="".join(t.form for t in group),
                latin="".join(t.latin for t in group),
                abjad=tok.abjad,
                parts=frozenset().union(*(t.parts for t in group)),
            )
            out.append(merged)
            i += len(group)
            continue
        out.append(tok)
        i += 1
    return out


def _analyse(text: str, kind: str | None):
    """Run rigour; return (Name or None, effective kind)."""
    if kind == "person":
        names = analyze_names(NameTypeTag.PER, [text], consolidate=False, phonetics=False)
        return next(iter(names), None), "person"
    org = analyze_names(NameTypeTag.ORG, [text], consolidate=False, phonetics=False)
    name = next(iter(org), None)
    if kind == "organisation" or name is None:
        return name, "organisation"
    looks_org = any(p.tag.value == "LEGAL" for p in name.parts) or any(
        s.symbol.category.value in ("ORGCLS", "SYMBOL", "DOMAIN") for s in name.spans
    ) or any(
        p.form in _LEGAL_LATIN or p.comparable in _GENERIC_LATIN
        or _strip_arabic_article(p.form) in _GENERIC_ARABIC
        for p in name.parts if len(name.parts) > 1
    )
    if looks_org:
        return name, "organisation"
    per = analyze_names(NameTypeTag.PER, [text], consolidate=False, phonetics=False)
    return next(iter(per), name), "person"


def _raw_tokens(name, effective_kind: str) -> tuple[list[_Token], list[str]]:
    parts = sorted(name.parts, key=lambda p: p.index)
    by_part: dict[int, set[str]] = {}
    generic_parts: set[int] = set()
    legal_parts: dict[int, str] = {}
    multi_spans: list[tuple[frozenset[int], str]] = []
    for span in name.spans:
        category = span.symbol.category.value
        indices = frozenset(p.index for p in span.parts)
        if category in _NAME_SYMBOLS:
            if len(indices) == 1:
                by_part.setdefault(next(iter(indices)), set()).add("n:" + span.symbol.id)
            else:
                multi_spans.append((indices, "n:" + span.symbol.id))
        elif category in _GENERIC_SYMBOLS and effective_kind == "organisation":
            generic_parts.update(indices)
            if len(indices) == 1:
                by_part.setdefault(next(iter(indices)), set()).add("o:" + span.symbol.id)
        elif category == "ORGCLS":
            for idx in indices:
                legal_parts[idx] = span.symbol.id
    tokens: list[_Token] = []
    legal: list[str] = []
    for part in parts:
        if part.tag.value == "LEGAL" or part.index in legal_parts:
            legal.append(legal_parts.get(part.index, part.comparable.upper()))
            continue
        if effective_kind == "organisation" and part.form in _LEGAL_LATIN and len(parts) > 1:
            legal.append(_LEGAL_LATIN[part.form])
            continue
        latin, abjad = _latin_of(part.form, part.comparable)
        if not latin:
            continue
        tok = _Token(part.form, latin, abjad, frozenset({part.index}))
        tok.symbols.update(by_part.get(part.index, ()))
        tok.generic = part.index in generic_parts
        tokens.append(tok)
    tokens = _merge_abd(tokens)
    for tok in tokens:
        if len(tok.parts) > 1:
            for indices, symbol in multi_spans:
                if indices == tok.parts:
                    tok.symbols.add(symbol)
    return tokens, legal


def _finish(tokens: list[_Token], legal: list[str], effective_kind: str,
            persian: bool = False) -> list[_Token]:
    out: list[_Token] = []
    for tok in tokens:
        if tok.abjad:
            if tok.form in _ARABIC_LEGAL:
                legal.append(_ARABIC_LEGAL[tok.form])
                continue
            if not persian and tok.form not in _ABD_ARABIC and not tok.form.startswith("عبد"):
                stripped = _strip_arabic_article(tok.form)
                if stripped != tok.form:
                    tok.form = stripped
                    tok.latin = transcribe_arabic(stripped)
            tok.particle = tok.form in _PARTICLES_ARABIC
            if tok.form in _GENERIC_ARABIC:
                tok.generic = True
                tok.symbols.add("o:" + _GENERIC_ARABIC[tok.form])
        else:
            if tok.latin in _DROP_LATIN and len(tokens) > 1:
                continue
            tok.particle = tok.latin in _PARTICLES
            tok.generic = tok.generic or (
                effective_kind == "organisation" and tok.latin in _GENERIC_LATIN
            )
            if tok.generic and tok.latin in _GENERIC_LATIN_SYMBOLS:
                tok.symbols.add("o:" + _GENERIC_LATIN_SYMBOLS[tok.latin])
        if tok.latin:
            out.append(tok)
    return out


def dictionary_keys(form: str) -> list[str]:
    """The dictionary key of a one-token name form, or [] (see dictionary.py)."""
    latin, abjad = _latin_of(form.lower(), form.lower())
    if not abjad:
        latin = _NON_ALNUM.sub("", ascii_text(form).lower())
    if not latin:
        return []
    if abjad:
        stripped = _strip_arabic_article(form)
        keys = {"a:" + latin, "a:" + transcribe_arabic(stripped)}
        return sorted(keys)
    return ["l:" + latin]


def _token_key(tok: _Token) -> str:
    return ("a:" if tok.abjad else "l:") + tok.latin


def normalise_name(text: str, kind: str | None = None) -> NameForms:
    """Compute the stored forms of one party name.

    `kind` is "person", "organisation" or None (decided from the name: a legal
    form or a business word makes it an organisation). The stored `kind`
    stays as given, so an unknown kind never causes a kind-mismatch penalty.
    """
    if kind not in (None, *KINDS):
        raise ValueError(f"kind must be one of {KINDS} or None, not {kind!r}")
    text = text or ""
    script = dominant_script(text)
    name, effective_kind = _analyse(text, kind)
    if name is None:
        return NameForms(text, kind, script, (), (), (), (), (), (), ())
    raw, legal = _raw_tokens(name, effective_kind)
    tokens = _finish(raw, legal, effective_kind, persian=bool(_PERSIAN_LETTERS & set(text)))
    skeletons, phonetics, symbols, weights, abjad = [], [], [], [], []
    for tok in tokens:
        skel = abjad_skeleton(tok.form) if tok.abjad else skeleton(tok.latin)
        skeletons.append(skel)
        phonetics.append("" if tok.abjad or tok.latin.isdigit() else metaphone(tok.latin))
        syms = set(tok.symbols)
        syms.update(dictionary.clusters(_token_key(tok), dictionary_keys))
        symbols.append(tuple(sorted(syms)))
        if tok.particle:
            weights.append(PARTICLE_WEIGHT)
        elif tok.generic:
            weights.append(GENERIC_WEIGHT)
        elif len(tok.latin) == 1 and not tok.abjad:
            weights.append(INITIAL_WEIGHT)
        else:
            weights.append(1.0)
        abjad.append(tok.abjad)
    return NameForms(
        text=text,
        kind=kind,
        script=script,
        tokens=tuple(t.latin for t in tokens),
        skeletons=tuple(skeletons),
        phonetics=tuple(phonetics),
        symbols=tuple(symbols),
        weights=tuple(weights),
        abjad=tuple(abjad),
        legal=tuple(sorted(set(legal))),
    )
