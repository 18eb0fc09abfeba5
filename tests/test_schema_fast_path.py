"""The compiled fast path through the schemas agrees with marshmallow: it accepts only what
marshmallow accepts, and then gives the very same document."""

from __future__ import annotations

import copy

from conftest import sample_denial, sample_licence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from node import samples
from node.schema_compiler import GiveUp, compile_schema
from node.schemas import DenialInput, LicenceInput, load_document, to_json_doc

SCHEMAS = {"denial": DenialInput(), "licence": LicenceInput()}
FAST = {kind: compile_schema(schema) for kind, schema in SCHEMAS.items()}


def marshmallow_doc(kind, data):
    schema = SCHEMAS[kind]
    try:
        return to_json_doc(schema, schema.load(copy.deepcopy(data)))
    except ValidationError:
        return None


def fast_doc(kind, data):
    try:
        return FAST[kind](copy.deepcopy(data))[1]
    except GiveUp:
        return None


def assert_agree(kind, data):
    fast = fast_doc(kind, data)
    slow = marshmallow_doc(kind, data)
    if fast is not None:
        assert slow is not None, ("fast path accepted what marshmallow refuses", data)
        assert fast == slow
        assert list(fast) == list(slow)
    return fast, slow


def test_generated_samples_take_the_fast_path_and_match():
    docs = [("denial", d) for d in samples.denials(300, "MT", seed=7)]
    docs += [("licence", d) for d in samples.licences(100, "MT", seed=7)]
    docs += [("denial", sample_denial()), ("licence", sample_licence())]
    for kind, data in docs:
        fast, slow = assert_agree(kind, data)
        assert fast is not None and slow is not None, data


def test_load_document_falls_back_to_marshmallow_errors():
    bad = sample_denial(destination_country="XX", colour="red")
    try:
        load_document(SCHEMAS["denial"], bad)
    except ValidationError as exc:
        assert {"destination_country", "colour"} <= set(exc.messages)
    else:
        raise AssertionError("an invalid denial was accepted")
    # Values marshmallow accepts but the fast path leaves to it still load the same way.
    lenient = sample_denial(catch_all="false", quantity=3)
    loaded, doc = load_document(SCHEMAS["denial"], lenient)
    assert doc["catch_all"] is False and doc["quantity"] == "3"
    assert doc == marshmallow_doc("denial", lenient)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["", " ", "MT", "XX", "ir", "2026-02-30", "2026-01-01", "12.5", "-1",
                                              "NSG", "wmd_risk", "end_user", "Latn", "true", "1e3", "0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))


def mutate(data, path, action, new_value, new_key):
    data = copy.deepcopy(data)
    if not path:
        return new_value if action == "replace" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = new_value
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][new_key] = new_value
    elif action == "add" and isinstance(parent[last], list):
        parent[last].append(new_value)
    return data


BASES = {"denial": list(samples.denials(20, "MT", seed=11)) + [sample_denial()],
         "licence": list(samples.licences(10, "MT", seed=11)) + [sample_licence()]}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["denial", "licence"]), pick=st.integers(0, 10**6), where=st.integers(0, 10**6),
       action=st.sampled_from(["replace", "delete", "add"]), new_value=JSON_VALUES,
       new_key=st.sampled_from(["script", "original", "colour", "kind", "country", "value", "x"]),
       times=st.integers(1, 3))
def test_mutated_documents_agree(kind, pick, where, action, new_value, new_key, times):
    data = BASES[kind][pick % len(BASES[kind])]
    for _ in range(times):
        candidates = list(paths(data))
        path = candidates[where % len(candidates)]
        if isinstance(path[-1:] and path[-1], int) and action == "delete":
            action = "replace"
        data = mutate(data, path, action, new_value, new_key)
        where = where * 31 + 7
    assert_agree(kind, data)


AMOUNTS = ["0", "0.0", "1", "12.50", "0001.5", "1.000000", "1.1234567", "9999999999999999.999999",
           "12345678901234567", " 1", "1 ", "1\n", "1.", ".5", "1e3", "-0", "-1", "+1", "١٢", "NaN", "Infinity",
           0, 5, 10**16 - 1, 10**16, -1, True, False, 1.5, None, [], {}]
COUNTRIES = ["IR", "ir", " Ir ", "\tpk\n", "XX", "I R", "IRN", "", " ", "ı̇r", "ＩＲ", "DE ", 1, None, True, [], {}]


def test_amounts_and_countries_agree_with_marshmallow():
    base = sample_denial()
    party = dict(base["parties"][0])
    for amount in AMOUNTS:
        for field in ("quantity", "value"):
            assert_agree("denial", {**base, field: amount})
    for country in COUNTRIES:
        assert_agree("denial", {**base, "destination_country": country})
        assert_agree("denial", {**base, "transit_countries": [country, "AE"]})
        assert_agree("denial", {**base, "parties": [{**party, "country": country}]})
        assert_agree("licence", {**sample_licence(), "destinations": ["DE", country]})
    fast, _ = assert_agree("denial", {**base, "quantity": "0001.5", "value": 7, "destination_country": " ir "})
    assert fast is not None and (fast["quantity"], fast["value"], fast["destination_country"]) == ("1.5", "7", "IR")
