"""HTTP Message Signatures (RFC 9421): the RFC's Ed25519 vector and Cordon's profile."""

import base64
from datetime import datetime, timezone

import pytest
from nacl.signing import SigningKey

from federation.content_digest import content_digest
from federation.errors import (
    BadSignature,
    DigestMismatch,
    KeyNotValid,
    MalformedMessage,
    Replay,
    SignatureMissing,
    StaleRequest,
    UnknownKey,
    WrongDestination,
)
from federation.http_signature import (
    COVERED,
    Token,
    component_value,
    parse_dictionary,
    serialize_item,
    sign_request,
    signature_base,
    signature_params,
    verify_request,
)
from federation.keys import KeyInfo, b64u_encode, key_id, new_signing_key

# RFC 9421 appendix B.1.4, "test-key-ed25519" (PKCS#8 PEM as printed there).
RFC_ED25519_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----"""
RFC_ED25519_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----"""

# RFC 9421 appendix B.2, "test-request".
RFC_URL = "https://example.com/foo?param=Value&Pet=dog"
RFC_BODY = b'{"hello": "world"}'
RFC_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    "Content-Length": "18",
}

# RFC 9421 appendix B.2.6, with the RFC 8792 line wrapping undone.
RFC_B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC_B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC_B26_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"

B26_COMPONENTS = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
B26_PARAMS = [("created", 1618884473), ("keyid", "test-key-ed25519")]


def _pem_body(pem: str) -> bytes:
    return base64.b64decode("".join(line for line in pem.splitlines() if not line.startswith("-----")))


def rfc_signing_key() -> SigningKey:
    der = _pem_body(RFC_ED25519_PRIVATE_PEM)
    # PKCS#8 for Ed25519 (RFC 8410): fixed 16-byte prefix, then the 32-byte seed.
    assert der[:16] == bytes.fromhex("302e020100300506032b657004220420")
    return SigningKey(der[16:])


def test_rfc_test_key_public_half_matches():
    spki = _pem_body(RFC_ED25519_PUBLIC_PEM)
    assert spki[:12] == bytes.fromhex("302a300506032b6570032100")
    assert bytes(rfc_signing_key().verify_key) == spki[12:]


def test_rfc9421_b26_signature_base_and_value():
    base = signature_base("POST", RFC_URL, RFC_HEADERS, B26_COMPONENTS, B26_PARAMS)
    assert base == RFC_B26_BASE
    signature = rfc_signing_key().sign(base.encode("ascii")).signature
    assert "sig-b26=" + serialize_item(signature) == RFC_B26_SIGNATURE
    assert "sig-b26=" + signature_params(B26_COMPONENTS, B26_PARAMS) == RFC_B26_SIGNATURE_INPUT


def test_rfc9421_b26_fields_parse_and_verify():
    inputs = parse_dictionary(RFC_B26_SIGNATURE_INPUT)
    signatures = parse_dictionary(RFC_B26_SIGNATURE)
    items, params = inputs["sig-b26"]
    components = [name for name, _ in items]
    assert components == B26_COMPONENTS
    assert params == {"created": 1618884473, "keyid": "test-key-ed25519"}
    base = signature_base("POST", RFC_URL, RFC_HEADERS, components, list(params.items()))
    rfc_signing_key().verify_key.verify(base.encode("ascii"), signatures["sig-b26"][0])


def test_rfc_test_request_content_digest():
    # The test-request's sha-512 digest is recomputed, the sha-256 one is RFC 9530's example.
    from federation.content_digest import verify_content_digest

    verify_content_digest(RFC_HEADERS["Content-Digest"], RFC_BODY)
    assert content_digest(RFC_BODY) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


def test_derived_components():
    url = "HTTPS://Peer.Example:8443/api/v1/sync?after=c42&limit=500"
    headers = [("X-Multi", " a "), ("x-multi", "b\t"), ("Accept", "application/json")]
    assert component_value("@method", "POST", url, headers) == "POST"
    assert component_value("@target-uri", "POST", url, headers) == url
    assert component_value("@authority", "POST", url, headers) == "peer.example:8443"
    assert component_value("@authority", "GET", "https://a.example:443/x", {}) == "a.example"
    assert component_value("@authority", "GET", "http://[::1]:8080/x", {}) == "[::1]:8080"
    assert component_value("@scheme", "POST", url, headers) == "https"
    assert component_value("@path", "POST", url, headers) == "/api/v1/sync"
    assert component_value("@path", "GET", "https://a.example", {}) == "/"
    assert component_value("@query", "POST", url, headers) == "?after=c42&limit=500"
    assert component_value("@query", "GET", "https://a.example/x", {}) == "?"
    assert component_value("@request-target", "POST", url, headers) == "/api/v1/sync?after=c42&limit=500"
    assert component_value("x-multi", "POST", url, headers) == "a, b"
    with pytest.raises(SignatureMissing):
        component_value("date", "POST", url, headers)
    with pytest.raises(MalformedMessage):
        component_value("@status", "POST", url, headers)
    with pytest.raises(MalformedMessage):
        component_value("x-multi", "POST", url, [("X-Multi", "a\r\nInjected: 1")])


def test_structured_field_dictionary():
    parsed = parse_dictionary('a=1, b=?0;x, c=tok/en, d=("p" "q";r=2);s="t\\"u", e, f=:AQID:')
    assert parsed["a"] == (1, {})
    assert parsed["b"] == (False, {"x": True})
    assert parsed["c"] == ("tok/en", {}) and isinstance(parsed["c"][0], Token)
    assert parsed["d"] == ([("p", {}), ("q", {"r": 2})], {"s": 't"u'})
    assert parsed["e"] == (True, {})
    assert parsed["f"] == (b"\x01\x02\x03", {})
    for bad in ["a=1,", "A=1", "a=(1", 'a="x', "a=1.5", "a=:!!:", "a=?2", "a=1 b=2", "a=\u00e9"]:
        with pytest.raises(MalformedMessage):
            parse_dictionary(bad)


# -- Cordon profile -------------------------------------------------------------

NOW = datetime(2026, 11, 28, 8, 0, 0, tzinfo=timezone.utc)
URL = "https://nl.cordon.example/federation/v1/push"
BODY = b'{"v":1,"sender":"MT","recipient":"NL","ciphertext":"..."}'


class MemoryNonceRegistry:
    """In-memory NonceRegistry for tests; storage provides the real one."""

    def __init__(self):
        self.seen = set()

    def remember(self, keyid, nonce, created):
        if (keyid, nonce) in self.seen:
            return False
        self.seen.add((keyid, nonce))
        return True


@pytest.fixture
def mt_key():
    return new_signing_key()


@pytest.fixture
def mt_kid(mt_key):
    return key_id("sig", bytes(mt_key.verify_key))


def signed(mt_key, mt_kid, *, method="POST", url=URL, body=BODY, destination="NL", now=NOW, nonce=None):
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request(method, url, headers, body, key=mt_key, keyid=mt_kid, destination=destination, now=now, nonce=nonce))
    return headers


def verify(headers, keys, *, method="POST", url=URL, body=BODY, registry=None, now=NOW, expected="NL"):
    return verify_request(
        method,
        url,
        headers,
        body,
        key_lookup=keys.get,
        expected_destination=expected,
        nonce_registry=registry if registry is not None else MemoryNonceRegistry(),
        now=now,
    )


def test_sign_request_adds_the_profile_fields(mt_key, mt_kid):
    added = sign_request("POST", URL, {}, BODY, key=mt_key, keyid=mt_kid, destination="NL", now=NOW)
    assert set(added) == {"Content-Digest", "Cordon-Destination", "Signature-Input", "Signature"}
    assert added["Cordon-Destination"] == "NL"
    assert added["Content-Digest"] == content_digest(BODY)
    items, params = parse_dictionary(added["Signature-Input"])["sig1"]
    assert tuple(name for name, _ in items) == COVERED
    assert list(params) == ["created", "keyid", "nonce", "alg"]
    assert params["created"] == 1795852800 and params["keyid"] == mt_kid and params["alg"] == "ed25519"
    assert len(base64.urlsafe_b64decode(params["nonce"] + "==")) >= 16
    other = sign_request("POST", URL, {}, BODY, key=mt_key, keyid=mt_kid, destination="NL", now=NOW)
    assert parse_dictionary(other["Signature-Input"])["sig1"][1]["nonce"] != params["nonce"]


def test_verify_request_accepts_and_returns_keyid(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid)
    keys = {mt_kid: mt_key.verify_key}
    assert verify(headers, keys) == mt_kid
    # KeyInfo and raw bytes are accepted from the lookup as well.
    info = KeyInfo.for_key(mt_key, "2026-01-01T00:00:00Z")
    assert verify(headers, {mt_kid: info}) == mt_kid
    assert verify(headers, {mt_kid: bytes(mt_key.verify_key)}) == mt_kid
    # Header names are case-insensitive; an empty body is signed like any other.
    lowered = {name.lower(): value for name, value in signed(mt_key, mt_kid, method="GET", body=b"").items()}
    assert verify(lowered, keys, method="GET", body=b"") == mt_kid


@pytest.mark.parametrize("drop", ["Signature", "Signature-Input", "Content-Digest", "Cordon-Destination"])
def test_refuses_missing_fields(mt_key, mt_kid, drop):
    headers = signed(mt_key, mt_kid)
    del headers[drop]
    with pytest.raises(SignatureMissing) as caught:
        verify(headers, {mt_kid: mt_key.verify_key})
    assert caught.value.code == "signature_missing"


def test_refuses_signature_not_covering_the_profile(mt_key, mt_kid):
    components = ["@method", "@target-uri", "content-digest"]
    params = [("created", 1795852800), ("keyid", mt_kid), ("nonce", b64u_encode(b"n" * 16)), ("alg", "ed25519")]
    headers = {"Content-Digest": content_digest(BODY), "Cordon-Destination": "NL"}
    base = signature_base("POST", URL, headers, components, params)
    headers["Signature-Input"] = "sig1=" + signature_params(components, params)
    headers["Signature"] = "sig1=" + serialize_item(mt_key.sign(base.encode()).signature)
    with pytest.raises(SignatureMissing):
        verify(headers, {mt_kid: mt_key.verify_key})


def test_other_signatures_beside_cordon_one_are_ignored(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid)
    headers["Signature-Input"] = 'proxy=("@query-param";name="a" "date");created=1;keyid="p", ' + headers["Signature-Input"]
    headers["Signature"] = "proxy=:" + base64.b64encode(bytes(64)).decode() + ":, " + headers["Signature"]
    assert verify(headers, {mt_kid: mt_key.verify_key}) == mt_kid


@pytest.mark.parametrize("param", ["created", "keyid", "nonce", "alg"])
def test_refuses_missing_parameter(mt_key, mt_kid, param):
    headers = signed(mt_key, mt_kid)
    items, params = parse_dictionary(headers["Signature-Input"])["sig1"]
    del params[param]
    headers["Signature-Input"] = "sig1=" + signature_params([name for name, _ in items], list(params.items()))
    with pytest.raises(SignatureMissing):
        verify(headers, {mt_kid: mt_key.verify_key})


def test_refuses_malformed_fields_and_other_algorithms(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid)
    headers["Signature-Input"] = headers["Signature-Input"].replace('alg="ed25519"', 'alg="hmac-sha256"')
    with pytest.raises(MalformedMessage):
        verify(headers, {mt_kid: mt_key.verify_key})
    headers = signed(mt_key, mt_kid)
    headers["Signature-Input"] = headers["Signature-Input"].replace("created=", "created=x")
    with pytest.raises(MalformedMessage):
        verify(headers, {mt_kid: mt_key.verify_key})
    headers = signed(mt_key, mt_kid)
    headers["Signature"] = "sig1=:not base64:"
    with pytest.raises(MalformedMessage):
        verify(headers, {mt_kid: mt_key.verify_key})


def test_refuses_unknown_key(mt_key, mt_kid):
    with pytest.raises(UnknownKey):
        verify(signed(mt_key, mt_kid), {})


def test_refuses_key_not_valid_when_the_request_was_created(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid)  # created at NOW
    later = KeyInfo.for_key(mt_key, "2026-11-28T08:00:01Z")
    expired = KeyInfo.for_key(mt_key, "2026-01-01T00:00:00Z", "2026-11-28T08:00:00Z")
    for info in (later, expired):
        with pytest.raises(KeyNotValid) as caught:
            verify(headers, {mt_kid: info})
        assert caught.value.code == "key_not_valid"
    edges = KeyInfo.for_key(mt_key, "2026-11-28T08:00:00Z", "2026-11-28T08:00:01Z")
    assert verify(headers, {mt_kid: edges}) == mt_kid


def test_refuses_wrong_destination(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid, destination="DE")
    with pytest.raises(WrongDestination):
        verify(headers, {mt_kid: mt_key.verify_key})


def test_refuses_body_that_does_not_match_digest(mt_key, mt_kid):
    headers = signed(mt_key, mt_kid)
    with pytest.raises(DigestMismatch):
        verify(headers, {mt_kid: mt_key.verify_key}, body=BODY + b" ")


@pytest.mark.parametrize("skew", [-301, 301, -86400])
def test_refuses_created_outside_window(mt_key, mt_kid, skew):
    headers = signed(mt_key, mt_kid, now=int(NOW.timestamp()) + skew)
    with pytest.raises(StaleRequest):
        verify(headers, {mt_kid: mt_key.verify_key})


@pytest.mark.parametrize("skew", [-300, 300])
def test_accepts_created_at_window_edge(mt_key, mt_kid, skew):
    headers = signed(mt_key, mt_kid, now=int(NOW.timestamp()) + skew)
    assert verify(headers, {mt_kid: mt_key.verify_key}) == mt_kid


def test_refuses_bad_signatures(mt_key, mt_kid):
    keys = {mt_kid: mt_key.verify_key}
    headers = signed(mt_key, mt_kid)
    with pytest.raises(BadSignature):
        verify(headers, keys, method="PUT")
    with pytest.raises(BadSignature):
        verify(headers, keys, url=URL + "?replay=1")
    with pytest.raises(BadSignature):
        verify(headers, {mt_kid: new_signing_key().verify_key})
    forged = signed(new_signing_key(), mt_kid)
    with pytest.raises(BadSignature) as caught:
        verify(forged, keys)
    assert caught.value.code == "bad_signature"


def test_refuses_replayed_nonce(mt_key, mt_kid):
    keys = {mt_kid: mt_key.verify_key}
    registry = MemoryNonceRegistry()
    headers = signed(mt_key, mt_kid)
    assert verify(headers, keys, registry=registry) == mt_kid
    with pytest.raises(Replay) as caught:
        verify(headers, keys, registry=registry)
    assert caught.value.code == "replay"


def test_forged_request_does_not_burn_the_nonce(mt_key, mt_kid):
    keys = {mt_kid: mt_key.verify_key}
    registry = MemoryNonceRegistry()
    nonce = b64u_encode(b"0123456789abcdef")
    forged = signed(new_signing_key(), mt_kid, nonce=nonce)
    for attempt in (forged, {**signed(mt_key, mt_kid, nonce=nonce), "Content-Digest": content_digest(b"x")}):
        with pytest.raises((BadSignature, DigestMismatch)):
            verify(attempt, keys, registry=registry)
    assert registry.seen == set()
    assert verify(signed(mt_key, mt_kid, nonce=nonce), keys, registry=registry) == mt_kid


def test_checks_run_in_cheap_order(mt_key, mt_kid):
    # Stale and misaddressed requests are refused before any key lookup.
    looked_up = []

    def lookup(kid):
        looked_up.append(kid)
        return None

    stale = signed(mt_key, mt_kid, now=int(NOW.timestamp()) - 3600, destination="DE")
    for expected_error, kwargs in ((WrongDestination, {}), (StaleRequest, {"expected": "DE"})):
        with pytest.raises(expected_error):
            verify_request(
                "POST", URL, stale, BODY, key_lookup=lookup,
                expected_destination=kwargs.get("expected", "NL"),
                nonce_registry=MemoryNonceRegistry(), now=NOW,
            )
    assert looked_up == []


def test_sign_request_refuses_short_nonce(mt_key, mt_kid):
    with pytest.raises(ValueError):
        sign_request("POST", URL, {}, BODY, key=mt_key, keyid=mt_kid, destination="NL", now=NOW, nonce="short")
