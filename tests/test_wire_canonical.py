"""Canonical JSON (RFC 8785) compared byte for byte with the rfc8785 package."""

import enum
import json
from collections import OrderedDict

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.canonical import (MAX_SAFE_INTEGER, _orjson_canonical, canonical_bytes, canonical_bytes_of_parsed,
                                  parse_canonical)
from federation.errors import FederationError, NotCanonical
from wire_records import typical_denial

# Text mixing ASCII, controls, BMP characters around the surrogate range and
# astral-plane characters, so that the UTF-16 ordering of names matters.
_chars = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, max_codepoint=0xD7FF),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)
_text = st.text(_chars, max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    _text,
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(_text, children, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=600, deadline=None)
@given(_json)
def test_matches_rfc8785_package_byte_for_byte(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=600, deadline=None)
@given(_json)
def test_parsed_values_encode_like_rfc8785_package(value):
    expected = rfc8785.dumps(value)
    assert canonical_bytes_of_parsed(value) == expected
    assert canonical_bytes_of_parsed({"v": value, "w": [value]}) == rfc8785.dumps({"v": value, "w": [value]})


def test_parsed_values_refuse_what_canonical_bytes_refuses():
    deep = "x"
    for _ in range(66):  # the innermost array 65 levels below the outermost
        deep = [deep]
    # NaN and the infinities are outside the precondition (orjson's parser never returns them).
    for value in ({"quantity": 1.5}, [1e300], {"n": 2**53}, [-(2**53)], 1.5, [[0.5]],
                  {"n": 10**20}, {1: "a"}, {"s": "\ud800"}, deep, {"time": [1.0, 2]}):
        with pytest.raises(NotCanonical):
            canonical_bytes(value)
        with pytest.raises(NotCanonical):
            canonical_bytes_of_parsed(value)
    ok = [["x"]]
    for _ in range(62):
        ok = [ok]
    assert canonical_bytes_of_parsed(ok) == canonical_bytes(ok)


def test_parsed_values_keep_long_digit_strings_and_timestamps():
    value = {"id": "919731604616016952", "at": "12:30:45.5", "n": 9007199254740991, "m": -9007199254740991,
             "none": None}
    assert _orjson_canonical(value) == canonical_bytes_of_parsed(value) == rfc8785.dumps(value)


def test_parsed_values_take_orjson_for_records_with_many_parties_and_nulls():
    view = typical_denial()
    view["parties"] = view["parties"] * 8  # far more than MAX_DEPTH brackets, little nesting
    data = canonical_bytes(view)
    assert data.count(b"{") + data.count(b"[") > 64 and b"null" in data
    assert _orjson_canonical(view) == data == rfc8785.dumps(view)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_round_trip_and_parse(value):
    data = canonical_bytes(value)
    assert json.loads(data) == value
    assert parse_canonical(data) == value


@settings(max_examples=400, deadline=None)
@given(_json, st.booleans(), st.booleans(), st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]))
def test_parse_accepts_exactly_the_canonical_bytes(value, sort_keys, ensure_ascii, separators):
    """Any JSON text of a value parses if and only if it is the value's canonical form."""
    data = json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=separators).encode()
    wrapped = b'{"v":' + data + b"}"
    for text, expected in ((data, value), (wrapped, {"v": value})):
        try:
            canonical = canonical_bytes(expected)
        except NotCanonical:
            canonical = None  # a string with a lone surrogate
        if text == canonical:
            assert parse_canonical(text) == expected
        else:
            with pytest.raises(NotCanonical):
                parse_canonical(text)


def test_names_sorted_by_utf16_code_units():
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+E000 and U+FFFD;
    # code point order would put it last.
    value = {"\U0001F600": 1, "\ue000": 2, "\ufffd": 3, "a": 4}
    data = canonical_bytes(value)
    assert data == '{"a":4,"\U0001F600":1,"\ue000":2,"\ufffd":3}'.encode()
    assert data == rfc8785.dumps(value)


def test_string_escapes_like_ecmascript():
    value = "\b\f\n\r\t\"\\\x00\x01\x1f\x7f\u2028é\U0001F600/"
    expected = '"\\b\\f\\n\\r\\t\\"\\\\\\u0000\\u0001\\u001f\x7f\u2028é\U0001F600/"'
    assert canonical_bytes(value) == expected.encode("utf-8")


def test_typical_record():
    view = typical_denial()
    data = canonical_bytes(view)
    assert 1800 < len(data) < 2600
    assert data == rfc8785.dumps(view)
    assert canonical_bytes_of_parsed(view) == data == _orjson_canonical(view)


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        {"quantity": 1.0},
        [float("nan")],
        {"x": float("inf")},
        2**53,
        -(2**53),
        {"n": 10**20},
        {1: "a"},
        {True: "a"},
        {None: "a"},
        (1, 2),
        {"b": b"bytes"},
        {"s": {1, 2}},
        "\ud800",
        {"\udfff": 1},
    ],
)
def test_refuses_what_jcs_without_floats_cannot_express(value):
    with pytest.raises(NotCanonical) as caught:
        canonical_bytes(value)
    assert caught.value.code == "not_canonical"
    assert isinstance(caught.value, FederationError)


def test_refuses_cycles_and_deep_nesting():
    cyclic = {}
    cyclic["self"] = cyclic
    with pytest.raises(NotCanonical):
        canonical_bytes(cyclic)
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(NotCanonical):
        canonical_bytes(deep)


def test_subclasses_serialize_as_base_types():
    class Level(enum.IntEnum):
        HIGH = 3

    value = OrderedDict([("z", Level.HIGH), ("a", [True, None])])
    assert canonical_bytes(value) == b'{"a":[true,null],"z":3}'


def test_limits_are_inclusive():
    assert canonical_bytes([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',  # unsorted
        b'{"a": 1}',  # whitespace
        b'{"a":1,"a":1}',  # duplicate name
        b'{"a":1.0}',  # float
        b'{"a":1e2}',  # exponent
        b"[NaN]",
        b"[-0]",
        b'"\\u0041"',  # needless escape
        b'"\\/"',
        b'"\\u001F"',  # uppercase hex
        b" 1",
        b"[9007199254740992]",
        b"\xff",
        b"{",
        b'"\\ud800"',  # lone surrogate
        # the same inside an object or array (the path that reads with orjson)
        b'{"a":[1.0]}',
        b'{"a":"x","b":1e2}',
        b'[1E2]',
        b'{"a":[-0]}',
        b'["\\u0041"]',
        b'["\\/"]',
        b'{"a":"\\u001F"}',
        b'{"a":"\\ud800"}',
        b'[9007199254740992]',
        b'[-9007199254740992]',
        b'[12345678901234567890]',
        b'[123456789012345678901234]',
        b'[1,2 ]',
        b'{"a":[01]}',
        b'[NaN]',
        b'{"a":Infinity}',
        b'{"b":1,"a":2}',
        b'{"a":1,"a":1}',
        b'[true,]',
        b'{"a":"\xff"}',
    ],
)
def test_parse_refuses_non_canonical_bytes(data):
    with pytest.raises(NotCanonical):
        parse_canonical(data)


def test_parse_refuses_nesting_deeper_than_canonical_bytes_writes():
    # 65 arrays: the innermost 64 levels below the outermost, as deep as canonical_bytes goes.
    deepest = b"[" * 65 + b"]" * 65
    assert canonical_bytes(parse_canonical(deepest)) == deepest
    for deep in (b"[" * 66 + b"]" * 66, b'{"a":' * 66 + b"1" + b"}" * 66,
                 b"[" * 300 + b"]" * 300):  # orjson reads 300 levels but will not write them: the strict path
        with pytest.raises(NotCanonical):
            parse_canonical(deep)
    with pytest.raises(NotCanonical):
        parse_canonical(b"[" * 300 + b"1.5" + b"]" * 300)


def test_parse_refuses_text():
    with pytest.raises(NotCanonical):
        parse_canonical('{"a":1}')
