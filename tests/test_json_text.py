"""``node.json_text`` writes and reads exactly what the standard library does: the stored
documents, the content hashes and the audit chain keep their bytes."""

from __future__ import annotations

import json

import pytest
from conftest import sample_denial, sample_licence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node import json_text, samples


def std_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def std_sorted(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def std_loads(text):
    try:
        return ("value", json.loads(text))
    except json.JSONDecodeError as exc:
        return ("error", exc.msg, exc.lineno, exc.colno)


def our_loads(text):
    try:
        return ("value", json_text.loads(text))
    except json.JSONDecodeError as exc:
        return ("error", exc.msg, exc.lineno, exc.colno)


# Text the node meets: names in many scripts, controls, quotes, backslashes, astral characters.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["", "ООО «Снабприбор»", "شركة الأفق", "王小明", "Ωmega", "a\"b\\c/d", "\x00\x1f\x7f", "\u2028\u2029",
     "\U0001f600", "e\u0301", "\ufeff"])
INTEGERS = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.integers()  # beyond 64 bits too
SCALARS = st.none() | st.booleans() | INTEGERS | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
                      max_leaves=40)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_written_bytes_are_the_standard_librarys(value):
    assert json_text.dumps(value) == std_dumps(value)
    assert json_text.dumps_sorted_utf8(value) == std_sorted(value)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_read_values_are_the_standard_librarys(value):
    for text in (std_dumps(value), json.dumps(value), json.dumps(value, indent=1)):
        assert our_loads(text) == std_loads(text)
        if isinstance(value, (dict, list)) and value:
            assert type(json_text.loads(text)) is type(value)


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_as_the_standard_library_reads_them(number):
    text = json.dumps([number, {"value": number}])
    assert our_loads(text) == std_loads(text)


@settings(max_examples=1000)
@given(st.text(st.sampled_from('{}[]",:0123456789.-+eE \t\r\ntruefalsn\\u"abcdé\x00'), max_size=40))
def test_broken_lines_get_the_standard_librarys_answer(text):
    assert our_loads(text) == std_loads(text)


@pytest.mark.parametrize("text", [
    "NaN", "[Infinity, -Infinity]", "1e400", "12345678901234567890", "-9223372036854775809",
    '{"quantity": 123456789012345678901234567890}', '"\\ud800"', '{"a": 1, "b": 2, "a": 3}', "\ufeff{}",
    '{"a": "\\u00e9"} x', "[1,]", "01", '"tab\there"', "-0", "[-0.0, 1E2, 1e-7]",
])
def test_edge_cases_match(text):
    assert repr(our_loads(text)) == repr(std_loads(text))  # repr: NaN is not equal to itself


def test_what_orjson_refuses_falls_back_to_the_standard_library():
    for value in ({"n": 2**70}, {1: "a", "b": 2}, {"name": "lone \ud800 surrogate"}):
        assert json_text.dumps(value) == std_dumps(value)
    with pytest.raises(UnicodeEncodeError):
        json_text.dumps_sorted_utf8({"name": "lone \ud800 surrogate"})  # as json.dumps(...).encode() does
    with pytest.raises(TypeError):
        json_text.dumps({"at": object()})


def test_generated_denials_and_licences_keep_their_bytes():
    docs = list(samples.denials(300, "MT", seed=3)) + list(samples.licences(100, "MT", seed=3))
    docs += [sample_denial(), sample_licence()]
    for doc in docs:
        assert json_text.dumps(doc) == std_dumps(doc)
        assert json_text.dumps_sorted_utf8(doc) == std_sorted(doc)
        line = json.dumps(doc, ensure_ascii=False)
        assert json_text.loads(line) == json.loads(line)
