"""Records crossing a federation of three real nodes (MT, DE, TN): publish, amend and revoke by
push, pull when push failed, read-only copies, the exporter withheld, peering and un-peering.

Every node sits behind a recording proxy (its base URL is the proxy's), so the tests can read
every body that crossed between nodes. MT's push worker has a long idle interval: it pushes
when a change wakes it, so a delivery that failed is not retried behind a test's back.
"""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import EVERY_DENIAL_VERSION
from federation_support import NAMES, NodeDB, RoguePeer, identity_file, init_data_dir, start_federation, wait_for
from nodeproc import NodeProcess

from federation.identity import document_keys
from federation.record_signature import verify_record

PEERS = ("DE", "TN")
ENVELOPE_FIELDS = {"v", "sender", "recipient", "sender_kid", "recipient_kid", "nonce", "ciphertext"}


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("sync"), ("MT", "DE", "TN"), proxied=True,
                                  settings={"MT": {"push_interval_seconds": 3600}})
    yield federation
    federation.close()


def names_of(doc: dict) -> str:
    return json.dumps(doc.get("parties", []), ensure_ascii=False)


def test_publish_reaches_every_peer_by_push(fed):
    doc = fed.publish("MT")
    assert "Melita Precision Ltd" in names_of(doc)
    for peer_id in PEERS:
        copy = fed.wait_visible(peer_id, doc["uid"])
        assert copy["origin"] == "MT" and copy["ref"] == doc["ref"] and copy["version"] == 1
        # The exporter party is withheld at the receiver; everything else arrived as published.
        assert [party["role"] for party in copy["parties"]] == ["end_user"]
        assert "Melita Precision" not in json.dumps(copy, ensure_ascii=False)
        assert copy["parties"][0] == doc["parties"][0]
        assert {key: copy[key] for key in ("item_description", "reason_text", "regimes")} == \
               {key: doc[key] for key in ("item_description", "reason_text", "regimes")}
        # Visible through the local API, filtered by origin.
        assert doc["uid"] in fed.listed(peer_id, "MT")
        assert doc["uid"] not in fed.listed(peer_id, peer_id)
    ledger = NodeDB(fed["MT"]).rows("SELECT peer, kind, version, channel FROM disclosures WHERE uid = ? "
                                    "ORDER BY peer", [doc["uid"]])
    assert ledger == [("DE", "record", 1, "push"), ("TN", "record", 1, "push")]


def test_a_partys_kind_reaches_the_peers(fed):
    """Whether a party is a person or an organisation travels with it (a peer's screening compares names
    by kind): it is part of what a view keeps of a party."""
    parties = [{"role": "end_user", "kind": "organisation", "names": [{"text": "Kestrel Dynamics FZE"}],
                "country": "AE"},
               {"role": "broker", "kind": "person", "names": [{"text": "Farid Haddad"}], "country": "LB"}]
    doc = fed.publish("MT", parties=parties)
    for peer_id in PEERS:
        copy = fed.wait_visible(peer_id, doc["uid"])
        assert [(party["role"], party.get("kind")) for party in copy["parties"]] == \
               [("end_user", "organisation"), ("broker", "person")]


def test_a_push_that_continues_from_the_pull_cursor_moves_it(fed):
    """What a push delivered is not fetched again by the next pull: the pushed batch says which changes it
    holds all of, and DE's pull cursor moves with it when the batch continues from there."""
    mt, de = NodeDB(fed["MT"]), NodeDB(fed["DE"])
    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    head = mt.value("SELECT max(seq) FROM changes")
    wait_for(lambda: de.peer_state("MT")["pull_cursor"] == str(head), 10, "DE's pull cursor at MT's last change")
    out = fed["DE"].cli("sync", "--peer", "MT").stdout
    assert "pull stored 0, dropped 0, unchanged 0" in out, out
    assert mt.rows("SELECT channel FROM disclosures WHERE uid = ? AND peer = 'DE'", [doc["uid"]]) == [("push",)]

    # A pushed batch that starts beyond the cursor (changes in between may be missing) leaves it alone.
    rogue = RoguePeer(fed["MT"], fed["DE"])
    view = rogue.view()
    sealed = rogue.seal([rogue.item(view)], after=str(head + 1000), next_cursor=str(head + 1001))
    assert rogue.post("/federation/v1/push", sealed).json()["stored"] == 1
    assert de.peer_state("MT")["pull_cursor"] == str(head)


def test_received_record_keeps_the_origins_signature(fed):
    """What DE stored is the signed view a standard JOSE library verifies from MT's identity document."""
    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    de = NodeDB(fed["DE"])
    kept = de.holds(doc["uid"])["received"][0][5]
    assert kept.count(".") == 2 and kept.split(".")[1] == ""  # detached: the payload is the stored document
    jws = de.signed_item(doc["uid"], "DE")
    assert jws.split(".")[0] == kept.split(".")[0] and jws.split(".")[2] == kept.split(".")[2]
    keys = document_keys(de.peer_document("MT"))
    signed, header = verify_record(jws, keys.get)
    assert signed["kind"] == "record" and signed["recipient"] == "DE" and signed["record"]["uid"] == doc["uid"]
    assert "exporter" not in json.dumps(signed["record"])
    listed = keys[header["kid"]].to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.jose import JsonWebSignature, OKPKey

        result = JsonWebSignature(algorithms=["EdDSA"]).deserialize_compact(
            jws, OKPKey.import_key({"kty": listed["kty"], "crv": listed["crv"], "x": listed["x"]}))
    assert json.loads(result["payload"]) == signed


def test_amend_reaches_every_peer(fed):
    doc = fed.publish("MT")
    for peer_id in PEERS:
        fed.wait_visible(peer_id, doc["uid"])
    response = fed.api("MT").patch(fed.url("MT", f"/api/v1/denials/{doc['uid']}"),
                                   json={"quantity": "7", "reason_text": "Revised assessment."}, timeout=10)
    assert response.status_code == 200
    for peer_id in PEERS:
        copy = fed.wait_visible(peer_id, doc["uid"], version=2)
        assert copy["quantity"] == "7" and copy["reason_text"] == "Revised assessment."
        history = fed.api(peer_id).get(fed.url(peer_id, f"/api/v1/denials/{doc['uid']}/history"), timeout=10)
        assert [item["version"] for item in history.json()["items"]] == [1, 2]


def test_revocation_travels_as_a_tombstone_and_the_receivers_drop_the_content(fed):
    doc = fed.publish("MT")
    for peer_id in PEERS:
        fed.wait_visible(peer_id, doc["uid"])
    fed.api("MT").patch(fed.url("MT", f"/api/v1/denials/{doc['uid']}"), json={"quantity": "9"}, timeout=10)
    for peer_id in PEERS:
        fed.wait_visible(peer_id, doc["uid"], version=2)
    fed.revoke("MT", doc["uid"])
    for peer_id in PEERS:
        fed.wait_gone(peer_id, doc["uid"])
        held = NodeDB(fed[peer_id]).holds(doc["uid"])
        assert held["denials"] == [] and held["versions"] == []  # no current row, no old version kept
        (origin, version, _rev, kind, _at, signature), = held["received"]
        assert (origin, version, kind, signature) == ("MT", 3, "tombstone", None)
        assert doc["uid"] not in fed.listed(peer_id, "MT")
    kinds = NodeDB(fed["MT"]).rows("SELECT peer, kind, version FROM holdings WHERE uid = ? ORDER BY peer",
                                   [doc["uid"]])
    assert kinds == [("DE", "tombstone", 3), ("TN", "tombstone", 3)]


def test_records_from_peers_are_read_only_and_never_relayed(fed):
    doc = fed.publish("MT")
    before = fed.wait_visible("DE", doc["uid"])
    url = fed.url("DE", f"/api/v1/denials/{doc['uid']}")
    amended = fed.api("DE").patch(url, json={"quantity": "1"}, timeout=10)
    assert amended.status_code == 409 and amended.json()["error"] == "read_only_record"
    revoked = fed.api("DE").post(url + "/revoke", json={"reason": "not ours"}, timeout=10)
    assert revoked.status_code == 409 and revoked.json()["error"] == "read_only_record"
    assert fed.get("DE", doc["uid"]) == before
    de = NodeDB(fed["DE"])
    # DE never logs a change for MT's record, so it never sends it to anyone.
    assert de.value("SELECT count(*) FROM changes WHERE uid = ?", [doc["uid"]]) == 0
    assert de.value("SELECT count(*) FROM disclosures WHERE uid = ?", [doc["uid"]]) == 0


def test_records_published_at_every_node_reach_the_others(fed):
    docs = {node_id: fed.publish(node_id) for node_id in fed.ids}
    for origin, doc in docs.items():
        for node_id in fed.ids:
            if node_id != origin:
                assert fed.wait_visible(node_id, doc["uid"])["origin"] == origin


def test_pull_heals_what_push_missed(fed):
    """DE and TN are down while MT publishes; after they return, `cordon sync` (DE) and
    `cordon jobs run pull-peers` (TN) fetch what the failed pushes did not deliver."""
    fed.stop(*PEERS)
    docs = [fed.publish("MT") for _ in range(3)]
    mt = NodeDB(fed["MT"])
    for peer_id in PEERS:
        state = wait_for(lambda p=peer_id: (s := mt.peer_state(p))["failures"] >= 1 and s, 20,
                         f"MT's failed push to {peer_id}")
        # The proxy in front of the stopped node answers 502: a transient failure, backed off.
        assert state["next_attempt_at"] and "answered 502" in state["last_error"]
    listing = fed["MT"].cli("peers", "list").stdout
    assert "push failures:" in listing and "next try" in listing
    fed.start(*PEERS)

    out = fed["DE"].cli("sync", "--peer", "MT").stdout
    assert "MT: push sent" in out and "pull stored 3," in out, out
    result = json.loads(fed["TN"].cli("jobs", "run", "pull-peers").stdout)
    (mt_result,) = [entry for entry in result["peers"] if entry["peer"] == "MT"]
    assert mt_result["ok"] and mt_result["stored"] == 3
    for peer_id in PEERS:
        for doc in docs:
            assert fed.get(peer_id, doc["uid"])["origin"] == "MT"
        channels = mt.rows("SELECT DISTINCT channel FROM disclosures WHERE peer = ? AND uid IN (?, ?, ?)",
                           [peer_id, *(doc["uid"] for doc in docs)])
        assert channels == [("pull",)]

    # Push resumes with the outbox; what the peers already hold is not duplicated.
    result = json.loads(fed["MT"].cli("jobs", "run", "push-peers").stdout)
    assert all(entry["ok"] for entry in result["peers"])
    for peer_id in PEERS:
        assert mt.peer_state(peer_id)["failures"] == 0
        count = NodeDB(fed[peer_id]).value(
            f"SELECT count(*) FROM {EVERY_DENIAL_VERSION} WHERE uid IN (?, ?, ?)", [doc["uid"] for doc in docs])
        assert count == 3


def test_an_earlier_pull_answer_replayed_is_refused_and_the_cursor_stays(fed):
    """Someone on the network answers DE's pull with MT's sealed answer to an earlier pull (it opens, but
    it continues from an older cursor): DE refuses it and its pull cursor does not move back."""
    mt, de = NodeDB(fed["MT"]), NodeDB(fed["DE"])
    fed["DE"].cli("sync", "--peer", "MT")
    proxy = fed.proxies["MT"]
    earlier = proxy.answer_to("/federation/v1/changes")
    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    head = str(mt.value("SELECT max(seq) FROM changes"))
    wait_for(lambda: de.peer_state("MT")["pull_cursor"] == head, 10, "DE's pull cursor at MT's last change")
    proxy.replay["/federation/v1/changes"] = earlier
    try:
        result = fed["DE"].cli("sync", "--peer", "MT", check=False)
    finally:
        proxy.replay.clear()
    assert result.returncode == 1 and "pull FAILED" in result.stdout and "cursor_mismatch" in result.stdout
    state = de.peer_state("MT")
    assert state["pull_cursor"] == head and "cursor_mismatch" in state["last_pull_error"]
    assert "pull stored 0" in fed["DE"].cli("sync", "--peer", "MT").stdout
    assert de.peer_state("MT")["pull_cursor"] == head


def test_a_live_answer_replayed_from_another_query_is_not_taken(fed):
    """Someone on the network answers DE's live query in MT's name with MT's sealed answer to an earlier
    query (it opens): DE counts MT as unreachable for this query and keeps TN's answer."""
    def ask(name):
        response = fed.api("DE").post(fed.url("DE", "/api/v1/screen"), json={"name": name, "live": True}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["live"]

    first = ask("Orion Dual Systems FZE")
    assert {"MT", "TN"} <= set(first["answered"]), first
    proxy = fed.proxies["MT"]
    proxy.replay["/federation/v1/query"] = proxy.answer_to("/federation/v1/query")
    try:
        second = ask("Northwind Avionics GmbH")
    finally:
        proxy.replay.clear()
    assert "MT" in second["unreachable"] and "MT" not in second["answered"], second
    assert "TN" in second["answered"]
    assert "MT" in ask("Northwind Avionics GmbH")["answered"]


def test_a_revocation_made_while_a_peer_is_down_reaches_it_when_back(fed):
    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    fed.stop("DE")
    try:
        fed.revoke("MT", doc["uid"])
        wait_for(lambda: NodeDB(fed["MT"]).peer_state("DE")["failures"] >= 1, 20, "MT's failed push to DE")
    finally:
        fed.start("DE")
    out = fed["MT"].cli("sync", "--peer", "DE").stdout
    assert "DE: push sent 1" in out, out
    fed.wait_gone("DE", doc["uid"])


def test_a_revocation_reaches_a_peer_that_stored_a_push_whose_answer_was_lost(fed):
    """DE stores a pushed record, but its answer never reaches MT; DE's next pull then moves MT's push
    cursor past the record without fetching it again. MT still counts the record as possibly held by DE
    (and its ledger says the push went unanswered), so the revocation reaches DE as a tombstone."""
    mt, de = NodeDB(fed["MT"]), NodeDB(fed["DE"])
    proxy = fed.proxies["DE"]
    proxy.drop_answers = {"/federation/v1/push"}
    try:
        doc = fed.publish("MT")
        fed.wait_visible("DE", doc["uid"])
        state = wait_for(lambda: (s := mt.peer_state("DE"))["failures"] >= 1 and s, 20, "MT's unanswered push")
        assert "unreachable" in state["last_error"]
        assert mt.rows("SELECT channel FROM disclosures WHERE uid = ? AND peer = 'DE'",
                       [doc["uid"]]) == [("push-unanswered",)]
        out = fed["DE"].cli("sync", "--peer", "MT").stdout
        assert "pull stored 0, dropped 0, unchanged 0" in out, out  # the pushed batch moved DE's pull cursor
        assert mt.peer_state("DE")["push_cursor"] == mt.value("SELECT max(seq) FROM changes")

        fed.revoke("MT", doc["uid"])
        # The push is backing off: run it now (its answer is lost again, so the command reports a failure).
        out = fed["MT"].cli("sync", "--peer", "DE", check=False).stdout
        assert "DE: push FAILED (DE unreachable" in out, out
        fed.wait_gone("DE", doc["uid"])
        assert de.holds(doc["uid"])["received"][0][3] == "tombstone"
    finally:
        proxy.drop_answers = set()
    out = fed["MT"].cli("sync", "--peer", "DE").stdout
    assert mt.peer_state("DE")["failures"] == 0, out
    ledger = mt.rows("SELECT kind, channel FROM disclosures WHERE uid = ? AND peer = 'DE' ORDER BY id", [doc["uid"]])
    # Sent again until an answer says it arrived: by the command above, and by the push worker too when its
    # backoff (a second or two) ran out before the revocation woke it.
    assert ledger[0] == ("record", "push-unanswered") and ledger[-1] == ("tombstone", "push"), ledger
    assert len(ledger) >= 3 and set(ledger[1:-1]) == {("tombstone", "push-unanswered")}, ledger


def test_no_record_content_in_clear_between_nodes_or_in_logs(fed):
    marker = "Zhemchug Morskoy Bravo-7731 LLC"
    cyrillic = "ООО Жемчуг Морской Браво"
    parties = [
        {"role": "end_user", "names": [{"text": cyrillic, "original": True}, {"text": marker}], "country": "RU"},
        {"role": "exporter", "names": [{"text": "Valletta Quantum Optics Ltd"}], "country": "MT"},
    ]
    doc = fed.publish("MT", parties=parties, reason_text="Procurement front for hull sonar arrays QX-5510.")
    for peer_id in PEERS:
        fed.wait_visible(peer_id, doc["uid"])
    fed.api("MT").patch(fed.url("MT", f"/api/v1/denials/{doc['uid']}"), json={"quantity": "11"}, timeout=10)
    for peer_id in PEERS:
        fed.wait_visible(peer_id, doc["uid"], version=2)
    assert fed["DE"].cli("sync").returncode == 0  # pull traffic too

    secrets = [marker, cyrillic, "Valletta Quantum", "QX-5510", doc["ref"], doc["item_description"],
               "Технопром", "Tekhnoprom"]
    exchanges = [exchange for proxy in fed.proxies.values() for exchange in proxy.exchanges]
    paths = {exchange["path"] for exchange in exchanges}
    assert {"/federation/v1/push", "/federation/v1/changes"} <= paths
    for exchange in exchanges:
        for body in (exchange["request"], exchange["response"]):
            text = body.decode("utf-8", errors="replace")
            assert not any(secret in text for secret in secrets), exchange["path"]
        if exchange["path"] == "/federation/v1/push" and exchange["status"] == 200:
            assert set(json.loads(exchange["request"])) == ENVELOPE_FIELDS
            assert set(json.loads(exchange["response"])) == {"stored", "unchanged", "dropped", "refused",
                                                             "refused_by_code"}
        if exchange["path"] == "/federation/v1/changes" and exchange["status"] == 200:
            assert set(json.loads(exchange["request"])) == {"cursor", "limit"}
            assert set(json.loads(exchange["response"])) == ENVELOPE_FIELDS
    for node_id in fed.ids:
        log = fed[node_id].log()
        assert "POST /federation/v1/push 200" in log or node_id == "MT"
        assert not any(secret in log for secret in secrets), node_id


def test_peers_add_refuses_a_wrong_fingerprint_and_changes_nothing(fed, tmp_path):
    init_data_dir(tmp_path / "nl", "NL")  # a new node, never started
    newcomer = NodeProcess(tmp_path / "nl", "NL", NAMES["NL"])
    db = NodeDB(newcomer)
    snapshot = lambda: (db.rows("SELECT * FROM peers"), db.rows("SELECT * FROM peer_state"),  # noqa: E731
                        db.rows("SELECT * FROM meta"), db.value("SELECT count(*) FROM audit_log"))
    before = snapshot()
    path, right = identity_file(fed["MT"])  # what `cordon identity` prints is what MT's administrator reads out
    assert right == fed.fingerprints["MT"]
    wrong = right[:-1] + ("0" if right[-1] != "0" else "1")
    result = newcomer.cli("peers", "add", str(path), "--fingerprint", wrong, check=False)
    assert result.returncode == 1 and "fingerprint mismatch" in result.stderr
    assert snapshot() == before

    # A document edited after signing is refused even with the fingerprint of the real one.
    edited = json.loads(path.read_text())
    edited["document"]["base_url"] = "http://127.0.0.1:9"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(edited))
    result = newcomer.cli("peers", "add", str(forged), "--fingerprint", right, check=False)
    assert result.returncode == 1 and "does not verify" in result.stderr
    assert snapshot() == before

    # Something that is no fingerprint, and a document without its signatures, are named as such.
    result = newcomer.cli("peers", "add", str(path), "--fingerprint", "hello", check=False)
    assert result.returncode == 1 and "not a fingerprint" in result.stderr and "RKWP" not in result.stdout
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(json.loads(path.read_text())["document"]))
    result = newcomer.cli("peers", "add", str(bare), "--fingerprint", right, check=False)
    assert result.returncode == 1 and "without its signatures" in result.stderr
    result = newcomer.cli("sync", "--peer", "NL", check=False)
    assert result.returncode == 1 and "NL is this node" in result.stderr
    assert snapshot() == before

    # Separators and case do not matter when the fingerprint is right.
    added = newcomer.cli("peers", "add", str(path), "--fingerprint", right.replace("-", " ").lower()).stdout
    assert db.rows("SELECT node_id FROM peers") == [("MT",)]
    serial = json.loads(path.read_text())["document"]["serial"]
    assert f"its identity: serial {serial}, issued" in added
    listing = newcomer.cli("peers", "list").stdout
    assert f"identity:      serial {serial} of " in listing and f"fingerprint {right}" in listing


def test_peers_remove_stops_exchange(fed):
    """Runs last: MT removes TN. Nothing more goes from MT to TN or is accepted by MT from TN;
    DE and TN still exchange with each other."""
    mt = NodeDB(fed["MT"])
    held = mt.value("SELECT count(*) FROM denials WHERE origin = 'TN'")
    assert held >= 1
    out = fed["MT"].cli("peers", "remove", "TN").stdout
    assert "removed peer TN" in out
    assert f"the {held} denial(s) received from TN stay here, read-only" in out
    assert mt.value("SELECT count(*) FROM denials WHERE origin = 'TN'") == held
    assert "TN " not in fed["MT"].cli("peers", "list").stdout

    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    result = json.loads(fed["MT"].cli("jobs", "run", "push-peers").stdout)
    assert [entry["peer"] for entry in result["peers"]] == ["DE"]
    assert fed.get("TN", doc["uid"]) is None
    assert mt.rows("SELECT peer FROM disclosures WHERE uid = ?", [doc["uid"]]) == [("DE",)]

    # TN still lists MT, but MT answers none of its requests.
    refused_before = mt.refusals()
    pulled = fed["TN"].cli("sync", "--peer", "MT", check=False)
    assert pulled.returncode == 1 and "FAILED" in pulled.stdout
    assert mt.refusals("unknown_key", "/federation/v1/changes") >= 1
    tn_doc = fed.publish("TN")
    fed.wait_visible("DE", tn_doc["uid"])  # TN <-> DE is untouched
    wait_for(lambda: mt.refusals("unknown_key", "/federation/v1/push") >= 1, 20, "MT refusing TN's push")
    assert mt.stored_nothing(tn_doc["uid"])
    assert mt.refusals() > refused_before

    # A request crafted with TN's real keys is refused as well.
    rogue = RoguePeer(fed["TN"], fed["MT"])
    view = rogue.view()
    assert rogue.push([rogue.item(view)]).status_code == 401
    assert mt.stored_nothing(view["uid"])

