"""No-undercut consultations and undercut flags on one node (MT), through its API.

MT holds a denial of Tunisia (TN) as a received copy (origin TN, read-only
here) and has TN as a peer whose address answers nothing, so whatever MT must
send to TN stays queued. Events from TN are applied with the same intake the
peer endpoints use.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import sample_denial, sample_licence
from nodeproc import free_port

from node.config import Settings
from node.consultation_intake import ConsultationIntake
from node.database import write_transaction
from node.datadir import initialise
from node.denials import DenialRegistry
from node.inbound import PeerRequestRefused
from node.jobs import JOBS
from node.licences import LicenceRegistry
from node.peers import PeerRegistry
from node.timestamps import parse_iso, to_iso, utc_now

POLICY = """version: 1
description: MT shares denials with TN only
groups:
  partners:
    members: [TN]
views:
  notification:
    redact: []
    redact_roles: [exporter]
rules:
  - name: share-with-partners
    match:
      record_type: denial
      peer_group: partners
    action: share
    view: notification
inbound:
  - name: denials-in
    peer_group: partners
    record_types: denial
    max_bytes: 262144
"""


def tunisian_denial(ref="TN/DEN/2026/0042", **overrides) -> dict:
    denial = sample_denial(ref, issuing_authority="Ministère du Commerce, Tunis", contact="ce@example.tn",
                           **overrides)
    denial["parties"] = [p for p in denial["parties"] if p["role"] != "exporter"]
    return denial


def transaction(**overrides) -> dict:
    tx = {
        "parties": [{"role": "end_user", "names": [{"text": "Tekhnoprom Limited"}], "country": "RU"}],
        "destination_country": "RU",
        "control_entries": [{"list": "EU-DU", "entry": "2B201.a"}],
        "item_description": "Five-axis machining centre",
        "key_parameters": {"axes": "5", "accuracy_um": "4"},
        "quantity": "1",
        "unit": "pcs",
    }
    tx.update(overrides)
    return tx


@pytest.fixture
def tn(tmp_path):
    """Tunisia's keys and identity; nothing listens at its address."""
    settings = Settings(node_id="TN", name="Tunisia", base_url=f"http://127.0.0.1:{free_port()}")
    return initialise(tmp_path / "tn", settings, utc_now())


@pytest.fixture
def mt(app, node_dir, tn):
    (node_dir / "policy.yaml").write_text(POLICY, encoding="utf-8")
    runtime = app.extensions["cordon"]
    PeerRegistry(runtime.db(), "MT").add(tn.signed_identity(), tn.fingerprint(), actor="test")
    return runtime


@pytest.fixture
def tn_denial(mt):
    """A denial received from TN: origin TN, stored as MT holds peers' records."""
    return DenialRegistry(mt.db(), "TN").create(tunisian_denial(), actor="test")


@pytest.fixture
def pub(bearer):
    return bearer("read", "publish")


def open_body(denial, **overrides) -> dict:
    body = {"denial_uids": [denial["uid"]], "transaction": transaction(), "text": "Please advise."}
    body.update(overrides)
    return body


def intake(runtime) -> ConsultationIntake:
    return ConsultationIntake(runtime.db(), runtime.node_id, runtime.policies.current())


def opening_from_tn(denial_uid: str, *, days=30, now=None) -> dict:
    now = now or utc_now()
    return {"consultation": {
        "uid": "6d3f2b8e-2f0a-4c55-9b0e-1f1b2d3c4e5f", "requesting_state": "TN", "consulted_state": "MT",
        "denial_uids": [denial_uid], "transaction": transaction(), "similarity": {"score": "0.9100"},
        "opened_at": to_iso(now), "response_due": to_iso(now + dt.timedelta(days=days))},
        "messages": [{"uid": "0b7e3c1a-9d8f-4e6a-8c2b-3a4d5e6f7a8b", "from": "TN", "position": "info",
                      "text": "Licence application TN/APP/77", "at": to_iso(now)}]}


def test_open_queues_the_opening_when_the_peer_is_down(mt, client, pub, tn_denial):
    response = client.post("/api/v1/consultations", json=open_body(tn_denial, response_days=45), headers=pub)
    assert response.status_code == 201, response.get_json()
    doc = response.get_json()
    assert doc["requesting_state"] == "MT" and doc["consulted_state"] == "TN" and doc["direction"] == "outbox"
    assert doc["status"] == "open" and doc["denial_refs"] == ["TN/DEN/2026/0042"]
    assert (parse_iso(doc["response_due"]) - parse_iso(doc["opened_at"])) == dt.timedelta(days=45)
    assert doc["delivery"]["state"] == "pending"
    assert doc["messages"][0]["position"] == "info" and doc["messages"][0]["delivery"] == "pending"
    similarity = doc["similarity"]
    assert {"parties", "destination_country", "control_entries", "key_parameters"} <= set(similarity["matched_fields"])
    assert float(similarity["score"]) > 0.8 and isinstance(similarity["score"], str)
    queued = mt.db().execute("SELECT event, state, attempts, last_error FROM consultation_deliveries "
                             "WHERE consultation_uid = ?", [doc["uid"]]).fetchall()
    assert [(e, s, a) for e, s, a, _ in queued] == [("open", "pending", 1)] and queued[0][3]
    listed = client.get("/api/v1/consultations?direction=outbox", headers=pub).get_json()["items"]
    assert [c["uid"] for c in listed] == [doc["uid"]]
    assert client.get("/api/v1/consultations?direction=inbox", headers=pub).get_json()["items"] == []
    # The default deadline is the consultation_days setting.
    second = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()
    assert parse_iso(second["response_due"]) - parse_iso(second["opened_at"]) == dt.timedelta(days=30)


@pytest.mark.parametrize("change, field", [
    ({"transaction": None}, "transaction"),
    ({"denial_uids": []}, "denial_uids"),
    ({"denial_uids": ["not-a-uid"]}, "denial_uids.0"),
    ({"response_days": 2}, "response_days"),
    ({"response_days": 365}, "response_days"),
    ({"colour": "red"}, "colour"),
    ({"transaction": transaction(destination_country="XX")}, "transaction.destination_country"),
    ({"transaction": transaction(parties=[])}, "transaction.parties"),
    ({"transaction": transaction(quantity="-3")}, "transaction.quantity"),
    ({"transaction": transaction(value="5000.00", currency="XXY")}, "transaction.currency"),
    ({"transaction": transaction(value="5000.00", currency=None)}, "transaction.currency"),
    ({"licence_number": "NOPE/1"}, "licence_number"),  # not a licence of this node
])
def test_open_names_each_bad_field_and_stores_nothing(mt, client, pub, tn_denial, change, field):
    body = {k: v for k, v in {**open_body(tn_denial), **change}.items() if v is not None}
    response = client.post("/api/v1/consultations", json=body, headers=pub)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["fields"], response.get_json()
    assert mt.db().execute("SELECT count(*) FROM consultations").fetchone()[0] == 0
    assert mt.db().execute("SELECT count(*) FROM consultation_deliveries").fetchone()[0] == 0


def test_a_denial_named_twice_is_refused(mt, client, pub, tn_denial):
    twice = client.post("/api/v1/consultations", json=open_body(tn_denial, denial_uids=[tn_denial["uid"]] * 2),
                        headers=pub)
    assert twice.status_code == 400 and twice.get_json()["fields"] == {"denial_uids.1": "is given twice"}
    assert mt.db().execute("SELECT count(*) FROM consultations").fetchone()[0] == 0


def test_open_refuses_denials_it_cannot_consult_on(mt, client, pub, bearer, tn_denial):
    own = client.post("/api/v1/denials", json=sample_denial("MT/DEN/2026/0100"), headers=pub).get_json()
    response = client.post("/api/v1/consultations", json=open_body(own), headers=pub)
    assert response.status_code == 400 and "own denial" in response.get_json()["fields"]["denial_uids.0"]
    unknown = {"uid": "00000000-0000-4000-8000-000000000000"}
    response = client.post("/api/v1/consultations", json=open_body(unknown), headers=pub)
    assert response.status_code == 400 and "consulted_state" in response.get_json()["fields"]
    response = client.post("/api/v1/consultations", json=open_body(unknown, consulted_state="DE"), headers=pub)
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"consulted_state": "not a peer of this node"}
    response = client.post("/api/v1/consultations", json=open_body(tn_denial, consulted_state="DE"), headers=pub)
    assert response.get_json()["fields"] == {"consulted_state": "the denial belongs to TN"}
    revoked = DenialRegistry(mt.db(), "TN").create(tunisian_denial("TN/DEN/2026/0043"), actor="test")
    DenialRegistry(mt.db(), "TN").revoke(revoked["uid"], "withdrawn by TN", actor="test")
    response = client.post("/api/v1/consultations", json=open_body(revoked), headers=pub)
    assert response.status_code == 400 and "revoked" in response.get_json()["fields"]["denial_uids.0"]
    reader = bearer("read")
    assert client.post("/api/v1/consultations", json=open_body(tn_denial), headers=reader).status_code == 403
    assert mt.db().execute("SELECT count(*) FROM consultations").fetchone()[0] == 0


def test_a_denial_held_elsewhere_can_be_consulted_on_by_naming_its_state(mt, client, pub):
    """A live-query hit gives a uid this node does not hold; the consulted state decides."""
    body = open_body({"uid": "6a1c9d70-1111-4a2b-9c3d-4e5f60718293"}, consulted_state="TN")
    doc = client.post("/api/v1/consultations", json=body, headers=pub).get_json()
    assert doc["consulted_state"] == "TN" and doc["similarity"]["score"] is None
    assert doc["similarity"]["matched_fields"] == []


def test_inbox_thread_and_reply_to_a_closed_consultation_is_409(mt, client, pub):
    own = client.post("/api/v1/denials", json=sample_denial("MT/DEN/2026/0200"), headers=pub).get_json()
    answer = intake(mt).receive_open("TN", opening_from_tn(own["uid"]), utc_now())
    assert answer == {"accepted": True, "uid": answer["uid"], "status": "open", "denial_refs": ["MT/DEN/2026/0200"]}
    uid = answer["uid"]
    inbox = client.get("/api/v1/consultations?direction=inbox", headers=pub).get_json()["items"]
    assert [c["uid"] for c in inbox] == [uid] and inbox[0]["messages"][0]["text"] == "Licence application TN/APP/77"
    # A retried opening is a no-op.
    assert intake(mt).receive_open("TN", opening_from_tn(own["uid"]), utc_now())["uid"] == uid
    assert mt.db().execute("SELECT count(*) FROM consultations").fetchone()[0] == 1
    # The consulted state may not record the outcome; a requester-only position is refused to nobody here.
    bad = client.post(f"/api/v1/consultations/{uid}/outcome", json={"outcome": "denied"}, headers=pub)
    assert bad.status_code == 409 and bad.get_json()["fields"] == {"direction": "this node is the consulted state"}
    empty = client.post(f"/api/v1/consultations/{uid}/messages", json={"position": "maintain_objection"}, headers=pub)
    assert empty.status_code == 400 and empty.get_json()["fields"] == {"text": "required"}
    odd = client.post(f"/api/v1/consultations/{uid}/messages", json={"position": "veto", "text": "x"}, headers=pub)
    assert odd.status_code == 400 and "position" in odd.get_json()["fields"]
    reply = client.post(f"/api/v1/consultations/{uid}/messages",
                        json={"position": "maintain_objection", "text": "Same end user, same machines."}, headers=pub)
    assert reply.status_code == 201 and reply.get_json()["status"] == "answered"
    assert reply.get_json()["messages"][-1]["delivery"] == "pending"
    outcome = {"uid": "2c0b5a3e-7f1d-4b9a-8e6c-5d4f3a2b1c0d", "outcome": "granted", "text": "Granted.",
               "at": to_iso(utc_now())}
    notice = {"at": to_iso(utc_now()), "reason": "maintain_objection", "text": "Granted despite the objection."}
    intake(mt).receive_outcome("TN", uid, {"outcome": outcome, "post_facto_notice": notice}, utc_now())
    intake(mt).receive_outcome("TN", uid, {"outcome": outcome, "post_facto_notice": notice}, utc_now())
    closed = client.get(f"/api/v1/consultations/{uid}", headers=pub).get_json()
    assert closed["status"] == "closed" and closed["outcome"]["outcome"] == "granted"
    assert closed["post_facto_notice"]["text"] == "Granted despite the objection."
    late = client.post(f"/api/v1/consultations/{uid}/messages", json={"position": "info", "text": "one more"},
                       headers=pub)
    assert late.status_code == 409 and late.get_json()["error"] == "conflict"
    assert late.get_json()["fields"] == {"status": "closed"}
    assert len(client.get(f"/api/v1/consultations/{uid}", headers=pub).get_json()["messages"]) == 2
    unknown = client.post("/api/v1/consultations/00000000-0000-4000-8000-000000000000/messages",
                          json={"position": "info", "text": "x"}, headers=pub)
    assert unknown.status_code == 404


def test_the_opening_is_policy_gated_and_a_refusal_tells_nothing(mt, client, pub, tmp_path):
    own = client.post("/api/v1/denials", json=sample_denial("MT/DEN/2026/0300"), headers=pub).get_json()
    lifted = client.post("/api/v1/denials", json=sample_denial("MT/DEN/2026/0301"), headers=pub).get_json()
    assert client.post(f"/api/v1/denials/{lifted['uid']}/revoke", json={"reason": "lifted"},
                       headers=pub).status_code == 200
    refusals = []
    for peer, uid in (("DE", own["uid"]), ("TN", "00000000-0000-4000-8000-000000000000"),
                      ("TN", tunisian_denial_uid(mt)), ("TN", lifted["uid"])):
        body = opening_from_tn(uid)
        body["consultation"]["requesting_state"] = peer
        with pytest.raises(PeerRequestRefused) as caught:
            intake(mt).receive_open(peer, body, utc_now())
        refusals.append((caught.value.code, caught.value.status))
    assert refusals == [("consultation_not_allowed", 403)] * 4
    assert mt.db().execute("SELECT count(*) FROM consultations").fetchone()[0] == 0
    # The same opening about the active denial is accepted: the refusals above were about the denial.
    assert intake(mt).receive_open("TN", opening_from_tn(own["uid"]), utc_now())["accepted"] is True


def tunisian_denial_uid(runtime) -> str:
    """A denial MT holds but does not own: TN cannot consult MT about it."""
    return DenialRegistry(runtime.db(), "TN").create(tunisian_denial("TN/DEN/2026/0099"), actor="test")["uid"]


def test_messages_from_the_peer_are_checked_and_idempotent(mt, client, pub, tn_denial):
    doc = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()
    uid = doc["uid"]
    message = {"uid": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "from": "TN", "position": "request_info",
               "text": "Which spindle speed?", "at": to_iso(utc_now())}
    for _ in range(2):
        assert intake(mt).receive_message("TN", uid, {"message": message}, utc_now())["status"] == "answered"
    stored = client.get(f"/api/v1/consultations/{uid}", headers=pub).get_json()
    assert [m["position"] for m in stored["messages"]] == ["info", "request_info"]
    from node.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed):
        intake(mt).receive_message("TN", uid, {"message": {**message, "uid": "1e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                                                           "from": "DE"}}, utc_now())
    with pytest.raises(NotFound):
        intake(mt).receive_message("DE", uid, {"message": {**message, "from": "DE"}}, utc_now())
    with pytest.raises(ValidationFailed) as caught:
        intake(mt).receive_message("TN", uid, {"message": {**message, "uid": "2e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                                                           "text": None}}, utc_now())
    assert caught.value.fields == {"message.text": "required"}
    with pytest.raises(ValidationFailed):
        intake(mt).receive_outcome("TN", uid, {"outcome": {"uid": message["uid"], "outcome": "granted",
                                                           "at": to_iso(utc_now())}}, utc_now())


@pytest.mark.parametrize("last_position, notice", [("maintain_objection", True), ("no_objection", False),
                                                   (None, True)])
def test_post_facto_notice_when_granted_without_agreement(mt, client, pub, tn_denial, last_position, notice):
    uid = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()["uid"]
    if last_position:
        message = {"uid": "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d", "from": "TN", "position": last_position,
                   "text": "Our position.", "at": to_iso(utc_now())}
        intake(mt).receive_message("TN", uid, {"message": message}, utc_now())
    response = client.post(f"/api/v1/consultations/{uid}/outcome",
                           json={"outcome": "granted", "text": "Granted with end-use checks."}, headers=pub)
    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    assert doc["status"] == "closed" and doc["outcome"]["outcome"] == "granted"
    assert (doc["post_facto_notice"] is not None) is notice
    body = json.loads(mt.db().execute("SELECT body FROM consultation_deliveries WHERE consultation_uid = ? AND "
                                      "event = 'outcome'", [uid]).fetchone()[0])
    assert (body["post_facto_notice"] is not None) is notice
    denied = client.post(f"/api/v1/consultations/{uid}/outcome", json={"outcome": "denied"}, headers=pub)
    assert denied.status_code == 409


def test_withdraw_then_nothing_more(mt, client, pub, tn_denial):
    uid = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()["uid"]
    assert client.post(f"/api/v1/consultations/{uid}/withdraw", json={}, headers=pub).status_code == 400
    doc = client.post(f"/api/v1/consultations/{uid}/withdraw", json={"reason": "application dropped"},
                      headers=pub).get_json()
    assert doc["status"] == "withdrawn"
    assert client.post(f"/api/v1/consultations/{uid}/messages", json={"position": "info", "text": "x"},
                       headers=pub).status_code == 409
    events = [r[0] for r in mt.db().execute("SELECT event FROM consultation_deliveries WHERE consultation_uid = ? "
                                            "ORDER BY id", [uid])]
    assert events == ["open", "withdraw"]


def test_overdue_job_marks_open_consultations_with_now(mt, client, pub, tn_denial):
    first = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()
    answered = client.post("/api/v1/consultations", json=open_body(tn_denial), headers=pub).get_json()
    intake(mt).receive_message("TN", answered["uid"], {"message": {
        "uid": "5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e", "from": "TN", "position": "no_objection", "text": None,
        "at": to_iso(utc_now())}}, utc_now())
    opened = parse_iso(first["opened_at"])
    early = JOBS["mark-overdue-consultations"](mt, opened + dt.timedelta(days=29))
    assert early == {"overdue": 0, "uids": []}
    late = JOBS["mark-overdue-consultations"](mt, opened + dt.timedelta(days=31))
    assert late == {"overdue": 1, "uids": [first["uid"]]}
    overdue = client.get("/api/v1/consultations?overdue=true", headers=pub).get_json()["items"]
    assert [c["uid"] for c in overdue] == [first["uid"]] and overdue[0]["status"] == "overdue"
    others = client.get("/api/v1/consultations?overdue=false", headers=pub).get_json()["items"]
    assert [c["uid"] for c in others] == [answered["uid"]]
    bad = client.get("/api/v1/consultations?overdue=maybe&direction=sideways", headers=pub)
    assert bad.status_code == 400 and set(bad.get_json()["fields"]) == {"overdue", "direction"}
    # A late reply still counts: the consulted state answered.
    intake(mt).receive_message("TN", first["uid"], {"message": {
        "uid": "6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f", "from": "TN", "position": "maintain_objection",
        "text": "Objection maintained.", "at": to_iso(utc_now())}}, utc_now())
    assert client.get(f"/api/v1/consultations/{first['uid']}", headers=pub).get_json()["status"] == "answered"


def flagged_licence(number="MT/LIC/2026/0500", **overrides) -> dict:
    licence = sample_licence(number, destinations=["RU"], parties=[
        {"role": "end_user", "names": [{"text": "Tekhnoprom Limited"}], "country": "RU"}])
    licence["lines"][0]["control_entry"] = "2B201.a"
    licence.update(overrides)
    return licence


def index_names(runtime):
    """What the served node's indexer does moments after a record is stored."""
    JOBS["index-names"](runtime, utc_now())


def test_a_licence_essentially_identical_to_a_denial_is_flagged(mt, client, pub, tn_denial):
    index_names(mt)
    response = client.post("/api/v1/licences", json=flagged_licence(), headers=pub)
    assert response.status_code == 201, response.get_json()
    flags = response.get_json()["undercut_flags"]
    assert [f["denial_uid"] for f in flags] == [tn_denial["uid"]]
    flag = flags[0]
    assert flag["denial_origin"] == "TN" and flag["denial_ref"] == "TN/DEN/2026/0042"
    assert {"parties", "destination_country", "control_entries"} <= set(flag["matched_fields"])
    assert flag["control_entries"] == ["2B201", "2B201.a"] and flag["parties"][0]["matched_name"]
    request = flag["open_consultation"]
    assert request["method"] == "POST" and request["path"] == "/api/v1/consultations"
    listed = client.get("/api/v1/licences/MT/LIC/2026/0500/flags", headers=pub).get_json()
    assert listed["licence_number"] == "MT/LIC/2026/0500" and listed["items"] == flags
    # The offered request opens the consultation as it stands, and the flag then names it.
    opened = client.post(request["path"], json=request["body"], headers=pub)
    assert opened.status_code == 201, opened.get_json()
    assert opened.get_json()["transaction"]["destination_country"] == "RU"
    again = client.get("/api/v1/licences/MT/LIC/2026/0500/flags", headers=pub).get_json()["items"][0]
    assert again["consultation_uid"] == opened.get_json()["uid"] and again["open_consultation"] is None
    assert client.get("/api/v1/licences/NO/SUCH/1/flags", headers=pub).status_code == 404


@pytest.mark.parametrize("overrides", [
    {"destinations": ["KZ"]},
    {"parties": [{"role": "end_user", "names": [{"text": "Sfax Industrial Components SARL"}], "country": "RU"}]},
    {"lines": [{"line_no": 1, "control_entry": "2B001", "cn_code": "84581110", "quantity": "1", "unit": "pcs"}]},
])
def test_a_licence_that_differs_in_one_respect_is_not_flagged(mt, client, pub, tn_denial, overrides):
    index_names(mt)
    response = client.post("/api/v1/licences", json=flagged_licence(**overrides), headers=pub)
    assert response.status_code == 201 and response.get_json()["undercut_flags"] == []


def test_only_denials_of_the_last_three_years_flag(mt, client, pub):
    DenialRegistry(mt.db(), "TN").create(tunisian_denial("TN/DEN/2022/0001", denied_on="2022-06-01",
                                                         review_due="2027-06-01"), actor="test")
    index_names(mt)
    response = client.post("/api/v1/licences", json=flagged_licence(), headers=pub)
    assert response.get_json()["undercut_flags"] == []


def test_imported_licences_are_flagged_by_the_job(mt, tn_denial):
    db = mt.db()
    with write_transaction(db):
        LicenceRegistry(db, "MT").import_one(flagged_licence("MT/LIC/2026/0600"), actor="test")
    assert db.execute("SELECT count(*) FROM licence_flags").fetchone()[0] == 0
    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 1, "flagged": 1}
    assert db.execute("SELECT licence_number, denial_uid FROM licence_flags").fetchall() == [
        ("MT/LIC/2026/0600", tn_denial["uid"])]
    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 0, "flagged": 0}


def test_the_consult_command_group(mt, node_dir, client, pub, tn_denial):
    from click.testing import CliRunner

    from node.consultation_cli import consult

    runner = CliRunner()

    def run(*args):
        return runner.invoke(consult, [*args, "--data-dir", str(node_dir)])

    index_names(mt)
    client.post("/api/v1/licences", json=flagged_licence("MT/LIC/2026/0700"), headers=pub)
    opened = run("open", "--licence", "MT/LIC/2026/0700", "--days", "20", "--text", "Before we grant.")
    assert opened.exit_code == 0, opened.output
    uid = opened.output.split()[2]
    assert "with TN" in opened.output and "queued" in opened.output
    doc = client.get(f"/api/v1/consultations/{uid}", headers=pub).get_json()
    assert doc["licence_number"] == "MT/LIC/2026/0700" and doc["denial_uids"] == [tn_denial["uid"]]
    assert parse_iso(doc["response_due"]) - parse_iso(doc["opened_at"]) == dt.timedelta(days=20)
    listed = run("list", "--direction", "outbox")
    assert listed.exit_code == 0 and uid in listed.output and "TN" in listed.output
    assert run("list", "--direction", "inbox").output.strip() == "no consultations"
    replied = run("reply", uid, "--position", "info", "--text", "End-use certificate attached.")
    assert replied.exit_code == 0 and "status open" in replied.output
    refused = run("reply", uid, "--position", "no_objection")
    assert refused.exit_code == 1 and "consulted state's answer" in refused.output
    shown = run("show", uid)
    assert "End-use certificate attached." in shown.output and "Before we grant." in shown.output
    closed = run("outcome", uid, "granted", "--text", "Granted under condition 4.")
    assert closed.exit_code == 0 and "with the post-facto notice" in closed.output
    late = run("reply", uid, "--position", "info", "--text", "late")
    assert late.exit_code == 1 and f"consultation {uid} is closed" in late.output
    assert run("open", "--denial", tn_denial["uid"]).exit_code == 1
    tx = node_dir.parent / "transaction.json"
    tx.write_text(json.dumps(transaction()), encoding="utf-8")
    by_ref = run("open", "--denial", tn_denial["ref"], "--transaction", str(tx))  # the reference users know
    assert by_ref.exit_code == 0, by_ref.output
    second = client.get(f"/api/v1/consultations/{by_ref.output.split()[2]}", headers=pub).get_json()
    assert second["denial_uids"] == [tn_denial["uid"]]


def test_names_still_being_indexed_are_caught_by_the_job(mt, client, pub, tn_denial):
    """The request checks what is indexed; the job normalises what is pending and checks again."""
    response = client.post("/api/v1/licences", json=flagged_licence("MT/LIC/2026/0800"), headers=pub)
    assert response.get_json()["undercut_flags"] == []
    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 1, "flagged": 1}
    flags = client.get("/api/v1/licences/MT/LIC/2026/0800/flags", headers=pub).get_json()["items"]
    assert [f["denial_uid"] for f in flags] == [tn_denial["uid"]]


def test_the_flag_job_waits_while_records_are_stored_in_bulk(mt, tn_denial):
    from node.database import BulkWork

    db = mt.db()
    with write_transaction(db):
        LicenceRegistry(db, "MT").import_one(flagged_licence("MT/LIC/2026/0700"), actor="test")
    with BulkWork(mt.data_dir):  # as a pull or an import holds it
        result = JOBS["flag-licences"](mt, utc_now())
        assert set(result) == {"deferred"} and "pull or an import" in result["deferred"]
        assert db.execute("SELECT count(*) FROM licence_flags").fetchone()[0] == 0
    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 1, "flagged": 1}


def test_the_flag_job_leaves_pending_names_to_the_indexer_when_no_licence_changed(mt, tn_denial):
    from node import party_names

    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 0, "flagged": 0}
    DenialRegistry(mt.db(), "TN").create(tunisian_denial("TN/DEN/2026/0777"), actor="test")
    pending = party_names.pending(mt.db())
    assert pending > 0
    assert JOBS["flag-licences"](mt, utc_now()) == {"checked": 0, "flagged": 0}
    assert party_names.pending(mt.db()) == pending
