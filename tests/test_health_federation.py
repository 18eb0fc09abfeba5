"""Federation health against real node processes: three members (MT, DE, TN) and a coordinator.

The coordinator is a peer of every member (both sides confirmed its fingerprint) but the
members' policy shares nothing with it. It polls the members with signed health requests,
keeps the samples and serves the dashboard page, its JSON, ``/metrics`` and ``cordon health``.
Distinctive party names are published first, so every body the coordinator sees can be
searched for them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
import requests
from federation_support import Federation, NodeDB, RoguePeer, identity_file, peer, update_settings
from nodeproc import NodeProcess

from federation.batch import open_json
from federation.keys import KeyInfo
from node.keyring import Keyring

COORDINATOR = "OSCE-CPC"
MEMBERS = ("MT", "DE", "TN")
SECRET_NAMES = ("Zorvathian Quantum Holdings", "Зорватиан Квантум", "Quillibrex Tooling GmbH")
HEALTH = "/federation/v1/health"


@contextlib.contextmanager
def watched_federation(root, members, *, proxied: bool = False):
    """Started members, peered with each other and with a started coordinator (``fed.coordinator``)."""
    federation = Federation(root, members, proxied=proxied).init().peer_all()
    coordinator = NodeProcess(root / "osce", COORDINATOR, "OSCE Conflict Prevention Centre", role="coordinator")
    federation.coordinator = coordinator
    try:
        # A loaded test machine can be slow to answer; the poll must not call a slow member "down".
        update_settings(coordinator.data_dir, peer_timeout_seconds=30.0)
        coordinator_doc = identity_file(coordinator)
        for member in members:
            peer(federation[member], coordinator, coordinator_doc)
            peer(coordinator, federation[member])
        federation.start()
        coordinator.start()
        for node in (*federation.nodes.values(), coordinator):
            settle(node)
        yield federation
    finally:
        coordinator.stop()
        federation.close()


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    with watched_federation(tmp_path_factory.mktemp("health"), MEMBERS) as federation:
        federation.secret_docs = [
            federation.publish("MT", parties=[
                {"role": "end_user", "names": [{"text": SECRET_NAMES[0]}, {"text": SECRET_NAMES[1]}], "country": "RU"},
                {"role": "exporter", "names": [{"text": SECRET_NAMES[2]}], "country": "MT"}],
                reason_text="Procurement front for a missile programme"),
            federation.publish("DE", parties=[
                {"role": "consignee", "names": [{"text": SECRET_NAMES[0]}], "country": "AE"}]),
        ]
        for doc in federation.secret_docs:
            for member in MEMBERS:
                if member != doc["origin"]:
                    federation.wait_visible(member, doc["uid"], timeout=120)
        yield federation


def settle(node: NodeProcess, timeout: float = 300.0) -> None:
    """Wait until the node has loaded its name data, however slow the machine is.

    The first names of a script a node normalises load name data that keeps the whole
    process busy for a while; a test request with a short timeout would fail during that
    time for reasons unrelated to health. Screening the names the tests publish loads it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            session = node.session("read")
            names = [*SECRET_NAMES, "ООО Технопром", "Melita Precision Ltd"]
            response = session.post(node.url + "/api/v1/screen", json={"parties": [{"name": n} for n in names]},
                                    timeout=timeout)
            assert response.status_code == 200, response.text
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise


def secrets(fed) -> list[str]:
    """Everything that is record content or identifies a record: names, refs, uids, free text."""
    out = list(SECRET_NAMES)
    for doc in fed.secret_docs:
        out += [doc["uid"], doc["ref"], doc["reason_text"], doc["item_description"]]
    return out


def assert_no_content(fed, text: str) -> None:
    escaped = json.dumps(text)  # also catch \\u-escaped forms
    for secret in secrets(fed):
        assert secret not in text, secret
        assert json.dumps(secret)[1:-1] not in escaped, secret


def ask_health(fed, member: str) -> tuple[requests.Response, dict]:
    """The coordinator's signed health request to ``member``; returns the response and the opened report."""
    coordinator = fed.coordinator
    rogue = RoguePeer(coordinator, fed[member])
    response = rogue.post(HEALTH, {"asked_at": "now"})
    assert response.status_code == 200, response.text
    member_doc = Keyring(fed[member].data_dir).document
    keys = {kid: info for kid, info in ((k["kid"], KeyInfo.from_dict(k)) for k in member_doc["keys"])}
    report = open_json(response.json(), me=COORDINATOR, my_keys=Keyring(coordinator.data_dir).encryption_keys(),
                       sender_public_lookup=lambda sender, kid: keys[kid].public_key())
    return response, report


def coordinator_api(fed) -> requests.Session:
    if not hasattr(fed, "coordinator_session"):
        fed.coordinator_session = fed.coordinator.session("coordinator")
    return fed.coordinator_session


def overview(fed) -> dict:
    response = coordinator_api(fed).get(fed.coordinator.url + "/api/v1/federation/health", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def poll(fed) -> dict:
    return json.loads(fed.coordinator.cli("jobs", "run", "poll-members").stdout)


def test_health_answer_is_sealed_metadata_without_record_content(fed):
    response, report = ask_health(fed, "MT")
    assert set(response.json()) >= {"sender", "recipient", "ciphertext"}
    assert response.json()["recipient"] == COORDINATOR
    assert_no_content(fed, response.text)
    text = json.dumps(report, ensure_ascii=False)
    assert_no_content(fed, text)
    assert report["node_id"] == "MT" and report["protocol_version"] == "1"
    assert report["uptime_seconds"] >= 0 and report["software_version"]
    assert report["records"]["denial"]["own"]["active"] >= 1
    assert report["records"]["denial"]["received"]["active"] >= 1
    assert {entry["node_id"] for entry in report["peers"]} == {"DE", "TN"}
    assert {key["use"] for key in report["keys"]} == {"sig", "enc"}
    assert all(key["expires_in_days"] > 700 for key in report["keys"])
    # DE received MT's denial and measured how long it took to arrive.
    _, de_report = ask_health(fed, "DE")
    assert_no_content(fed, json.dumps(de_report, ensure_ascii=False))
    from_mt = next(entry for entry in de_report["peers"] if entry["node_id"] == "MT")
    assert from_mt["timeliness"]["count"] >= 1
    assert 0 <= from_mt["timeliness"]["median_seconds"] < 60


def test_health_is_refused_to_an_unsigned_or_unknown_asker(fed):
    db = NodeDB(fed["MT"])
    before = db.refusals(path=HEALTH)
    unsigned = requests.post(fed["MT"].url + HEALTH, json={}, timeout=10)
    assert unsigned.status_code == 401
    assert unsigned.json() == {"error": "refused", "message": "the request was refused", "fields": {}}
    assert db.refusals(path=HEALTH) == before + 1


def test_coordinator_takes_no_part_in_record_exchange(fed):
    coordinator_db = NodeDB(fed.coordinator)
    assert coordinator_db.value("SELECT count(*) FROM denials") == 0
    assert coordinator_db.value("SELECT count(*) FROM received") == 0
    for member in MEMBERS:
        db = NodeDB(fed[member])
        assert db.value("SELECT count(*) FROM disclosures WHERE peer = ?", [COORDINATOR]) == 0
        state = db.peer_state(COORDINATOR)
        assert state["last_push_ok"] is None and state["last_pull_ok"] is None
    # Asking a member for changes as the coordinator is refused, and counted.
    before = NodeDB(fed["MT"]).refusals("coordinator_exchange")
    response = RoguePeer(fed.coordinator, fed["MT"]).post("/federation/v1/changes", {"cursor": "0", "limit": 10})
    assert response.status_code == 403
    assert NodeDB(fed["MT"]).refusals("coordinator_exchange") == before + 1
    # An administrator cannot sync with the coordinator either.
    result = fed["MT"].cli("sync", "--peer", COORDINATOR, check=False)
    assert result.returncode != 0 and "coordinator" in result.stderr
    # Nor does the coordinator's own sync pretend to do something; no outbox is shown for it.
    result = fed.coordinator.cli("sync", check=False)
    assert result.returncode == 1 and "a coordinator exchanges no records" in result.stderr
    listing = fed["MT"].cli("peers", "list").stdout
    lines = listing[listing.index(COORDINATOR):].splitlines() + [""]
    assert "none are exchanged" in lines[2] and "pushed to" not in lines[3]


def test_coordinator_polls_every_member_and_shows_them_up(fed):
    result = poll(fed)
    assert result["polled"] == 3
    assert result["members"] == {"MT": "up", "DE": "up", "TN": "up"}
    data = overview(fed)
    assert data["role"] == "coordinator"
    assert data["summary"] == {"up": 3, "degraded": 0, "down": 0, "unknown": 0}
    assert {m["node_id"]: m["status"] for m in data["members"]} == {"MT": "up", "DE": "up", "TN": "up"}
    assert all(m["protocol_version"] == "1" and not m["stale"] for m in data["members"])
    rows = data["lag"]["rows"]
    assert set(rows) == set(MEMBERS)
    for origin in MEMBERS:
        assert set(rows[origin]) == set(MEMBERS) - {origin}
        for cell in rows[origin].values():
            assert cell["basis"] == "outbox" and cell["lag_seconds"] == 0 and cell["failures"] == 0
    pairs = {(p["origin"], p["receiver"]) for p in data["timeliness"]["pairs"]}
    assert {("MT", "DE"), ("MT", "TN"), ("DE", "MT"), ("DE", "TN")} <= pairs
    assert data["version_mismatches"] == [] and data["keys_expiring"] == []
    assert data["history"]["points"] and data["history"]["points"][-1]["polls"] >= 1
    assert_no_content(fed, json.dumps(data, ensure_ascii=False))
    stored = NodeDB(fed.coordinator).rows("SELECT report FROM health_samples WHERE report IS NOT NULL")
    assert len(stored) == 3
    assert_no_content(fed, " ".join(row[0] for row in stored))


def test_dashboard_page_shows_every_member(fed):
    response = coordinator_api(fed).get(fed.coordinator.url + "/coordinator", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = response.text
    for member in MEMBERS:
        assert re.search(rf'id="member-{member}".*?data-status="up"', page, re.S), member
    assert "<svg" in page and "<script" not in page
    assert_no_content(fed, page)
    assert requests.get(fed.coordinator.url + "/coordinator", timeout=10).status_code == 401


def test_metrics_count_a_refused_request_and_show_peer_state(fed):
    mt = fed["MT"]
    rogue = RoguePeer(fed["DE"], mt)
    response = rogue.push([rogue.item(rogue.view())], destination="TN")
    assert response.status_code == 401
    screen = fed.api("MT").post(mt.url + "/api/v1/screen", json={"name": SECRET_NAMES[0]}, timeout=30)
    assert screen.status_code == 200
    metrics = requests.get(mt.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    values = metric_values(text)
    assert values[('cordon_federation_refusals_total', (('code', 'wrong_destination'), ('kind', 'signature')))] >= 1
    assert values[('cordon_http_requests_total',
                   (('method', 'POST'), ('route', '/federation/v1/push'), ('status', '401')))] >= 1
    assert values[('cordon_screening_seconds_count', ())] >= 1
    assert values[('cordon_peer_outbox_depth', (('peer', 'DE'),))] == 0
    assert ('cordon_peer_outbox_depth', (('peer', COORDINATOR),)) not in values
    assert values[('cordon_peer_sync_lag_seconds', (('peer', 'DE'),))] >= 0
    assert values[('cordon_exchanges_total', (('direction', 'push'), ('outcome', 'ok'), ('peer', 'DE')))] >= 1
    assert_no_content(fed, text)
    coordinator_metrics = metric_values(requests.get(fed.coordinator.url + "/metrics", timeout=10).text)
    assert coordinator_metrics[('cordon_member_up', (('member', 'MT'),))] == 1


def metric_values(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert match, line
        labels = tuple(sorted(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")))
        values[(match.group(1), labels)] = float(match.group(3))
    return values


def test_cordon_health_on_a_member_prints_its_peers(fed):
    out = fed["MT"].cli("health").stdout
    assert out.startswith("Node MT (member)")
    lines = {line.split()[0]: line for line in out.splitlines() if line[:3] in ("DE ", "TN ")}
    assert set(lines) == {"DE", "TN"}
    assert all("in step" in line for line in lines.values())
    assert COORDINATOR not in out
    assert_no_content(fed, out)


def test_a_stopped_member_shows_down_on_the_next_poll(fed):
    fed.stop("TN")
    try:
        result = poll(fed)
        assert result["members"]["TN"] == "down"
        assert result["members"]["MT"] != "down" and result["members"]["DE"] != "down"
        data = overview(fed)
        members = {m["node_id"]: m for m in data["members"]}
        assert members["TN"]["status"] == "down" and members["TN"]["error"] == "unreachable"
        assert data["summary"]["down"] == 1
        # With TN silent, its row is measured from the receivers' side.
        assert {cell["basis"] for cell in data["lag"]["rows"]["TN"].values()} == {"receiver"}
        assert data["history"]["points"][-1]["down"] == 1
        page = coordinator_api(fed).get(fed.coordinator.url + "/coordinator", timeout=30).text
        assert re.search(r'id="member-TN".*?data-status="down"', page, re.S)
        printed = fed.coordinator.cli("health").stdout
        tn_line = next(line for line in printed.splitlines() if line.startswith("TN "))
        assert "down" in tn_line and "unreachable" in tn_line
        assert re.search(r"down 1", printed)
        metrics = metric_values(requests.get(fed.coordinator.url + "/metrics", timeout=10).text)
        assert metrics[('cordon_member_up', (('member', 'TN'),))] == 0
    finally:
        fed.start("TN")
        settle(fed["TN"])
    assert poll(fed)["members"]["TN"] != "down"


def test_an_earlier_health_answer_replayed_is_not_taken(tmp_path):
    """Someone on the network answers the coordinator's poll in DE's name with DE's sealed answer to an
    earlier poll (it opens, and it is DE's): the coordinator does not take it, so a stopped member cannot be
    shown up with old figures. The answer to this poll is taken again once the replay stops."""
    with watched_federation(tmp_path, ("MT", "DE"), proxied=True) as federation:
        assert poll(federation)["members"] == {"MT": "up", "DE": "up"}
        proxy = federation.proxies["DE"]
        proxy.replay[HEALTH] = proxy.answer_to(HEALTH)
        try:
            assert poll(federation)["members"] == {"MT": "up", "DE": "down"}
        finally:
            proxy.replay.clear()
        members = {m["node_id"]: m for m in overview(federation)["members"]}
        assert members["DE"]["status"] == "down" and members["DE"]["error"] == "bad_answer"
        assert poll(federation)["members"]["DE"] == "up"
