"""Script detection, Arabic-script transcription and consonant skeletons.

Generic transliteration of Arabic and Persian script drops the short vowels
("محمد" -> "mhmd"), so a Latin spelling ("Muhammad") and the original script
only meet on their consonants. This module provides:

- `dominant_script(text)`: ISO 15924 code of the script most letters use;
- `transcribe_arabic(token)`: a consonantal Latin rendering of an
  Arabic-script token, one Latin letter (or digraph) per Arabic letter;
- `skeleton(latin)`: the vowel-less consonant skeleton of a Latin token,
  with digraphs folded (kh/h, sh/s, ...), letters Latin spellings of one
  Arabic letter use interchangeably folded (q/k/g/c, z/s, v/f, p/b), and
  doubled letters collapsed, so
  that "mohammed", "muhammad", "mukhammad" and the transcription of "محمد"
  all give "mhmd".
"""

from __future__ import annotations

import re
import unicodedata

from rigour.text.scripts import text_scripts

SCRIPT_CODES = {
    "Latin": "Latn",
    "Cyrillic": "Cyrl",
    "Arabic": "Arab",
    "Greek": "Grek",
    "Hebrew": "Hebr",
    "Armenian": "Armn",
    "Georgian": "Geor",
    "Han": "Hani",
    "Hangul": "Hang",
    "Hiragana": "Jpan",
    "Katakana": "Jpan",
    "Devanagari": "Deva",
    "Thai": "Thai",
}

# Scripts written without short vowels: their Latin form is only a skeleton.
ABJADS = frozenset({"Arab", "Hebr"})

_ARABIC_LETTERS = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ء": "", "ؤ": "",
    "ئ": "", "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh",
    "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s",
    "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q",
    "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "ة": "a", "و": "w",
    "ي": "y", "ى": "a", "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k",
    "ی": "y", "ۀ": "a", "ھ": "h", "ڤ": "v",
}
_ARABIC_DIGITS = {chr(0x0660 + i): str(i) for i in range(10)}
_ARABIC_DIGITS.update({chr(0x06F0 + i): str(i) for i in range(10)})

_HEBREW_LETTERS = {
    "א": "", "ב": "b", "ג": "g", "ד": "d", "ה": "h", "ו": "v", "ז": "z",
    "ח": "kh", "ט": "t", "י": "y", "כ": "k", "ך": "k", "ל": "l", "מ": "m",
    "ם": "m", "נ": "n", "ן": "n", "ס": "s", "ע": "", "פ": "p", "ף": "f",
    "צ": "ts", "ץ": "ts", "ק": "k", "ר": "r", "ש": "sh", "ת": "t",
}

# Digraphs folded before vowels are dropped. Order matters: longest first.
_DIGRAPHS = (
    ("shch", "s"), ("sch", "s"), ("tch", "c"), ("kh", "h"), ("gh", "g"),
    ("sh", "s"), ("ch", "c"), ("zh", "j"), ("dj", "j"), ("th", "t"),
    ("dh", "d"), ("ph", "f"), ("ck", "k"), ("ts", "s"), ("tz", "s"),
)
# g joins k: Arabic ق and غ and Persian گ are written q, k, g or gh in Latin.
_FOLD = str.maketrans({"q": "k", "c": "k", "x": "k", "g": "k", "v": "f", "p": "b", "z": "s"})
_VOWELS = re.compile(r"[aeiouyw']+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def dominant_script(text: str) -> str:
    """The ISO 15924 code of the script most letters of `text` are in."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        scripts = text_scripts(char)
        for script in scripts:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "Zyyy"
    best = max(counts.items(), key=lambda item: item[1])[0]
    return SCRIPT_CODES.get(best, best[:4].title())


def token_script(token: str) -> str:
    """Script code of a single token (first letter decides)."""
    for char in token:
        if char.isalpha():
            return dominant_script(char)
    return "Zyyy"


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def transcribe_arabic(token: str) -> str:
    """Consonantal Latin rendering of an Arabic- or Hebrew-script token."""
    out = []
    for char in _strip_marks(token):
        if char in _ARABIC_LETTERS:
            out.append(_ARABIC_LETTERS[char])
        elif char in _HEBREW_LETTERS:
            out.append(_HEBREW_LETTERS[char])
        elif char in _ARABIC_DIGITS:
            out.append(_ARABIC_DIGITS[char])
        elif char.isascii() and char.isalnum():
            out.append(char.lower())
    return "".join(out)


def _collapse(core: str) -> str:
    if not core:
        return ""
    collapsed = [core[0]]
    for char in core[1:]:
        if char != collapsed[-1]:
            collapsed.append(char)
    result = "".join(collapsed)
    if len(result) > 2 and result.endswith("h"):
        result = result[:-1]
    return result


def abjad_skeleton(token: str) -> str:
    """Consonant skeleton of an Arabic- or Hebrew-script token.

    Letters map straight to the folded consonant classes `skeleton` uses for
    Latin text, so no false digraph appears ("زهراء" -> "shr", like "zahra").
    """
    out = []
    for char in _strip_marks(token):
        latin = _ARABIC_LETTERS.get(char)
        if latin is None:
            latin = _HEBREW_LETTERS.get(char)
        if latin is None:
            latin = _ARABIC_DIGITS.get(char, "")
        if latin in ("a", "i", "w", "y"):
            continue
        out.append(skeleton(latin) if len(latin) > 1 else latin.translate(_FOLD))
    return _collapse("".join(out))


def skeleton(latin: str) -> str:
    """Vowel-less consonant skeleton of a Latin token ("mohammed" -> "mhmd")."""
    text = _NON_ALNUM.sub("", latin.lower())
    if not text:
        return ""
    if text.isdigit():
        return text
    for digraph, repl in _DIGRAPHS:
        if digraph in text:
            text = text.replace(digraph, repl)
    text = text.translate(_FOLD)
    core = _VOWELS.sub("", text)
    if not core:
        return text[:1]
    return _collapse(core)
