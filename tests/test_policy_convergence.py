"""A policy change converges across real nodes: after `cordon policy apply`, every peer holds exactly
what the new policy allows it (fields included), and a peer taken out of a group loses what it may no
longer see, by tombstone."""

from __future__ import annotations

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
