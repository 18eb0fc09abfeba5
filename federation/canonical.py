"""Canonical JSON: RFC 8785 (JCS) for JSON values without floats.

Public API::

    canonical_bytes(obj) -> bytes      # serialize, raise NotCanonical if impossible
    canonical_bytes_of_parsed(obj) -> bytes  # the same for values built from parsed JSON, faster
    parse_canonical(data: bytes) -> obj  # parse, raise NotCanonical unless data
                                         # is exactly canonical_bytes(result)
    MAX_SAFE_INTEGER = 2**53 - 1

Accepted values: ``dict`` with ``str`` keys, ``list``, ``str``, ``int`` within
+-(2**53 - 1), ``True``, ``False``, ``None``. Everything else (floats, NaN,
bigger integers, tuples, bytes, non-string keys, strings holding lone
surrogates, nesting deeper than ``MAX_DEPTH``) raises ``NotCanonical``.
Subclasses of these types are accepted and serialized as their base type.

Output is UTF-8 without whitespace, object members sorted by the UTF-16
code units of their names, strings escaped as ECMAScript ``JSON.stringify``
does (``\\b \\f \\n \\r \\t \\" \\\\``, other controls below U+0020 as
``\\u00xx`` with lowercase hex, everything else literal).

Speed: ``canonical_bytes`` makes one validating walk, then uses Python's C
JSON encoder, which produces exactly these bytes when all object names are in
the Basic Multilingual Plane (code point order and UTF-16 order agree
there), or a slower exact path for names with astral-plane characters.
``canonical_bytes_of_parsed`` takes orjson's sorted compact output instead
when the screens below show it is the canonical form, for values known to
hold only JSON types (it cannot tell a tuple from a list).

``parse_canonical`` reads an object or array with orjson and compares the
bytes with orjson's sorted compact output, which for these values is
byte for byte the canonical form (same escapes; code point order) when
nothing in the text can be a float or an astral-plane character and no
integer exceeds 53 bits (orjson refuses to write those). Text where a float
or an astral character might occur (a number token with a fraction or
exponent, a 4-byte UTF-8 sequence; the screens also match some strings) and
every text orjson refuses to read or write back takes the strict path: the
standard library's decoder with hooks that refuse floats and unsafe
integers, then the canonical encoding of the result.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring as _quote

import orjson

from federation.errors import NotCanonical

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_BELOW_ASTRAL_LEAD = bytes(range(0xF0))  # deleting these leaves only 4-byte UTF-8 lead bytes
# Screens for the orjson paths. A number token of canonical JSON follows '":' (a member name), "[" or
# ",". With digits and "-" deleted and ".", "e", "E" read ".", a float leaves '":.', "[." or ",." (a
# time of day in a string leaves ":." after a digit, not after a quote); a 4-byte UTF-8 lead byte (an
# astral-plane character) is read "!". Inside strings these may match too, which only sends the text
# to the strict path. Integers beyond 53 bits are refused by orjson itself (OPT_STRICT_INTEGER).
_MARKS = bytes(byte if byte in b'":[,' else 0x2E if byte in b".eE" else 0x21 if byte >= 0xF0 else 0x20
               for byte in range(256))

_fast_encode = json.JSONEncoder(
    ensure_ascii=False,
    sort_keys=True,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,
).encode


def canonical_bytes(obj) -> bytes:
    """Return the RFC 8785 canonical UTF-8 serialization of ``obj``."""
    astral_keys = _validate(obj)
    try:
        if astral_keys:
            parts: list[str] = []
            _serialize(obj, parts)
            text = "".join(parts)
        else:
            text = _fast_encode(obj)
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonical("string holds a lone surrogate") from None
    except (ValueError, TypeError, RecursionError):  # pragma: no cover - _validate covers these
        raise NotCanonical("value cannot be serialized canonically") from None


def parse_canonical(data: bytes):
    """Parse ``data`` as JSON and insist that it is already canonical.

    Raises ``NotCanonical`` for invalid UTF-8, invalid JSON, floats, NaN or
    Infinity, integers beyond +-(2**53 - 1), nesting deeper than
    ``MAX_DEPTH``, duplicate or unsorted names,
    whitespace, non-minimal escapes, and anything else that differs from
    ``canonical_bytes`` of the result.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise NotCanonical("canonical JSON must be given as bytes")
    data = bytes(data)
    if data[:1] in (b"{", b"[") and not _needs_strict_path(data):
        try:
            value = orjson.loads(data)
            written = orjson.dumps(value, option=_ORJSON_SORTED)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass  # orjson cannot read it, or not write it back (deep nesting, integers beyond 53 bits)
        else:
            if written != data:
                raise NotCanonical("bytes are not in canonical form")
            return _within_depth(data, value)
    try:
        value = _strict_decode(data.decode("utf-8"))
    except NotCanonical:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotCanonical("bytes are not valid JSON") from None
    # json.loads yields only str names and JSON types, and _safe_int bounds
    # integers, so without 4-byte UTF-8 sequences (astral characters) the C
    # encoder gives the canonical form directly.
    if data.translate(None, _BELOW_ASTRAL_LEAD):
        encoded = canonical_bytes(value)
    else:
        try:
            encoded = _fast_encode(value).encode("utf-8")
        except UnicodeEncodeError:
            raise NotCanonical("string holds a lone surrogate") from None
    if encoded != data:
        raise NotCanonical("bytes are not in canonical form")
    return _within_depth(data, value)


def _within_depth(data: bytes, value):
    """``value``, parsed from ``data``, unless it nests deeper than ``canonical_bytes`` would write."""
    if _too_deep(data, value):
        raise NotCanonical("value nests deeper than %d levels" % MAX_DEPTH)
    return value


def _too_deep(data: bytes, value) -> bool:
    """Whether ``value`` (whose compact JSON is ``data``) nests deeper than ``MAX_DEPTH``: fewer brackets
    in ``data`` than that settle it at once, else a walk over its containers."""
    return data.count(b"{") + data.count(b"[") > MAX_DEPTH and not _nests_within(value, MAX_DEPTH)


def canonical_bytes_of_parsed(obj) -> bytes:
    """``canonical_bytes`` for a value made only of what orjson's parser returns, faster.

    For values built from parsed JSON (dicts with str names, lists, str, int,
    bool, None; no NaN or infinity), as the outbox's record views are: see
    ``_orjson_canonical``. orjson writes a tuple as an array, a UUID or an
    Enum as its value and NaN as null, which ``canonical_bytes`` refuses:
    hence the precondition. Anything the screens doubt goes to
    ``canonical_bytes``.
    """
    data = _orjson_canonical(obj)
    return canonical_bytes(obj) if data is None else data


def _orjson_canonical(obj) -> bytes | None:
    """orjson's sorted compact output of a dict or list ``obj`` (refusing integers beyond 53 bits and,
    through ``default``, subclasses, datetimes and dataclasses) when it is the canonical form; None
    when it may hold a float or an astral-plane character or nests deeper than ``MAX_DEPTH``."""
    if type(obj) is not dict and type(obj) is not list:
        return None
    try:
        data = orjson.dumps(obj, default=_refuse_type, option=_ORJSON_CANONICAL)
    except orjson.JSONEncodeError:
        return None
    if _needs_strict_path(data) or _too_deep(data, obj):
        return None
    return data


def _nests_within(obj, limit: int) -> bool:
    """True when no dict or list in ``obj`` lies deeper than ``limit`` levels below it (as ``_validate``)."""
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        values = node.values() if type(node) is dict else node
        stack.extend((value, depth + 1) for value in values if type(value) is dict or type(value) is list)
    return True


def _refuse_type(value):
    raise TypeError(type(value).__name__)


_ORJSON_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_ORJSON_CANONICAL = (_ORJSON_SORTED | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                     | orjson.OPT_PASSTHROUGH_DATACLASS)


def _needs_strict_path(data: bytes) -> bool:
    """True when compact JSON ``data`` may hold a float or an astral-plane character (see the screens above)."""
    marks = data.translate(_MARKS, b"0123456789-")
    return b"!" in marks or b'":.' in marks or b"[." in marks or b",." in marks


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise NotCanonical("integer outside +-(2**53-1)")


def _refuse_number(_text):
    raise NotCanonical("floating point and non-finite numbers are not allowed")


_strict_decode = json.JSONDecoder(
    parse_float=_refuse_number,
    parse_constant=_refuse_number,
    parse_int=_safe_int,
).decode


def _validate(obj) -> bool:
    """Check that ``obj`` is serializable; return True if a name is astral."""
    astral = False
    stack = [(obj, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH:
            raise NotCanonical("value nests deeper than %d levels" % MAX_DEPTH)
        if isinstance(node, dict):
            values = node.values()
            for key in node:
                if not isinstance(key, str):
                    raise NotCanonical("object names must be strings")
                if not key.isascii() and _ASTRAL.search(key):
                    astral = True
        elif isinstance(node, list):
            values = node
        else:
            _check_scalar(node)
            continue
        for value in values:
            kind = type(value)
            if kind is str or kind is bool or value is None:
                continue
            if kind is int:
                if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                    continue
                raise NotCanonical("integer outside +-(2**53-1)")
            push((value, depth + 1))
    return astral


def _check_scalar(value) -> None:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return
        raise NotCanonical("integer outside +-(2**53-1)")
    if isinstance(value, float):
        raise NotCanonical("floating point numbers are not allowed")
    raise NotCanonical("unsupported type %s" % type(value).__name__)


def _utf16_key(item):
    return item[0].encode("utf-16-be")


def _serialize(value, out: list) -> None:
    """Exact path, used when an object name lies outside the BMP."""
    if isinstance(value, dict):
        out.append("{")
        first = True
        for key, member in sorted(value.items(), key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_quote(key))
            out.append(":")
            _serialize(member, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for index, member in enumerate(value):
            if index:
                out.append(",")
            _serialize(member, out)
        out.append("]")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    else:
        out.append(int.__repr__(value))


__all__ = ["canonical_bytes", "canonical_bytes_of_parsed", "parse_canonical", "MAX_SAFE_INTEGER", "MAX_DEPTH"]
