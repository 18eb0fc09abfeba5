"""JSON text of stored documents, content hashes and imported lines, written and read by orjson.

The node stores and hashes JSON as the standard library writes it with
``ensure_ascii=False`` and ``separators=(",", ":")`` (keys sorted for hashes):
non-ASCII kept as UTF-8, no whitespace. orjson writes the same bytes several
times faster for every value without floats, and the documents the node
stores hold none (the schemas write amounts and quantities as decimal
strings; canonical JSON from peers has no floats; consultations turn scores
into decimal strings). Floats are the one difference: orjson writes
``1e-07`` as ``1e-7``; do not pass them here. Whatever orjson refuses
(integers beyond 64 bits, keys that are not strings, strings holding lone
surrogates) goes to the standard library, which gives today's result or
today's error. ``tests/test_json_text.py`` compares both on generated
documents.

:func:`loads` reads with orjson and hands to ``json.loads`` every text orjson
refuses (so an invalid line is reported with the standard library's message
and column) and every text with a run of 19 or more digits, because orjson
reads integers beyond 64 bits as floats where ``json.loads`` keeps them exact.
"""

from __future__ import annotations

import json

import orjson

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_compact_sorted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode

# Every digit becomes "0" and every other byte a space, so a run of digits is a run of zeros.
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19  # -2**63 has 19 digits: shorter integers fit orjson's 64 bits


def dumps(value) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        return _compact(value)


def dumps_sorted_utf8(value) -> bytes:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")``."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _compact_sorted(value).encode("utf-8")


def loads(text: str):
    """``json.loads(text)``: the same value, or the same ``JSONDecodeError``."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only the standard library reads it
        return json.loads(text)
    if _LONG_NUMBER in data.translate(_DIGITS):
        return json.loads(text)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(text)
