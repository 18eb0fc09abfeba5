"""Faults between real nodes: a peer that is down while records are published catches up by
itself; nodes killed with SIGKILL in the middle of a sync end with every record exactly once.

MT pushes and serves pulls in batches of 100, DE pulls in batches of 100, so a sync of a
couple of thousand records takes many round trips and can be interrupted half-way.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import EVERY_DENIAL_VERSION
from federation_support import NodeDB, start_federation, wait_for
from nodeproc import ROOT

from node.samples import denials

BULK = 2000
BULK_PREFIX = "MT/DEN/2026/"


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("recovery"), ("MT", "DE", "TN"),
                                  settings={"MT": {"sync_batch_size": 100}, "DE": {"sync_batch_size": 100}})
    yield federation
    federation.close()


def bulk_file(path, n: int):
    """``n`` generated MT denials as JSON Lines.

    Parties of kind ``person`` are left out: the first person name a node normalises builds
    the screening name analyser, which takes long enough to blur what these tests measure.
    """
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in denials(n * 2, "MT", seed=11):
            row["parties"] = [party for party in row["parties"] if party.get("kind") != "person"]
            if all(party["role"] == "exporter" for party in row["parties"]):
                continue
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
            if written == n:
                return path
    raise AssertionError("not enough generated denials without person parties")


def bulk_state(db: NodeDB) -> dict:
    """What a node holds of MT's bulk records: counts that must all equal BULK, exactly once."""
    like = BULK_PREFIX + "%"
    return {
        "rows": db.value("SELECT count(*) FROM denials WHERE origin = 'MT' AND ref LIKE ?", [like]),
        "refs": db.value("SELECT count(DISTINCT ref) FROM denials WHERE origin = 'MT' AND ref LIKE ?", [like]),
        "versions": db.value(f"SELECT count(*) FROM {EVERY_DENIAL_VERSION} WHERE uid IN "
                             "(SELECT uid FROM denials WHERE origin = 'MT' AND ref LIKE ?)", [like]),
        "received": db.value("SELECT count(*) FROM received WHERE origin = 'MT' AND uid IN "
                             "(SELECT uid FROM denials WHERE ref LIKE ?)", [like]),
    }


def kill_when(db: NodeDB, low: int, high: int, kill, timeout: float = 120.0) -> int:
    """SIGKILL (via ``kill``) as soon as the node holds between ``low`` and ``high`` bulk records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = db.value("SELECT count(*) FROM received WHERE origin = 'MT' AND uid IN "
                        "(SELECT uid FROM denials WHERE ref LIKE ?)", [BULK_PREFIX + "%"])
        if held >= low:
            kill()
            assert held < high, f"the sync finished ({held}) before it could be interrupted"
            return held
        time.sleep(0.01)
    raise AssertionError("the sync did not start")


def test_a_peer_down_while_records_are_published_receives_them_all_when_back(fed):
    fed.stop("DE")
    failed_after = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    docs = [fed.publish("MT") for _ in range(4)]
    amended = fed.api("MT").patch(fed.url("MT", f"/api/v1/denials/{docs[0]['uid']}"),
                                  json={"quantity": "5"}, timeout=30)
    assert amended.status_code == 200
    for doc in docs:
        fed.wait_visible("TN", doc["uid"])

    mt = NodeDB(fed["MT"])
    state = wait_for(lambda: (s := mt.peer_state("DE"))["failures"] >= 1 and s, 30, "MT's failed push to DE")
    assert state["next_attempt_at"] > failed_after and "unreachable" in state["last_error"]
    listing = fed["MT"].cli("peers", "list").stdout
    assert "push failures:" in listing and "next try" in listing

    fed.start("DE")  # nobody acts after this: MT's push worker retries on its backoff
    assert fed.wait_visible("DE", docs[0]["uid"], version=2, timeout=120)["quantity"] == "5"
    for doc in docs[1:]:
        fed.wait_visible("DE", doc["uid"], timeout=120)
    wait_for(lambda: mt.peer_state("DE")["failures"] == 0, 30, "MT's push state for DE to clear")
    channels = mt.rows("SELECT DISTINCT channel FROM disclosures WHERE peer = 'DE' AND uid IN (?, ?, ?, ?)",
                       [doc["uid"] for doc in docs])
    assert channels == [("push",)]


def test_nodes_killed_in_the_middle_of_a_sync_end_with_every_record_exactly_once(fed, tmp_path):
    mt, de, tn = NodeDB(fed["MT"]), NodeDB(fed["DE"]), NodeDB(fed["TN"])
    fed.stop("DE")  # DE will fetch everything by pull
    out = fed["MT"].cli("denials", "import", str(bulk_file(tmp_path / "bulk.jsonl", BULK))).stdout
    assert f"{BULK} created" in out
    assert bulk_state(mt)["rows"] == BULK

    # TN receives the bulk by push and is killed with SIGKILL half-way.
    held = kill_when(tn, 1, BULK, fed["TN"].kill)
    assert 0 < held < BULK

    # DE's pull job is killed with SIGKILL half-way.
    job = subprocess.Popen([sys.executable, "-m", "node.cli", "jobs", "run", "pull-peers",
                            "--data-dir", str(fed["DE"].data_dir)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        held = kill_when(de, 1, BULK, lambda: job.send_signal(signal.SIGKILL))
    finally:
        job.wait(30)
    assert job.returncode == -signal.SIGKILL
    # The pull cursor was stored only with the batch it ends: every change up to it is held.
    cursor = int(de.peer_state("MT")["pull_cursor"])
    changed = mt.value("SELECT count(*) FROM changes c JOIN denials d ON d.uid = c.uid "
                       "WHERE c.seq <= ? AND d.ref LIKE ?", [cursor, BULK_PREFIX + "%"])
    stored = de.value("SELECT count(*) FROM received WHERE origin = 'MT' AND rev <= ? AND uid IN "
                      "(SELECT uid FROM denials WHERE ref LIKE ?)", [cursor, BULK_PREFIX + "%"])
    assert 0 < stored == changed <= bulk_state(de)["received"] < BULK

    # Restarted: DE syncs; TN is healed by MT's push worker on its own.
    fed.start("DE", "TN")
    out = fed["DE"].cli("sync", "--peer", "MT").stdout
    assert "MT: push sent" in out and "FAILED" not in out, out
    exactly_once = {"rows": BULK, "refs": BULK, "versions": BULK, "received": BULK}
    assert bulk_state(de) == exactly_once
    wait_for(lambda: bulk_state(tn) == exactly_once, 120, "TN to hold every bulk record")

    expected = {uid for (uid,) in mt.rows("SELECT uid FROM denials WHERE ref LIKE ?", [BULK_PREFIX + "%"])}
    for node_id in ("DE", "TN"):
        listed = {uid for uid, doc in fed.listed(node_id, "MT").items() if doc["ref"].startswith(BULK_PREFIX)}
        assert listed == expected
    # A further sync is a no-op.
    again = fed["DE"].cli("sync", "--peer", "MT").stdout
    assert "pull stored 0, dropped 0" in again, again
    assert bulk_state(de) == exactly_once


@pytest.fixture()
def pair(tmp_path_factory):
    # MT's push worker wakes only once an hour: DE receives the bulk by pull alone.
    federation = start_federation(tmp_path_factory.mktemp("origin-gone"), ("MT", "DE"),
                                  settings={"MT": {"sync_batch_size": 100, "push_interval_seconds": 3600},
                                            "DE": {"sync_batch_size": 100}})
    yield federation
    federation.close()


def test_a_pull_whose_origin_dies_half_way_stops_cleanly_and_the_next_completes(pair, tmp_path):
    mt, de = NodeDB(pair["MT"]), NodeDB(pair["DE"])
    pair.stop("DE")  # DE will fetch everything by pull
    assert f"{BULK} created" in pair["MT"].cli("denials", "import", str(bulk_file(tmp_path / "b.jsonl", BULK))).stdout
    pair.start("DE")
    sync = subprocess.Popen([sys.executable, "-m", "node.cli", "sync", "--peer", "MT",
                             "--data-dir", str(pair["DE"].data_dir)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        held = kill_when(de, 1, BULK, pair["MT"].kill)
        out, _ = sync.communicate(timeout=120)  # the fetching and verifying threads stop: the command ends
    finally:
        sync.kill()
    assert sync.returncode == 1 and "pull FAILED" in out, out
    state = de.peer_state("MT")
    assert state["pull_failures"] >= 1 and state["last_pull_error"]  # DE's scheduled pull may fail too
    cursor = int(state["pull_cursor"])
    changed = mt.value("SELECT count(*) FROM changes c JOIN denials d ON d.uid = c.uid "
                       "WHERE c.seq <= ? AND d.ref LIKE ?", [cursor, BULK_PREFIX + "%"])
    assert held <= changed == bulk_state(de)["received"] < BULK

    pair.start("MT")
    out = pair["DE"].cli("sync", "--peer", "MT").stdout
    assert "FAILED" not in out, out
    assert bulk_state(de) == {"rows": BULK, "refs": BULK, "versions": BULK, "received": BULK}
