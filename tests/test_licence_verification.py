"""Cross-border licence verification between real, peered nodes: Malta issues licences and
answers under policies/examples/customs-verification.yaml; Germany (EU customs) sees balances,
Switzerland (EFTA customs) sees the licence without balances, Tunisia (a peer the policy does
not name) learns nothing, not even whether a number exists; the Netherlands is no peer of
Malta at all."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from customs_support import customs_licence, declaration
from nodeproc import NodeProcess, free_port

from federation.batch import open_json, seal_json
from federation.canonical import canonical_bytes
from federation.http_signature import sign_request
from node.config import Settings
from node.customs_cli import licence as licence_cli
from node.database import DB_NAME
from node.datadir import initialise
from node.exchange import Exchange
from node.keyring import Keyring
from node.peers import PeerRegistry
from node.runtime import NodeRuntime

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "examples" / "customs-verification.yaml"
VALID = "MT/LIC/2026/0500"
CONFIDENTIAL = "MT/LIC/2026/0501"
LAPSED = "MT/LIC/2025/0502"
REVOKED = "MT/LIC/2026/0503"
UNKNOWN = "MT/LIC/2026/9999"


class DataDir:
    """A node that is not served: its data directory, used through the CLI and the domain code."""

    def __init__(self, data_dir: Path, node_id: str, name: str, port: int | None = None):
        self.node_id = node_id
        self.data_dir = data_dir
        self.port = port or free_port()
        settings = Settings(node_id=node_id, name=name, base_url=f"http://127.0.0.1:{self.port}")
        initialise(data_dir, settings, dt.datetime.now(dt.timezone.utc))


def peer(adder, other) -> None:
    """``adder`` adds ``other`` from its identity document, confirming its fingerprint (as
    ``cordon peers add FILE --fingerprint FP`` does)."""
    keyring = Keyring(other.data_dir)
    runtime = NodeRuntime(adder.data_dir)
    try:
        added = PeerRegistry(runtime.db(), adder.node_id).add(keyring.signed_identity(), keyring.fingerprint(),
                                                             actor="test")
        assert added.node_id == other.node_id
    finally:
        runtime.close()


def served(root: Path, node_id: str, name: str) -> NodeProcess:
    port = free_port()
    DataDir(root / node_id.lower(), node_id, name, port)
    return NodeProcess(root / node_id.lower(), node_id, name, port)


def rows(node, sql: str, args=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{node.data_dir / DB_NAME}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def verify(node, issuer: str, number: str) -> tuple[int, dict]:
    result = CliRunner().invoke(licence_cli, ["verify", "--peer", issuer, number, "--json",
                                              "--data-dir", str(node.data_dir)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def raw_request(asker, issuer, number: str) -> requests.Response:
    """A verification request exactly as a node sends it, keeping the issuer's raw response."""
    runtime = NodeRuntime(asker.data_dir)
    try:
        target = PeerRegistry(runtime.db(), runtime.node_id).require(issuer.node_id)
        sealed = seal_json(Exchange(runtime).sender(), target.recipient(), {
            "type": "licence-verify", "number": number, "request_id": "fixed-request",
            "requester": asker.node_id, "issuer": issuer.node_id})
        raw = canonical_bytes(sealed)
        url = issuer.url + "/federation/v1/licences/verify"
        kid, key = runtime.keyring.signing_key()
        signed = sign_request("POST", url, {"Content-Type": "application/json"}, raw, key=key, keyid=kid,
                              destination=issuer.node_id, now=dt.datetime.now(dt.timezone.utc))
        return requests.post(url, data=raw, headers={"Content-Type": "application/json",
                                                     "Cordon-Sender": asker.node_id, **signed}, timeout=10)
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    mt, de = served(root, "MT", "Malta"), served(root, "DE", "Germany")
    ch, tn, nl = (DataDir(root / n.lower(), n, name) for n, name in
                  (("CH", "Switzerland"), ("TN", "Tunisia"), ("NL", "Netherlands")))
    for other in (de, ch, tn):
        peer(mt, other)
        peer(other, mt)
    peer(nl, mt)
    peer(de, ch)
    mt.cli("policy", "apply", str(POLICY))
    mt.start()
    de.start()
    publish, customs = mt.session("publish"), mt.session("customs")
    today = dt.datetime.now(dt.timezone.utc).date()
    licences = [customs_licence(VALID), customs_licence(CONFIDENTIAL, sensitivity="confidential"),
                customs_licence(LAPSED, valid_from=(today - dt.timedelta(days=400)).isoformat(),
                                valid_to=(today - dt.timedelta(days=3)).isoformat()),
                customs_licence(REVOKED)]
    for body in licences:
        assert publish.post(mt.url + "/api/v1/licences", json=body, timeout=10).status_code == 201
    assert publish.post(mt.url + f"/api/v1/licences/{REVOKED}/revoke", json={"reason": "fraud"},
                        timeout=10).status_code == 200
    written = customs.post(mt.url + f"/api/v1/licences/{VALID}/checks", json=declaration(1, quantity="4"), timeout=10)
    assert written.json()["result"] == "accepted"
    yield {"MT": mt, "DE": de, "CH": ch, "TN": tn, "NL": nl}
    de.stop()
    mt.stop()


def test_eu_customs_gets_status_validity_and_balances(federation):
    code, answer = verify(federation["DE"], "MT", VALID)
    assert code == 0 and answer["outcome"] == "answered" and answer["status"] == "valid"
    view = answer["licence"]
    assert view["number"] == VALID and view["valid_to"] and view["destinations"] == ["TN"]
    lines = {line["line_no"]: line for line in view["lines"]}
    assert lines[1]["balance_quantity"] == "6" and lines[1]["balance_value"] == "400000.00"
    assert "exporter" not in view and all(p["role"] != "exporter" for p in view.get("parties", []))
    assert answer["answer_level"] == "detail"


def test_efta_customs_gets_the_licence_without_balances(federation):
    code, answer = verify(federation["CH"], "MT", VALID)
    assert code == 0 and answer["status"] == "valid" and answer["licence"]["valid_from"]
    assert all("balance_quantity" not in line and "balance_value" not in line for line in answer["licence"]["lines"])
    assert {line["quantity"] for line in answer["licence"]["lines"]} == {"10", "200"}


def test_status_follows_the_licence_and_its_dates(federation):
    assert verify(federation["DE"], "MT", REVOKED)[1]["status"] == "revoked"
    assert verify(federation["DE"], "MT", LAPSED)[1]["status"] == "expired"
    hit = verify(federation["DE"], "MT", CONFIDENTIAL)[1]
    assert hit["outcome"] == "answered" and hit["answer_level"] == "hit" and hit["status"] == "valid"
    assert set(hit["licence"]) <= {"uid", "origin", "version", "status", "type", "updated_at", "number"}


def test_a_peer_without_permission_learns_nothing_not_even_existence(federation):
    mt, tn, de = federation["MT"], federation["TN"], federation["DE"]
    before = rows(mt, "SELECT count(*) FROM refusals WHERE code = 'licence_not_disclosed'")[0][0]
    withheld, unknown = raw_request(tn, mt, VALID), raw_request(tn, mt, UNKNOWN)
    unknown_to_eu = raw_request(de, mt, UNKNOWN)
    assert withheld.status_code == unknown.status_code == unknown_to_eu.status_code == 403
    assert withheld.content == unknown.content == unknown_to_eu.content
    assert {k: v for k, v in withheld.headers.items() if k.lower() != "date"} == \
        {k: v for k, v in unknown.headers.items() if k.lower() != "date"}
    assert rows(mt, "SELECT count(*) FROM refusals WHERE code = 'licence_not_disclosed'")[0][0] == before + 3

    code, answer = verify(tn, "MT", VALID)
    assert code == 2 and answer["outcome"] == "not_confirmed" and answer["status"] is None
    assert answer["licence"] is None
    assert verify(tn, "MT", UNKNOWN)[1]["outcome"] == "not_confirmed"
    assert rows(mt, "SELECT count(*) FROM disclosures WHERE peer = 'TN'")[0][0] == 0


def test_answers_are_sealed_to_the_requester_and_bound_to_the_request(federation):
    mt, de = federation["MT"], federation["DE"]
    response = raw_request(de, mt, VALID)
    assert response.status_code == 200
    envelope = response.json()
    assert set(envelope) >= {"sender", "recipient", "nonce", "ciphertext"} and VALID not in response.text
    runtime = NodeRuntime(de.data_dir)
    try:
        issuer = PeerRegistry(runtime.db(), "DE").require("MT")
        body = open_json(envelope, me="DE", my_keys=runtime.keyring.encryption_keys(),
                         sender_public_lookup=lambda sender, kid: issuer.encryption_public(kid))
    finally:
        runtime.close()
    assert body["request_id"] == "fixed-request" and body["requester"] == "DE" and body["number"] == VALID


def test_a_node_that_is_no_peer_of_the_issuer_is_refused(federation):
    code, answer = verify(federation["NL"], "MT", VALID)
    assert code == 2 and answer["outcome"] == "refused" and answer["licence"] is None


def test_the_local_customs_api_asks_the_peer(federation):
    de = federation["DE"]
    customs = de.session("customs")
    answered = customs.post(de.url + "/api/v1/licences/verify", json={"peer": "mt", "number": VALID}, timeout=20)
    assert answered.status_code == 200 and answered.json()["outcome"] == "answered"
    assert answered.json()["licence"]["lines"][0]["balance_quantity"] == "6"
    down = customs.post(de.url + "/api/v1/licences/verify", json={"peer": "CH", "number": VALID}, timeout=30)
    assert down.status_code == 200 and down.json()["outcome"] == "unavailable"
    stranger = customs.post(de.url + "/api/v1/licences/verify", json={"peer": "FR", "number": VALID}, timeout=10)
    assert stranger.status_code == 400 and "peer" in stranger.json()["fields"]
    missing = customs.post(de.url + "/api/v1/licences/verify", json={"peer": "MT"}, timeout=10)
    assert missing.status_code == 400 and "number" in missing.json()["fields"]
    assert de.session("read").post(de.url + "/api/v1/licences/verify", json={"peer": "MT", "number": VALID},
                                   timeout=10).status_code == 403


def test_both_sides_audit_and_the_issuer_keeps_a_disclosure_ledger(federation):
    mt, de = federation["MT"], federation["DE"]
    verify(de, "MT", VALID)
    issuer_actions = {a for (a,) in rows(mt, "SELECT action FROM audit_log")}
    assert {"licence.verify.answered", "licence.verify.refused"} <= issuer_actions
    details = [json.loads(d) for (d,) in rows(mt, "SELECT detail FROM audit_log WHERE action = "
                                                  "'licence.verify.answered'")]
    assert any(d["peer"] == "DE" and d["number"] == VALID and "lines" in d["fields"] for d in details)
    asked = [json.loads(d) for (d,) in rows(de, "SELECT detail FROM audit_log WHERE action = 'licence.verify.ask'")]
    assert any(d["peer"] == "MT" and d["outcome"] == "answered" for d in asked)
    ledger = rows(mt, "SELECT peer, record_type, kind, channel FROM disclosures WHERE channel = 'verify'")
    assert ("DE", "licence", "answer", "verify") in ledger and ("CH", "licence", "answer", "verify") in ledger
