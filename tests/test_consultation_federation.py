"""Consultations across real nodes: Malta (MT) denies, Tunisia (TN) consults, Germany (DE) may not.

MT shares its denials with TN only. TN receives MT's denial by sync and opens
a consultation about it; the thread goes both ways, deadlines are marked by
the job with ``now`` passed in on both sides, a message written while MT is
down arrives once it is back, and DE, which MT's policy does not let see the
denial, is refused.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import re
import sqlite3
import time
import uuid

import pytest
from conftest import sample_denial, sample_licence
from nodeproc import NodeProcess

from node.timestamps import parse_iso, to_iso

NAMES = {"MT": "Malta", "TN": "Tunisia", "DE": "Germany"}


def policy(share_with, accept_from) -> str:
    def listed(ids):
        return ", ".join(f'"{i}"' for i in ids)

    return f"""version: 1
description: consultation test federation
groups:
  readers:
    members: [{listed(share_with)}]
  senders:
    members: [{listed(accept_from)}]
views:
  notification:
    redact: []
    redact_roles: [exporter]
rules:
  - name: share-denials
    match:
      record_type: denial
      peer_group: readers
    action: share
    view: notification
inbound:
  - name: denials-in
    peer_group: senders
    record_types: denial
    max_bytes: 262144
"""


POLICIES = {"MT": (["TN"], ["TN", "DE"]), "TN": (["MT"], ["MT"]), "DE": (["MT"], ["MT"])}


def parallel(*calls):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def wait_for(check, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def rows(node: NodeProcess, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{node.data_dir / 'cordon.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


class Nodes:
    def __init__(self, root):
        self.nodes = {}
        for node_id in NAMES:
            node = NodeProcess(root / node_id.lower(), node_id, NAMES[node_id])
            share, accept = POLICIES[node_id]
            (node.data_dir / "policy.yaml").write_text(policy(share, accept), encoding="utf-8")
            self.nodes[node_id] = node
        documents = {}
        for node_id, node in self.nodes.items():
            path = root / f"{node_id}-identity.json"
            result = node.cli("identity", "-o", str(path))
            documents[node_id] = (path, re.search(r"fingerprint: ([0-9A-Z-]+)", result.stderr).group(1))

        def add_all(adder):
            for other, (path, fingerprint) in documents.items():
                if other != adder:
                    self.nodes[adder].cli("peers", "add", str(path), "--fingerprint", fingerprint)

        parallel(*[lambda n=n: add_all(n) for n in self.nodes])
        parallel(*[lambda n=n: n.start() for n in self.nodes.values()])
        self.sessions = {n: node.session("read", "publish", "admin") for n, node in self.nodes.items()}

    def __getitem__(self, node_id):
        return self.nodes[node_id]

    def call(self, node_id, method, path, **kwargs):
        return self.sessions[node_id].request(method, self.nodes[node_id].url + path, timeout=120, **kwargs)

    def consultation(self, node_id, uid) -> dict:
        response = self.call(node_id, "GET", f"/api/v1/consultations/{uid}")
        assert response.status_code == 200, response.text
        return response.json()

    def close(self):
        parallel(*[lambda n=n: n.stop() for n in self.nodes.values()])


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    nodes = Nodes(tmp_path_factory.mktemp("consult"))
    yield nodes
    nodes.close()


@pytest.fixture(scope="module")
def denial(fed):
    """A Maltese denial, received by TN through sync (and not by DE)."""
    response = fed.call("MT", "POST", "/api/v1/denials", json=sample_denial(f"MT/DEN/C/{uuid.uuid4().hex[:8]}"))
    assert response.status_code == 201, response.text
    doc = response.json()
    wait_for(lambda: fed.call("TN", "GET", f"/api/v1/denials/{doc['uid']}").status_code == 200, what="sync to TN")
    assert fed.call("DE", "GET", f"/api/v1/denials/{doc['uid']}").status_code == 404
    # TN's indexer has normalised the received party names (the first names of a script load its tables).
    wait_for(lambda: rows(fed["TN"], "SELECT count(*), count(forms) FROM party_names WHERE uid = ?",
                          [doc["uid"]])[0] in [(n, n) for n in range(1, 20)], timeout=300, what="names indexed at TN")
    return doc


def transaction() -> dict:
    return {
        "parties": [{"role": "end_user", "names": [{"text": "Технопром"}, {"text": "Tekhnoprom LLC"}], "country": "RU"}],
        "destination_country": "RU",
        "control_entries": [{"list": "NSG", "entry": "2B201"}],
        "item_description": "Five-axis machining centre, 4 micrometre accuracy",
        "key_parameters": {"axes": "5", "accuracy_um": "4"},
        "quantity": "1", "unit": "pcs", "value": "450000.00", "currency": "EUR",
    }


def open_at_tn(fed, denial, **extra) -> dict:
    body = {"denial_uids": [denial["uid"]], "transaction": transaction(),
            "text": "TN application 2026/311: same end user?", **extra}
    response = fed.call("TN", "POST", "/api/v1/consultations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries_of(node: NodeProcess, uid: str) -> list[tuple]:
    """(event, state) of each delivery of one consultation, in the order queued."""
    return rows(node, "SELECT event, state FROM consultation_deliveries WHERE consultation_uid = ? ORDER BY id", [uid])


def deliver_an_hour_later(fed, node_id: str, uid: str) -> tuple[list[tuple], dict]:
    """``cordon jobs run deliver-consultations`` an hour on (past any backoff); the consultation's deliveries
    after it, and what the job printed."""
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    result = json.loads(fed[node_id].cli("jobs", "run", "deliver-consultations", "--now", to_iso(later)).stdout)
    return deliveries_of(fed[node_id], uid), result


def reply(fed, node_id, uid, position, text=None) -> dict:
    response = fed.call(node_id, "POST", f"/api/v1/consultations/{uid}/messages",
                        json={"position": position, "text": text})
    assert response.status_code == 201, response.text
    return response.json()


def test_round_trip_between_two_nodes(fed, denial):
    doc = open_at_tn(fed, denial)
    uid = doc["uid"]
    assert doc["delivery"]["state"] == "delivered" and doc["denial_refs"] == [denial["ref"]]
    assert {"parties", "destination_country", "control_entries"} <= set(doc["similarity"]["matched_fields"])
    inbox = fed.call("MT", "GET", "/api/v1/consultations", params={"direction": "inbox"}).json()["items"]
    mine = [c for c in inbox if c["uid"] == uid]
    assert mine and mine[0]["requesting_state"] == "TN" and mine[0]["status"] == "open"
    assert mine[0]["transaction"] == doc["transaction"]
    assert mine[0]["messages"][0]["text"] == "TN application 2026/311: same end user?"
    assert mine[0]["response_due"] == doc["response_due"]

    sent = reply(fed, "MT", uid, "maintain_objection", "Same end user, same machines: objection maintained.")
    assert sent["status"] == "answered" and sent["messages"][-1]["delivery"] == "delivered"
    at_tn = fed.consultation("TN", uid)
    assert at_tn["status"] == "answered" and at_tn["messages"][-1]["position"] == "maintain_objection"

    reply(fed, "TN", uid, "info", "The end user now holds an IAEA-verified civil contract.")
    at_mt = fed.consultation("MT", uid)
    assert at_mt["status"] == "open" and at_mt["messages"][-1]["from"] == "TN"

    reply(fed, "MT", uid, "no_objection", "Objection lifted in view of the contract.")
    assert fed.consultation("TN", uid)["status"] == "answered"

    response = fed.call("TN", "POST", f"/api/v1/consultations/{uid}/outcome",
                        json={"outcome": "granted", "text": "Licence TN/LIC/2026/77 granted."})
    assert response.status_code == 200, response.text
    closed = response.json()
    assert closed["status"] == "closed" and closed["post_facto_notice"] is None
    assert closed["outcome"]["delivery"] == "delivered"
    at_mt = fed.consultation("MT", uid)
    assert at_mt["status"] == "closed" and at_mt["outcome"]["outcome"] == "granted"
    assert [m["position"] for m in at_mt["messages"]] == ["info", "maintain_objection", "info", "no_objection"]

    late = fed.call("MT", "POST", f"/api/v1/consultations/{uid}/messages",
                    json={"position": "maintain_objection", "text": "On second thoughts."})
    assert late.status_code == 409 and late.json()["error"] == "conflict"

    # Both sides audited every step; nothing of the transaction reached a log in clear.
    mt_actions = {r[0] for r in rows(fed["MT"], "SELECT action FROM audit_log WHERE target = ?", [uid])}
    assert {"consultation.received", "consultation.message.received", "consultation.message",
            "consultation.outcome.received"} <= mt_actions
    tn_actions = {r[0] for r in rows(fed["TN"], "SELECT action FROM audit_log WHERE target = ?", [uid])}
    assert {"consultation.open", "consultation.delivered", "consultation.message"} <= tn_actions
    for node_id in ("MT", "TN"):
        assert "Tekhnoprom" not in fed[node_id].log() and "machining centre" not in fed[node_id].log()


def test_granted_despite_the_objection_sends_the_post_facto_notice(fed, denial):
    uid = open_at_tn(fed, denial)["uid"]
    reply(fed, "MT", uid, "maintain_objection", "Objection maintained.")
    response = fed.call("TN", "POST", f"/api/v1/consultations/{uid}/outcome",
                        json={"outcome": "granted", "text": "Granted: national security exemption."})
    assert response.json()["post_facto_notice"]["reason"] == "maintain_objection"
    notice = fed.consultation("MT", uid)["post_facto_notice"]
    assert notice["text"] == "Granted: national security exemption." and notice["reason"] == "maintain_objection"


def test_overdue_marking_on_both_sides_with_now(fed, denial):
    doc = open_at_tn(fed, denial)
    uid, opened = doc["uid"], parse_iso(doc["opened_at"])
    for node_id in ("TN", "MT"):
        early = fed[node_id].cli("jobs", "run", "mark-overdue-consultations", "--now",
                                 to_iso(opened + dt.timedelta(days=29)))
        assert uid not in json.loads(early.stdout)["uids"]
        assert uid not in [c["uid"] for c in fed.call(node_id, "GET", "/api/v1/consultations",
                                                       params={"overdue": "true"}).json()["items"]]
    for node_id in ("TN", "MT"):
        late = fed[node_id].cli("jobs", "run", "mark-overdue-consultations", "--now",
                                to_iso(opened + dt.timedelta(days=31)))
        assert uid in json.loads(late.stdout)["uids"]
        listed = fed.call(node_id, "GET", "/api/v1/consultations", params={"overdue": "true"}).json()["items"]
        assert [c["status"] for c in listed if c["uid"] == uid] == ["overdue"]
    # The consulted state's late answer still lands, on both sides.
    reply(fed, "MT", uid, "request_info", "Which spindle speed?")
    assert fed.consultation("TN", uid)["status"] == "answered"


def test_a_peer_that_cannot_see_the_denial_is_refused(fed, denial):
    before = rows(fed["MT"], "SELECT count(*) FROM refusals WHERE code = 'consultation_not_allowed'")[0][0]
    answers = []
    for uid in (denial["uid"], str(uuid.uuid4())):
        body = {"denial_uids": [uid], "consulted_state": "MT", "transaction": transaction()}
        response = fed.call("DE", "POST", "/api/v1/consultations", json=body)
        assert response.status_code == 409, response.text
        answers.append(response.json())
    assert answers[0] == answers[1], "a withheld denial and a missing one must look the same"
    assert "MT refused the consultation" in answers[0]["message"] and "denial_uids" in answers[0]["fields"]
    after = rows(fed["MT"], "SELECT count(*) FROM refusals WHERE code = 'consultation_not_allowed'")[0][0]
    assert after == before + 2
    assert rows(fed["MT"], "SELECT count(*) FROM consultations WHERE requesting_state = 'DE'")[0][0] == 0
    assert rows(fed["DE"], "SELECT count(*) FROM consultations")[0][0] == 0
    assert len(rows(fed["DE"], "SELECT seq FROM audit_log WHERE action = 'consultation.refused'")) == 2


def test_a_message_written_while_the_peer_is_down_arrives_when_it_is_back(fed, denial):
    uid = open_at_tn(fed, denial)["uid"]
    fed["MT"].stop()
    try:
        doc = reply(fed, "TN", uid, "info", "Additional end-use statement attached.")
        assert doc["messages"][-1]["delivery"] == "pending"
        assert deliveries_of(fed["TN"], uid) == [("open", "delivered"), ("message", "pending")]
    finally:
        fed["MT"].start()
    deliveries, result = deliver_an_hour_later(fed, "TN", uid)
    assert deliveries == [("open", "delivered"), ("message", "delivered")], result
    at_mt = fed.consultation("MT", uid)
    assert at_mt["messages"][-1]["text"] == "Additional end-use statement attached."
    assert fed.consultation("TN", uid)["messages"][-1]["delivery"] == "delivered"


def test_a_flagged_licence_offers_the_consultation_that_opens_it(fed, denial):
    licence = sample_licence(f"TN/LIC/2026/{uuid.uuid4().hex[:6]}", destinations=["RU"],
                             exporter={"role": "exporter", "names": [{"text": "Sfax Machines SA"}], "country": "TN"},
                             parties=[{"role": "end_user", "names": [{"text": "Tekhnoprom"}], "country": "RU"}])
    licence["lines"][0]["control_entry"] = "2B201"
    response = fed.call("TN", "POST", "/api/v1/licences", json=licence)
    assert response.status_code == 201, response.text
    flags = [f for f in response.json()["undercut_flags"] if f["denial_uid"] == denial["uid"]]
    assert flags and flags[0]["denial_origin"] == "MT"
    offer = flags[0]["open_consultation"]
    opened = fed.call("TN", offer["method"], offer["path"], json=offer["body"])
    assert opened.status_code == 201, opened.text
    assert opened.json()["delivery"]["state"] == "delivered"
    assert fed.consultation("MT", opened.json()["uid"])["transaction"]["destination_country"] == "RU"


def test_an_opening_sent_again_after_its_answer_was_lost_gets_the_stored_state(fed):
    """TN's courier sends an opening again (its first answer was lost: TN never recorded it as delivered)
    after MT revoked the denial: MT answers from the consultation it already holds instead of refusing it,
    so TN's copy is not withdrawn while MT's stays open."""
    response = fed.call("MT", "POST", "/api/v1/denials", json=sample_denial(f"MT/DEN/C/{uuid.uuid4().hex[:8]}"))
    assert response.status_code == 201, response.text
    doc = response.json()
    wait_for(lambda: fed.call("TN", "GET", f"/api/v1/denials/{doc['uid']}").status_code == 200, what="sync to TN")
    uid = open_at_tn(fed, doc)["uid"]
    assert fed.consultation("MT", uid)["status"] == "open"
    revoked = fed.call("MT", "POST", f"/api/v1/denials/{doc['uid']}/revoke", json={"reason": "Granted on appeal"})
    assert revoked.status_code == 200, revoked.text
    # What TN's database holds when it crashed after sending the opening and before recording the answer.
    conn = sqlite3.connect(fed["TN"].data_dir / "cordon.db", timeout=30)
    with conn:
        conn.execute("UPDATE consultation_deliveries SET state = 'pending', done_at = NULL WHERE consultation_uid = ? "
                     "AND event = 'open'", [uid])
    conn.close()
    result = json.loads(fed["TN"].cli("jobs", "run", "deliver-consultations").stdout)
    assert rows(fed["TN"], "SELECT state FROM consultation_deliveries WHERE consultation_uid = ? AND event = 'open'",
                [uid]) == [("delivered",)], result
    assert fed.consultation("TN", uid)["status"] == "open"
    assert rows(fed["MT"], "SELECT count(*) FROM consultations WHERE uid = ?", [uid]) == [(1,)]


def test_a_message_refused_with_401_is_sent_again_after_announcing_new_keys(fed, denial):
    """TN rotates its keys while MT is down, so MT cannot be told; TN's next message is refused with 401.
    TN's courier announces its identity and sends it again: delivered, not lost as refused. (Runs last:
    TN's keys change.)"""
    uid = open_at_tn(fed, denial)["uid"]
    fed["MT"].stop()
    try:
        assert "told MT: not delivered now" in fed["TN"].cli("keys", "rotate").stdout
        doc = reply(fed, "TN", uid, "info", "Signed with TN's new key.")
        assert doc["messages"][-1]["delivery"] == "pending"
    finally:
        fed["MT"].start()
    deliveries, result = deliver_an_hour_later(fed, "TN", uid)
    assert deliveries == [("open", "delivered"), ("message", "delivered")], result
    assert fed.consultation("MT", uid)["messages"][-1]["text"] == "Signed with TN's new key."
    assert fed.consultation("TN", uid)["status"] == "open"
