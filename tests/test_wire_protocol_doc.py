"""The examples in docs/protocol.md are what the code produces, and what the peer endpoints accept."""

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import sample_denial, sample_licence
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from federation.batch import Recipient, Sender, open_json, seal_json
from federation.canonical import canonical_bytes
from federation.http_signature import COVERED, sign_request, signature_base
from federation.identity import build_document, current_key, fingerprint, sign_document, verify_self_signed
from federation.keys import ENC, KeyInfo, b64u_encode, key_id
from federation.record_signature import sign_record
from node.config import Settings
from node.datadir import initialise
from node.denials import DenialRegistry
from node.jobs import JOBS
from node.licences import LicenceRegistry
from node.peers import PeerRegistry
from node.timestamps import to_iso, utc_now

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


# --- the peer endpoints: each documented example is sent, signed and sealed, to a real node ---------------------

REFUSED = {"error": "refused", "message": "the request was refused", "fields": {}}

PEER_POLICY = """version: 1
description: DE sees denials (shared) and licences (answered in detail); FR gets denials at hit level; NL nothing
views:
  notification:
    redact: [contact, reason_text]
    redact_roles: [exporter]
  licence-check:
    allow: [number, type, valid_from, valid_to, destinations, lines.control_entry, lines.quantity, lines.unit,
            lines.balance_quantity]
    redact_roles: [exporter]
rules:
  - name: share-denials
    match: {record_type: denial, peers: [DE]}
    action: share
    view: notification
  - name: fr-hits
    match: {record_type: denial, peers: [FR]}
    action: answer
    answer: hit
  - name: verify-licences
    match: {record_type: licence, peers: [DE]}
    action: answer
    answer: detail
    view: licence-check
inbound: []
"""


def examples() -> list:
    """Every JSON example from "Sealed requests and answers" on (all of them must parse)."""
    part = DOC[DOC.index("### Sealed requests and answers"):]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", part, re.S)]


def example(test) -> dict:
    found = [body for body in examples() if isinstance(body, dict) and test(body)]
    assert len(found) == 1, found
    return found[0]


class Peers:
    """Peers DE, FR and NL of the node MT under test, speaking to it as the protocol says."""

    def __init__(self, app, root):
        self.client = app.test_client()
        self.runtime = app.extensions["cordon"]
        self.keyrings = {}
        for node_id in ("DE", "FR", "NL"):
            keyring = initialise(root / node_id.lower(), Settings(node_id=node_id, name=node_id,
                                                                  base_url="http://127.0.0.1:9"), utc_now())
            PeerRegistry(self.runtime.db(), "MT").add(keyring.signed_identity(), keyring.fingerprint(), actor="test")
            self.keyrings[node_id] = keyring
        self.mt_enc = current_key(self.runtime.keyring.document, ENC)

    def post(self, peer: str, path: str, body: dict, *, sealed: bool = True):
        """(status, body): the answer opened with ``peer``'s key if it is 200, else the error body."""
        keyring = self.keyrings[peer]
        sig_kid, sig_key = keyring.signing_key()
        enc_kid, enc_key = keyring.encryption_key()
        if sealed:
            body = seal_json(Sender(peer, sig_kid, sig_key, enc_kid, enc_key),
                             Recipient("MT", self.mt_enc.kid, self.mt_enc.public_key()), body)
        raw = canonical_bytes(body)
        url = self.runtime.settings.base_url + path
        signed = sign_request("POST", url, {"Content-Type": "application/json"}, raw, key=sig_key, keyid=sig_kid,
                              destination="MT", now=utc_now())
        response = self.client.post(path, data=raw, headers={"Content-Type": "application/json", **signed})
        if response.status_code != 200:
            return response.status_code, response.get_json()
        envelope = response.get_json()
        assert envelope["sender"] == "MT" and envelope["recipient"] == peer
        return 200, open_json(envelope, me=peer, my_keys=keyring.encryption_keys(),
                              sender_public_lookup=lambda sender, kid: self.mt_enc.public_key())


@pytest.fixture
def peers(app, node_dir, tmp_path):
    (node_dir / "policy.yaml").write_text(PEER_POLICY, encoding="utf-8")
    found = Peers(app, tmp_path)
    runtime = found.runtime
    found.denial = DenialRegistry(runtime.db(), "MT").create(sample_denial(), actor="test")
    found.licence = LicenceRegistry(runtime.db(), "MT").create(sample_licence(), actor="test")
    JOBS["index-names"](runtime, utc_now())
    return found


def test_refusal_body_is_documented():
    assert json.dumps(REFUSED) in DOC


def test_live_query_examples(peers):
    request = example(lambda b: "parties" in b and "threshold" in b)
    documented = example(lambda b: "answers" in b)
    hit_keys = {"hit", "uid", "ref", "score"}
    detail_keys = hit_keys | {"record", "matched_name", "signals"}
    assert [set(hit) for hit in documented["answers"][0]["hits"]] == [detail_keys, hit_keys]
    assert set(documented) == {"answers", "node", "request_id"}

    status, answer = peers.post("DE", "/federation/v1/query", request)
    assert status == 200
    assert set(answer) == set(documented) and answer["node"] == "MT"
    assert answer["request_id"] == request["request_id"]
    assert [a["query"] for a in answer["answers"]] == list(range(len(request["parties"])))
    [hit] = answer["answers"][0]["hits"]
    assert set(hit) == detail_keys and hit["uid"] == peers.denial["uid"] and hit["hit"] is True
    assert re.fullmatch(r"[01]\.\d{4}", hit["score"])
    assert "contact" not in hit["record"] and hit["record"]["ref"] == peers.denial["ref"]

    status, answer = peers.post("FR", "/federation/v1/query", request)
    assert status == 200 and [set(h) for h in answer["answers"][0]["hits"]] == [hit_keys]

    assert peers.post("NL", "/federation/v1/query", request) == (403, REFUSED)
    bad = {**request, "threshold": "0.2000"}
    status, error = peers.post("DE", "/federation/v1/query", bad)
    assert status == 400 and error["fields"] == {"threshold": "must be between 0.3 and 1.0"}


def test_health_examples(peers):
    request = example(lambda b: set(b) == {"asked_at", "request_id"})
    documented = example(lambda b: "protocol_version" in b)
    status, report = peers.post("NL", "/federation/v1/health", request, sealed=False)
    assert status == 200
    assert set(report) == set(documented)
    assert report["request_id"] == documented["request_id"] == request["request_id"]
    assert set(report["keys"][0]) == set(documented["keys"][0])
    assert {peer["node_id"] for peer in report["peers"]} == {"DE", "FR", "NL"}
    assert set(report["peers"][0]) == set(documented["peers"][0])
    assert set(report["peers"][0]["timeliness"]) == set(documented["peers"][0]["timeliness"])
    assert set(report["consultations"]) == set(documented["consultations"])
    assert set(report["records"]) == set(documented["records"])
    assert set(report["records"]["denial"]) == set(documented["records"]["denial"])
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    for text in (request["asked_at"], documented["generated_at"], report["generated_at"]):
        assert re.fullmatch(stamp, text)


def test_licence_verification_examples(peers):
    request = example(lambda b: b.get("type") == "licence-verify")
    documented = example(lambda b: b.get("type") == "licence-verify-answer")
    assert request["number"] == peers.licence["number"] and request["issuer"] == "MT"

    status, answer = peers.post(request["requester"], "/federation/v1/licences/verify", request)
    assert status == 200
    assert set(answer) == set(documented)
    for name in ("type", "request_id", "issuer", "requester", "number", "status", "answer_level"):
        assert answer[name] == documented[name], name
    assert set(answer["licence"]) == set(documented["licence"])
    assert set(answer["licence"]["lines"][0]) == set(documented["licence"]["lines"][0])

    unknown = {**request, "number": "MT/LIC/2026/9999"}
    assert peers.post("DE", "/federation/v1/licences/verify", unknown) == (403, REFUSED)
    withheld = {**request, "requester": "FR"}
    assert peers.post("FR", "/federation/v1/licences/verify", withheld) == (403, REFUSED)
    status, error = peers.post("DE", "/federation/v1/licences/verify", {**request, "issuer": "DE"})
    assert status == 400 and error["fields"] == {"body": "expected type, number, request_id, requester and issuer"}


def test_consultation_examples(peers):
    opening = example(lambda b: "consultation" in b)
    message = example(lambda b: "message" in b)
    outcome = example(lambda b: "outcome" in b)
    withdrawal = example(lambda b: "withdrawal" in b)
    uid = opening["consultation"]["uid"]
    assert message["consultation_uid"] == outcome["consultation_uid"] == withdrawal["consultation_uid"] == uid
    now = utc_now()
    opening["consultation"].update(denial_uids=[peers.denial["uid"]], opened_at=to_iso(now),
                                   response_due=to_iso(now + dt.timedelta(days=30)))
    path = "/federation/v1/consultations"
    requester = opening["consultation"]["requesting_state"]
    opened = {"accepted": True, "uid": uid, "status": "open", "denial_refs": [peers.denial["ref"]]}
    assert peers.post(requester, path, opening) == (200, opened)
    assert peers.post(requester, path, opening) == (200, opened)  # a retried opening changes nothing

    assert peers.post(requester, f"{path}/{uid}/messages", message) == (200, {
        "accepted": True, "uid": uid, "event_uid": message["message"]["uid"], "status": "open"})
    assert peers.post("FR", f"{path}/{uid}/messages", message)[0] == 404
    closed = (200, {"accepted": True, "uid": uid, "event_uid": outcome["outcome"]["uid"], "status": "closed"})
    assert peers.post(requester, f"{path}/{uid}/outcome", outcome) == closed
    assert peers.post(requester, f"{path}/{uid}/outcome", outcome) == closed
    late = {**message, "message": {**message["message"], "uid": "00000000-0000-4000-8000-000000000001"}}
    status, error = peers.post(requester, f"{path}/{uid}/messages", late)
    assert status == 409 and error["error"] == "conflict" and error["fields"] == {"status": "closed"}

    other = "00000000-0000-4000-8000-000000000002"
    second = {**opening, "consultation": {**opening["consultation"], "uid": other}}
    assert peers.post(requester, path, second)[0] == 200
    assert peers.post(requester, f"{path}/{other}/withdraw", {**withdrawal, "consultation_uid": other}) == (
        200, {"accepted": True, "uid": other, "event_uid": withdrawal["withdrawal"]["uid"], "status": "withdrawn"})

    unknown = {**opening, "consultation": {**opening["consultation"], "uid": "00000000-0000-4000-8000-000000000003",
                                           "denial_uids": ["00000000-0000-4000-8000-000000000004"]}}
    assert peers.post(requester, path, unknown) == (403, REFUSED)
    from_nl = {"consultation": {**opening["consultation"], "uid": "00000000-0000-4000-8000-000000000005",
                                "requesting_state": "NL"}, "messages": []}
    assert peers.post("NL", path, from_nl) == (403, REFUSED)
