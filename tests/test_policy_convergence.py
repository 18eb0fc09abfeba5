"""A policy change converges across real nodes: after `cordon policy apply`, every peer holds exactly
what the new policy allows it (fields included), and a peer taken out of a group loses what it may no
longer see, by tombstone."""

from __future__ import annotations

import sqlite3

import pytest
from federation_support import NodeDB, start_federation, wait_for

NARROWER = """version: 1
groups:
  testnet: {members: [DE]}
  everyone: {members: [DE, TN]}
views:
  brief: {redact: [reason_text, contact], redact_roles: [exporter]}
rules:
  - name: share-with-de-only
    match: {record_type: denial, peer_group: testnet}
    action: share
    view: brief
inbound:
  - name: in
    peer_group: everyone
    record_types: denial
    max_bytes: 262144
"""


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("converge"), ("MT", "DE", "TN"))
    yield federation
    federation.close()


def test_apply_withdraws_from_a_removed_peer_and_narrows_the_view(fed, tmp_path):
    doc = fed.publish("MT", reason_text="Assessment text that the new policy withholds.")
    fed.wait_visible("DE", doc["uid"])
    fed.wait_visible("TN", doc["uid"])
    assert fed.get("DE", doc["uid"])["reason_text"].startswith("Assessment")

    policy = tmp_path / "narrower.yaml"
    policy.write_text(NARROWER, encoding="utf-8")
    dry = fed["MT"].cli("policy", "apply", str(policy), "--dry-run").stdout
    tn_line = [line for line in dry.splitlines() if line.strip().startswith("TN")][0]
    assert tn_line.split()[-1] == "1"  # one record would be withdrawn from TN
    assert fed.get("TN", doc["uid"]) is not None  # a dry run changes nothing

    applied = fed["MT"].cli("policy", "apply", str(policy)).stdout
    assert "applied" in applied
    fed.wait_gone("TN", doc["uid"], timeout=60)
    narrowed = wait_for(lambda: (d := fed.get("DE", doc["uid"])) and "reason_text" not in d and d,
                        60, "DE's copy to lose reason_text")
    assert "contact" not in narrowed and narrowed["version"] == doc["version"]

    tn = NodeDB(fed["TN"])
    assert tn.value("SELECT count(*) FROM denial_versions WHERE uid = ?", (doc["uid"],)) == 0
    assert tn.value("SELECT kind FROM received WHERE uid = ?", (doc["uid"],)) == "tombstone"
    de = NodeDB(fed["DE"])
    assert "Assessment text" not in (de.value("SELECT doc FROM denials WHERE uid = ?", (doc["uid"],)) or "")
    ledger = fed["MT"].cli("disclosures", "--peer", "TN").stdout
    assert "tombstone" in ledger.splitlines()[0]
    mt = NodeDB(fed["MT"])
    assert mt.value("SELECT count(*) FROM audit_log WHERE action = 'policy.apply'") >= 1


def test_a_push_with_nothing_for_the_peer_claims_no_contact(fed, tmp_path):
    """Under the narrower policy TN may see nothing new: while pushes to TN succeed, MT's push sends it no
    request and TN's state keeps its last real push, while the cursor moves past what is not for it. While
    pushes to TN are failing, the same push is sent as an empty batch, and its answer clears the failures.
    A pull that brings nothing is a successful pull, not something received."""
    policy = tmp_path / "narrower.yaml"
    policy.write_text(NARROWER, encoding="utf-8")
    fed["MT"].cli("policy", "apply", str(policy))  # as the test before left it, when run alone
    mt, de = NodeDB(fed["MT"]), NodeDB(fed["DE"])
    state = "SELECT last_push_ok, failures, push_cursor FROM peer_state WHERE node_id = 'TN'"
    fed["MT"].cli("sync", "--peer", "TN")
    pushed_before, failures_before, _ = mt.rows(state)[0]
    assert failures_before == 0
    fed.stop("TN")
    try:
        doc = fed.publish("MT")  # for DE only
        fed.wait_visible("DE", doc["uid"])
        result = fed["MT"].cli("sync", "--peer", "TN", check=False)
        assert "push sent 0" in result.stdout and "pull FAILED" in result.stdout
        pushed, failures, cursor = mt.rows(state)[0]
        assert (pushed, failures) == (pushed_before, 0)
        assert cursor == mt.value("SELECT max(seq) FROM changes")
        assert "pushed to:     " + (pushed_before or "never") in fed["MT"].cli("peers", "list").stdout

        with sqlite3.connect(mt.path, timeout=30) as conn:  # as after pushes to TN failed while it was down
            conn.execute("UPDATE peer_state SET failures = 3, last_error = 'TN unreachable' WHERE node_id = 'TN'")
        fed.wait_visible("DE", fed.publish("MT")["uid"])
        fed["MT"].cli("sync", "--peer", "TN", check=False)  # the empty batch is sent, and fails too
        assert mt.rows(state)[0][1] >= 4  # (MT's push worker may have tried as well)
    finally:
        fed.start("TN")
    doc = fed.publish("MT")
    fed.wait_visible("DE", doc["uid"])
    fed["MT"].cli("sync", "--peer", "TN")
    pushed, failures, _ = mt.rows(state)[0]
    assert failures == 0 and pushed > (pushed_before or "")
    assert mt.value("SELECT last_error FROM peer_state WHERE node_id = 'TN'") is None
    assert fed.get("TN", doc["uid"]) is None  # contacted, and told nothing

    received = "SELECT last_received, last_pull_ok FROM peer_state WHERE node_id = 'MT'"
    fed["DE"].cli("sync", "--peer", "MT")
    received_before, _ = de.rows(received)[0]
    fed["DE"].cli("sync", "--peer", "MT")  # nothing new
    received_after, pulled_after = de.rows(received)[0]
    assert received_after == received_before and pulled_after > received_before


def test_records_refused_by_the_inbound_rules_arrive_once_a_policy_takes_them(fed, tmp_path):
    """TN takes nothing from MT for a while: MT's pushes reach TN and are refused item by item (MT's ledger
    says TN was sent them). Once TN applies a policy that takes MT's denials, its pull cursor for MT is
    reset (the dry run and the apply say so), and its next pull stores what was refused, nothing twice."""
    from federation_support import share_policy

    closed = tmp_path / "closed.yaml"
    closed.write_text(share_policy(["MT", "DE", "TN"]).replace("peer_group: testnet\n    record_types",
                                                            "peers: [DE]\n    record_types"), encoding="utf-8")
    opened = tmp_path / "opened.yaml"
    opened.write_text(share_policy(["MT", "DE", "TN"]), encoding="utf-8")
    fed["MT"].cli("policy", "apply", str(opened))  # MT shares with TN again (an earlier test narrowed it)
    fed["TN"].cli("policy", "apply", str(closed))
    tn = NodeDB(fed["TN"])
    refused_before = tn.refusal_codes().get("inbound_policy", 0)
    docs = [fed.publish("MT") for _ in range(2)]
    for doc in docs:
        fed.wait_visible("DE", doc["uid"])
    fed["TN"].cli("sync", "--peer", "MT")
    wait_for(lambda: tn.refusal_codes().get("inbound_policy", 0) >= refused_before + 2, 30, "TN to refuse both")
    assert all(fed.get("TN", doc["uid"]) is None for doc in docs)
    # The origin learns it from the push receipts: its log says so, without naming a record.
    told = wait_for(lambda: [line for line in fed["MT"].log().splitlines()
                             if "push to TN: the peer refused" in line and "inbound_policy" in line], 30,
                    "MT to log the refusals")
    assert not any(doc["ref"] in line or doc["uid"] in line for doc in docs for line in told)

    dry = fed["TN"].cli("policy", "apply", str(opened), "--dry-run").stdout
    assert "the next pull would fetch everything again from MT" in dry
    assert "everything again" not in fed["TN"].cli("policy", "apply", str(closed), "--dry-run").stdout
    applied = fed["TN"].cli("policy", "apply", str(opened)).stdout
    assert "the next pull fetches everything again from MT" in applied
    assert tn.rows("SELECT pull_cursor, pull_epoch FROM peer_state WHERE node_id = 'MT'") == [(None, 1)]
    synced = fed["TN"].cli("sync", "--peer", "MT").stdout
    line = [entry for entry in synced.splitlines() if entry.startswith("MT:")][0]
    assert "pull stored 2," in line, line  # the two refused before, and nothing else stored again
    for doc in docs:
        assert fed.get("TN", doc["uid"])["origin"] == "MT"
    assert tn.value("SELECT pull_cursor FROM peer_state WHERE node_id = 'MT'") is not None
