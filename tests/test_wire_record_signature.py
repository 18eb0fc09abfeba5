"""Record signatures: compact JWS with EdDSA, checked by Cordon and by a standard JOSE library."""

import json
import warnings
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.canonical import canonical_bytes
from federation.errors import BadSignature, KeyNotValid, KeyRevoked, MalformedMessage, NotCanonical, UnknownKey
from federation.identity import build_document, document_keys, sign_document, verify_self_signed
from federation.keys import KeyInfo, b64u_decode, b64u_encode, new_encryption_key, new_signing_key
from federation.record_signature import attached, detached, sign_record, verify_record
from wire_records import typical_denial

NOW = datetime(2026, 11, 28, 8, 0, 0, tzinfo=timezone.utc)
T_NOW = int(NOW.timestamp())


@pytest.fixture
def signer():
    key = new_signing_key()
    info = KeyInfo.for_key(key, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    return key, info


def lookup_for(*infos):
    return {info.kid: info for info in infos}.get


def test_sign_and_verify_returns_view_and_header(signer):
    key, info = signer
    view = typical_denial()
    jws = sign_record(view, key, info.kid, NOW)
    got, header = verify_record(jws, lookup_for(info))
    assert got == view
    assert header == {"alg": "EdDSA", "kid": info.kid, "typ": "cordon-record+jws", "iat": T_NOW}
    header_part, payload_part, _ = jws.split(".")
    assert b64u_decode(payload_part) == canonical_bytes(view)
    assert b64u_decode(header_part) == canonical_bytes(header)


def test_detached_form_leaves_out_the_payload_and_puts_it_back(signer):
    key, info = signer
    view = typical_denial()
    jws = sign_record(view, key, info.kid, NOW)
    header_part, _, signature_part = jws.split(".")
    kept = detached(jws)
    assert kept == header_part + ".." + signature_part
    assert attached(kept, canonical_bytes(view)) == jws
    with pytest.raises(BadSignature):  # other bytes put back do not verify
        verify_record(attached(kept, canonical_bytes({**view, "quantity": "1"})), lookup_for(info))
    with pytest.raises(MalformedMessage):
        attached(jws, canonical_bytes(view))


def test_standard_jose_library_verifies_from_identity_document(signer):
    key, info = signer
    document = build_document(
        node_id="MT", name="Malta", base_url="https://mt.cordon.example", role="member",
        serial=1, issued_at="2026-11-28T08:00:00Z",
        keys=[info, KeyInfo.for_key(new_encryption_key(), "2026-01-01T00:00:00Z")],
    )
    published = json.loads(json.dumps(sign_document(document, [(info.kid, key)])))
    trusted = verify_self_signed(published)
    jws = sign_record(typical_denial(), key, info.kid, NOW)

    listed = next(entry for entry in trusted["keys"] if entry["kid"] == info.kid)
    jwk = {"kty": listed["kty"], "crv": listed["crv"], "x": listed["x"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.jose import JsonWebSignature, OKPKey

        result = JsonWebSignature(algorithms=["EdDSA"]).deserialize_compact(jws, OKPKey.import_key(jwk))
    assert result["header"]["kid"] == info.kid and result["header"]["alg"] == "EdDSA"
    assert json.loads(result["payload"]) == typical_denial()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.jose.errors import BadSignatureError

        other = OKPKey.import_key(KeyInfo.for_key(new_signing_key(), "2026-01-01T00:00:00Z").to_dict())
        with pytest.raises(BadSignatureError):
            JsonWebSignature(algorithms=["EdDSA"]).deserialize_compact(jws, other)
    assert verify_record(jws, document_keys(trusted).get)[0] == typical_denial()


def test_refuses_unknown_key_and_non_signing_key(signer):
    key, info = signer
    jws = sign_record({"uid": "u1"}, key, info.kid, NOW)
    with pytest.raises(UnknownKey) as caught:
        verify_record(jws, lookup_for())
    assert caught.value.code == "unknown_key"
    enc_info = KeyInfo.for_key(new_encryption_key(), "2026-01-01T00:00:00Z")
    with pytest.raises(UnknownKey):
        verify_record(jws, lambda kid: enc_info)


def test_revoked_key_refused_from_revocation_time(signer):
    key, info = signer
    revoked = info.revoked("2026-11-28T08:00:00Z")
    before = sign_record({"uid": "u1"}, key, info.kid, T_NOW - 1)
    at = sign_record({"uid": "u1"}, key, info.kid, T_NOW)
    after = sign_record({"uid": "u1"}, key, info.kid, T_NOW + 3600)
    assert verify_record(before, lookup_for(revoked))[0] == {"uid": "u1"}
    for jws in (at, after):
        with pytest.raises(KeyRevoked) as caught:
            verify_record(jws, lookup_for(revoked))
        assert caught.value.code == "key_revoked"


def test_retired_key_still_verifies_what_it_signed(signer):
    key, info = signer
    jws = sign_record({"uid": "u1"}, key, info.kid, NOW)
    assert verify_record(jws, lookup_for(info.retired()))[0] == {"uid": "u1"}


@pytest.mark.parametrize("moment", ["2025-12-31T23:59:59Z", "2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z"])
def test_refuses_iat_outside_key_validity(signer, moment):
    key, info = signer
    jws = sign_record({"uid": "u1"}, key, info.kid, datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc))
    with pytest.raises(KeyNotValid) as caught:
        verify_record(jws, lookup_for(info))
    assert caught.value.code == "key_not_valid"


def test_refuses_tampering_and_other_signers(signer):
    key, info = signer
    jws = sign_record({"uid": "u1", "status": "active"}, key, info.kid, NOW)
    header_part, payload_part, signature_part = jws.split(".")
    tampered_payload = b64u_encode(canonical_bytes({"uid": "u1", "status": "revoked"}))
    tampered_header = b64u_encode(canonical_bytes({"alg": "EdDSA", "iat": T_NOW + 1, "kid": info.kid, "typ": "cordon-record+jws"}))
    for forged in (
        ".".join([header_part, tampered_payload, signature_part]),
        ".".join([tampered_header, payload_part, signature_part]),
        ".".join([header_part, payload_part, b64u_encode(bytes(64))]),
        sign_record({"uid": "u1", "status": "active"}, new_signing_key(), info.kid, NOW),
    ):
        with pytest.raises(BadSignature) as caught:
            verify_record(forged, lookup_for(info))
        assert caught.value.code == "bad_signature"


def _sign_raw(key, header: bytes, payload: bytes) -> str:
    signing_input = b64u_encode(header) + "." + b64u_encode(payload)
    return signing_input + "." + b64u_encode(key.sign(signing_input.encode()).signature)


def test_refuses_non_canonical_payload_even_if_signed(signer):
    key, info = signer
    header = canonical_bytes({"alg": "EdDSA", "iat": T_NOW, "kid": info.kid, "typ": "cordon-record+jws"})
    for payload in (b'{"uid": "u1"}', b'{"b":1,"a":2}', b'{"q":1.5}', b'{"a":1,"a":2}', b"[1]"):
        with pytest.raises(NotCanonical) as caught:
            verify_record(_sign_raw(key, header, payload), lookup_for(info))
        assert caught.value.code == "not_canonical"


def test_refuses_unexpected_headers_even_if_signed(signer):
    key, info = signer
    payload = canonical_bytes({"uid": "u1"})
    base = {"alg": "EdDSA", "iat": T_NOW, "kid": info.kid, "typ": "cordon-record+jws"}
    for header in (
        {**base, "b64": False},
        {**base, "crit": ["b64"]},
        {**base, "alg": "none"},
        {**base, "typ": "JWT"},
        {**base, "iat": "1795852800"},
        {**base, "iat": -1},
        {k: v for k, v in base.items() if k != "iat"},
    ):
        with pytest.raises(MalformedMessage):
            verify_record(_sign_raw(key, canonical_bytes(header), payload), lookup_for(info))
    with pytest.raises(NotCanonical):
        verify_record(_sign_raw(key, json.dumps(base).encode(), payload), lookup_for(info))


@pytest.mark.parametrize("text", ["", "a.b", "a.b.c.d", "é.é.é", "eyJ.eyJ.!!!"])
def test_refuses_malformed_jws(signer, text):
    with pytest.raises((MalformedMessage, NotCanonical)):
        verify_record(text, lookup_for(signer[1]))


_views = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20)),
    max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(_views)
def test_round_trip_property(view):
    key = new_signing_key()
    info = KeyInfo.for_key(key, "2026-01-01T00:00:00Z")
    assert verify_record(sign_record(view, key, info.kid, NOW), lookup_for(info))[0] == view
