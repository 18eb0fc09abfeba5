"""How alike two name parts are: the part similarity the scorer aligns names with.

One script (both Latin, or both Arabic script):
    identical 1.0; otherwise `edit_similarity`, the mean of Jaro-Winkler and
    normalised optimal string alignment (compounds sharing an ending judged
    on what precedes it), for Latin parts also after rewriting German-style
    romanisations in English style (`english_style`); an identical metaphone
    raises a fair edit similarity to PHONETIC_SIMILARITY; a single letter
    against a name with that first letter is INITIAL_SIMILARITY; a Russian
    patronymic never aligns with a family name.
Across scripts (a Latin part and an Arabic-script part):
    identical consonant skeleton SKELETON_SIMILARITY (SHORT_SKELETON_SIMILARITY
    for a two-letter skeleton), else the best of SKELETON_FACTOR x edit
    similarity of the skeletons and CROSS_SCRIPT_FACTOR x edit similarity of
    the Latin spelling and the transcription (`transcription_similarity`).
Either way a shared symbol (rigour name symbol, name-variants cluster,
business class) gives SYMBOL_SIMILARITY, unless both parts are short Latin
parts that do not look alike at all; two parts listed as different names in
the same dictionary table never align ("distinct_names").
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler

from node.screening.forms import NameForms
from node.screening.transcription import skeleton

PART_CUTOFF = 0.75
SYMBOL_SIMILARITY = 0.95
SKELETON_SIMILARITY = 0.92
PHONETIC_SIMILARITY = 0.9
PHONETIC_FLOOR = 0.65
SHORT_SYMBOL_FLOOR = 0.5
CROSS_SCRIPT_FACTOR = 0.9
SKELETON_FACTOR = 0.85
SHORT_SKELETON_SIMILARITY = 0.76
COMPOUND_PREFIX = 0.6
SORT_MARGIN = 0.1
INITIAL_SIMILARITY = 0.8


_PATRONYMIC_ENDINGS = ("vich", "vitch", "vitsch", "witsch", "wich", "vna", "wna")


def is_patronymic(token: str) -> bool:
    """A Russian-style patronymic ("Sergeevich", "Iwanowna"): never aligned with a
    family name formed from the same given name ("Sergeev")."""
    return len(token) >= 6 and token.endswith(_PATRONYMIC_ENDINGS)


def edit_similarity(a: str, b: str, ending: int = 4) -> float:
    """Mean of Jaro-Winkler and normalised optimal-string-alignment similarity.

    Jaro-Winkler alone forgives too much between long names sharing a prefix
    or a suffix ("Schmidt" / "Schneider" 0.83); counting edits alone punishes
    transliteration variants. The mean keeps one-letter typos and spelling
    variants high and drops different names under the part cutoff.
    Compounds sharing an ending of `ending` letters or more ("Mikrokompleks" /
    "Gidrokompleks", "Geotekhnika" / "Biotekhnika") are judged on the parts
    before it when those are plainly different (two edits or more, and
    similarity under COMPOUND_PREFIX).
    """
    sim = 0.5 * (JaroWinkler.similarity(a, b) + OSA.normalized_similarity(a, b))
    shared = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        shared += 1
    if shared >= ending and min(len(a), len(b)) > shared:
        pa, pb = a[: len(a) - shared], b[: len(b) - shared]
        if max(len(pa), len(pb)) >= 2 and OSA.distance(pa, pb) >= 2:
            before = 0.5 * (JaroWinkler.similarity(pa, pb) + OSA.normalized_similarity(pa, pb))
            if before < COMPOUND_PREFIX:
                sim = min(sim, before)
    return sim


_GERMAN_STYLE = ("schtsch", "tsch", "sch", "w", "z")
_GERMAN_CANON = (("schtsch", "shch"), ("tsch", "ch"), ("sch", "sh"), ("w", "v"), ("tz", "ts"),
                 ("z", "ts"))


@lru_cache(maxsize=65536)
def english_style(token: str) -> str:
    """A German-style romanisation of a Cyrillic name in English style, else the token.

    German-style spellings (sch, tsch, w, z for ц: "Spezmasch", "Kusnezow",
    "Wladimirowitsch") are far from their English-style twins ("Spetsmash",
    "Kuznetsov", "Vladimirovich") by edit distance; rewritten, they are close.
    Used beside the spelling as written, never instead of it.
    """
    if not any(mark in token for mark in _GERMAN_STYLE):
        return token
    for old, new in _GERMAN_CANON:
        token = token.replace(old, new)
    return token


def latin_similarity(a: str, b: str) -> float:
    """Edit similarity of two Latin parts, also after rewriting German-style spellings."""
    sim = edit_similarity(a, b)
    ea, eb = english_style(a), english_style(b)
    if ea != a or eb != b:
        sim = max(sim, PHONETIC_SIMILARITY if ea == eb else edit_similarity(ea, eb))
    return sim


def _short_symbols_agree(a: str, b: str) -> bool:
    return edit_similarity(a, b) >= SHORT_SYMBOL_FLOOR


def transcription_similarity(latin: str, transcription: str) -> float:
    """A Latin part against the transcription of an Arabic-script part.

    Long vowels are written in Arabic script: "آریا" is "arya" like Arya;
    "و" is "w" where Latin spellings write v ("کاوش", Kavosh), "ي" is "y"
    where they write i, "ظ" is z or dh ("الظاهري", Al-Dhaheri), and a final
    Persian "ه" is often e ("سازه", Saze).
    """
    latin = latin.replace("v", "w").replace("y", "i")
    transcription = transcription.replace("y", "i")
    sim = edit_similarity(latin, transcription)
    if "z" in transcription:
        sim = max(sim, edit_similarity(latin, transcription.replace("z", "dh")))
    if len(transcription) > 2 and transcription.endswith("h"):  # Persian "سازه", Saze
        sim = max(sim, edit_similarity(latin, transcription[:-1] + "e"))
    return CROSS_SCRIPT_FACTOR * sim


@lru_cache(maxsize=65536)
def consonant_waw_skeleton(transcription: str) -> str:
    """The skeleton of an Arabic-script part read with "و" as the consonant v.

    Skeletons drop "و" as a long vowel (محمود, Mahmoud); in Persian names it
    is as often v ("کاوش" Kavosh, "جواد" Javad, "وحید" Vahid). "" when the
    part has no "و".
    """
    return skeleton(transcription.replace("w", "v")) if "w" in transcription else ""


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
        if is_patronymic(a) != is_patronymic(b):
            return 0.0, "patronymic_and_name"
        best, how = latin_similarity(a, b), "edit"
        if (q.phonetics[i] and q.phonetics[i] == r.phonetics[j]
                and PHONETIC_FLOOR <= best < PHONETIC_SIMILARITY):
            best, how = PHONETIC_SIMILARITY, "phonetic"
    elif qa and ra:
        # Same script: the transcriptions keep the long vowels, skeletons do not;
        # they are short, so a shared ending of three letters already counts.
        best, how = edit_similarity(a, b, ending=3), "edit"
    else:
        sa, sb = q.skeletons[i], r.skeletons[j]
        latin, transcription = (b, a) if qa else (a, b)
        latin_skel = sb if qa else sa
        if sa and (sa == sb or latin_skel == consonant_waw_skeleton(transcription)):
            best = SKELETON_SIMILARITY if len(latin_skel) >= 3 else SHORT_SKELETON_SIMILARITY
            how = "skeleton"
        elif len(sa) >= 2 and len(sb) >= 2:
            best, how = SKELETON_FACTOR * edit_similarity(sa, sb), "skeleton_edit"
        transcribed = transcription_similarity(latin, transcription)
        if transcribed > best:
            best, how = transcribed, "transcription_edit"
    qs, rs = q.symbol_sets[i], r.symbol_sets[j]
    if (not qa and not ra and len(a) <= 3 and len(b) <= 3 and best < SHORT_SYMBOL_FLOOR
            and not _short_symbols_agree(a, b)):
        qs = frozenset()  # "Ye" / "Jie", "Xin" / "Sun": name symbols too broad for short parts
    if qs and rs and best < SYMBOL_SIMILARITY:
        shared = qs & rs
        if shared:
            return SYMBOL_SIMILARITY, "symbol " + min(shared)
        if best < 1.0 and q.cluster_languages[i] & r.cluster_languages[j]:
            return 0.0, "distinct_names"
    return best, how


