"""The examples in docs/protocol.md are what the code produces."""

import hashlib
import json
import re
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from federation.canonical import canonical_bytes
from federation.http_signature import COVERED, sign_request, signature_base
from federation.identity import build_document, fingerprint, sign_document, verify_self_signed
from federation.keys import KeyInfo, b64u_encode, key_id
from federation.record_signature import sign_record

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
SEED = bytes.fromhex("94e5acc02096938dc4ff9450958e884d5b3fd66445df94e2405cc411b6b39e6e")
CREATED = 1795852800


def example_key():
    assert hashlib.sha256(b"cordon example MT sig").digest() == SEED
    key = SigningKey(SEED)
    return key, key_id("sig", bytes(key.verify_key))


def test_canonical_example():
    produced = canonical_bytes({"b": [True, None], "a": "é\n", "n": -7})
    assert produced.decode("utf-8") == '{"a":"é\\n","b":[true,null],"n":-7}'
    assert "`" + produced.decode("utf-8") + "`" in DOC
    assert "becomes the %d bytes" % len(produced) in DOC


def test_identity_example():
    key, kid = example_key()
    enc = PrivateKey(hashlib.sha256(b"cordon example MT enc").digest())
    window = ("2026-11-28T08:00:00Z", "2028-11-28T08:00:00Z")
    document = build_document(
        node_id="MT", name="Malta Export Control", base_url="https://mt.cordon.example", role="member",
        serial=1, issued_at="2026-11-28T08:00:00Z",
        keys=[KeyInfo.for_key(key, *window), KeyInfo.for_key(enc, *window)],
    )
    signed = sign_document(document, [(kid, key)])
    block = re.findall(r"```json\n(\{\"document\".*?)\n```", DOC, re.S)[-1]
    assert json.loads(block) == signed
    assert verify_self_signed(json.loads(block)) == document
    assert DOC.count(fingerprint(document)) == 2


def test_record_signature_example():
    key, kid = example_key()
    jws = sign_record({"uid": "u1", "origin": "MT", "version": 1, "note": "é"}, key, kid, CREATED)
    header, payload, signature = jws.split(".")
    assert "    " + header + "\n    ." + payload + "\n    ." + signature + "\n" in DOC


def test_request_signature_example():
    key, kid = example_key()
    url = "https://nl.cordon.example/federation/v1/push"
    nonce = b64u_encode(bytes(range(16)))
    added = sign_request("POST", url, {}, b'{"hello":"world"}', key=key, keyid=kid, destination="NL", now=CREATED, nonce=nonce)
    params = [("created", CREATED), ("keyid", kid), ("nonce", nonce), ("alg", "ed25519")]
    base = signature_base("POST", url, added, COVERED, params)
    assert "\n".join("    " + line for line in base.split("\n")) in DOC
    assert "    Signature: " + added["Signature"] + "\n" in DOC
