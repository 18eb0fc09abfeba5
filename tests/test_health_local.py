"""Federation health inside one process: real data directories, keys and databases, the Flask
test client for pages and metrics. The members' reports are the real ones their nodes build;
only the network between coordinator and members is left out (the real-process tests cover it).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import sample_denial
from hypothesis import given
from hypothesis import strategies as st

from node.app import create_app
from node.clients import ClientRegistry
from node.config import Settings
from node.datadir import initialise
from node.denials import DenialRegistry
from node.federation_overview import coordinator_overview, member_overview
from node.health_printout import duration, render
from node.health_report import delay_summary, node_health
from node.member_poll import HISTORY, MemberPoller, judge, poll_members, sample
from node.metrics import refusal_kind
from node.peers import PeerRegistry
from node.runtime import NodeRuntime
from node.schema import migrate

NAMES = {"MT": "Malta", "DE": "Germany", "TN": "Tunisia", "OSCE-CPC": "OSCE Conflict Prevention Centre"}


def make_node(root, node_id: str, now: dt.datetime, role: str = "member") -> NodeRuntime:
    data_dir = root / node_id.lower()
    initialise(data_dir, Settings(node_id=node_id, name=NAMES[node_id], base_url=f"http://127.0.0.1:9/{node_id}",
                                  role=role), now)
    runtime = NodeRuntime(data_dir)
    migrate(runtime.db())
    return runtime


def add_peer(runtime: NodeRuntime, other: NodeRuntime) -> None:
    PeerRegistry(runtime.db(), runtime.node_id).add(other.keyring.signed_identity(), other.keyring.fingerprint(),
                                                    actor="test")


@pytest.fixture
def nodes(tmp_path):
    """MT, DE, TN and a coordinator; MT peers with DE, TN and the coordinator; MT published 20 minutes ago."""
    now = dt.datetime.now(dt.timezone.utc)
    created = now - dt.timedelta(days=1)
    nodes = {node_id: make_node(tmp_path, node_id, created) for node_id in ("MT", "DE", "TN")}
    nodes["OSCE-CPC"] = make_node(tmp_path, "OSCE-CPC", created, role="coordinator")
    for other in ("DE", "TN", "OSCE-CPC"):
        add_peer(nodes["MT"], nodes[other])
    add_peer(nodes["DE"], nodes["MT"])
    add_peer(nodes["TN"], nodes["MT"])
    for member in ("MT", "DE", "TN"):
        add_peer(nodes["OSCE-CPC"], nodes[member])
        if member != "MT":
            add_peer(nodes[member], nodes["OSCE-CPC"])
    DenialRegistry(nodes["MT"].db(), "MT").create(sample_denial(), actor="test", now=now - dt.timedelta(minutes=20))
    yield nodes
    for runtime in nodes.values():
        runtime.close()


def poll_now(nodes, now, down=("TN",)):
    """What one poll would store: each member's real report, or down with ``unreachable``."""
    samples = [sample(member, None if member in down else node_health(nodes[member], now), "unreachable"
                      if member in down else None, 7, now) for member in ("MT", "DE", "TN")]
    MemberPoller(nodes["OSCE-CPC"]).store(samples, now)
    return samples


def test_member_report_lists_member_peers_with_their_outbox(nodes):
    now = dt.datetime.now(dt.timezone.utc)
    report = node_health(nodes["MT"], now, started_at=now.timestamp() - 90)
    assert report["uptime_seconds"] == 90
    peers = {entry["node_id"]: entry for entry in report["peers"]}
    assert set(peers) == {"DE", "TN"}  # the coordinator takes no part in exchange
    assert peers["DE"]["outbox_depth"] == 1 and peers["DE"]["oldest_pending_at"] is not None
    assert report["records"]["denial"] == {"own": {"active": 1}, "received": {}}
    assert json.dumps(report) == json.dumps(json.loads(json.dumps(report)))
    assert not any(isinstance(value, float) for value in walk(report))  # sealed as canonical JSON: no floats
    text = json.dumps(report, ensure_ascii=False)
    for secret in ("Технопром", "Tekhnoprom", "Melita", "MT/DEN/2026/0001", "machine tools"):
        assert secret not in text


def walk(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield value


def test_overview_judges_members_and_builds_the_lag_matrix(nodes):
    now = dt.datetime.now(dt.timezone.utc)
    poll_now(nodes, now)
    data = coordinator_overview(nodes["OSCE-CPC"], now)
    status = {m["node_id"]: m for m in data["members"]}
    assert status["MT"]["status"] == "degraded"
    assert status["MT"]["reasons"] == ["outbox_lag:DE", "outbox_lag:TN"]
    assert status["DE"]["status"] == "up" and status["TN"]["status"] == "down"
    assert status["TN"]["error"] == "unreachable" and status["TN"]["reasons"] == ["unreachable"]
    assert data["summary"] == {"up": 1, "degraded": 1, "down": 1, "unknown": 0}
    rows = data["lag"]["rows"]
    assert rows["MT"]["DE"]["basis"] == "outbox" and rows["MT"]["DE"]["outbox_depth"] == 1
    assert 1190 <= rows["MT"]["DE"]["lag_seconds"] <= 1300
    assert rows["DE"]["MT"] == {"lag_seconds": 0, "basis": "outbox", "outbox_depth": 0, "failures": 0,
                                "last_exchange": None}
    # TN did not answer: its row comes from the receivers; MT never pulled from it.
    assert rows["TN"]["MT"]["basis"] == "receiver" and rows["TN"]["MT"]["lag_seconds"] is None
    assert rows["DE"]["TN"]["basis"] == "unknown"  # DE and TN are not peers of each other
    last = data["history"]["points"][-1]
    assert last["down"] == 1 and last["failures"] == 1 and last["max_lag_seconds"] >= 1190
    assert data["keys_expiring"] == [] and data["version_mismatches"] == []
    printed = render(data)
    assert re.search(r"^MT\s+degraded", printed, re.M) and re.search(r"^TN\s+down", printed, re.M)
    assert "down 1" in printed


def test_keys_near_their_end_are_listed_and_degrade_a_member(nodes):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=710)
    poll_now(nodes, later, down=())
    data = coordinator_overview(nodes["OSCE-CPC"], later)
    listed = {(key["node_id"], key["use"]) for key in data["keys_expiring"]}
    assert listed == {(node, use) for node in ("MT", "DE", "TN", "OSCE-CPC") for use in ("sig", "enc")}
    assert all(18 <= key["expires_in_days"] <= 20 for key in data["keys_expiring"])
    status, reasons = judge(node_health(nodes["DE"], later + dt.timedelta(days=14)), later + dt.timedelta(days=14))
    assert status == "degraded" and {"key_expiring:sig", "key_expiring:enc"} <= set(reasons)


def test_history_is_kept_for_48_hours_with_one_full_report_per_member(nodes):
    start = dt.datetime.now(dt.timezone.utc) - HISTORY - dt.timedelta(hours=2)
    for minutes in (0, 60, 150, 180):
        poll_now(nodes, start + dt.timedelta(minutes=minutes))
    db = nodes["OSCE-CPC"].db()
    assert db.execute("SELECT count(*) FROM health_samples").fetchone()[0] == 12
    poll_now(nodes, dt.datetime.now(dt.timezone.utc))
    kept = db.execute("SELECT DISTINCT polled_at FROM health_samples ORDER BY polled_at").fetchall()
    assert len(kept) == 3  # the two oldest polls fell out of the 48 hours
    reports = dict(db.execute("SELECT member, count(*) FROM health_samples WHERE report IS NOT NULL GROUP BY member"))
    assert reports == {"MT": 1, "DE": 1}  # TN never answered


def test_only_a_coordinator_polls(nodes):
    result = poll_members(nodes["MT"], dt.datetime.now(dt.timezone.utc))
    assert result["polled"] == 0 and "not a coordinator" in result["skipped"]


def test_member_overview_works_out_the_lag_towards_each_peer(nodes):
    data = member_overview(nodes["MT"], dt.datetime.now(dt.timezone.utc))
    lags = {entry["node_id"]: entry["lag_seconds"] for entry in data["peers"]}
    assert set(lags) == {"DE", "TN"} and all(1190 <= lag <= 1300 for lag in lags.values())
    printed = render(data)
    assert printed.startswith("Node MT (member)") and re.search(r"^DE\s+20 min\s+1\s", printed, re.M)


# -- the app: page, JSON, metrics and who may see them ------------------------------------


@pytest.fixture
def coordinator_app(nodes):
    poll_now(nodes, dt.datetime.now(dt.timezone.utc))
    application = create_app(nodes["OSCE-CPC"].data_dir)
    application.secret_key = "test-only-secret"
    yield application
    application.extensions["cordon"].close()


def token(app, *scopes) -> dict:
    registry = ClientRegistry(app.extensions["cordon"].db())
    client, secret = registry.create(f"c{len(scopes)}{'-'.join(scopes)}", list(scopes), actor="test")
    response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                      auth=(client.client_id, secret))
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


def test_dashboard_needs_the_coordinator_scope_or_a_coordinator_session(coordinator_app):
    client = coordinator_app.test_client()
    assert client.get("/coordinator").status_code == 401
    assert client.get("/coordinator", headers=token(coordinator_app, "read")).status_code == 403
    page = client.get("/coordinator", headers=token(coordinator_app, "coordinator"))
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert re.search(r'id="member-TN".*?data-status="down"', html, re.S)
    assert re.search(r'id="member-MT".*?data-status="degraded"', html, re.S)
    assert '<html lang="en">' in html and "<caption>" in html and "<script" not in html
    with client.session_transaction() as session:
        session["user"] = {"name": "officer", "role": "read"}
    refused = client.get("/coordinator")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "Your role (read) cannot see the federation dashboard" in refused.get_data(as_text=True)
    with client.session_transaction() as session:
        session["user"] = {"name": "watcher", "role": "coordinator"}
    assert client.get("/coordinator").status_code == 200


def test_json_overview_is_documented_and_guarded(coordinator_app):
    client = coordinator_app.test_client()
    assert client.get("/api/v1/federation/health").status_code == 401
    body = client.get("/api/v1/federation/health", headers=token(coordinator_app, "coordinator")).get_json()
    assert body["role"] == "coordinator" and body["summary"]["down"] == 1
    document = client.get("/api/v1/openapi.json").get_json()
    assert "get" in document["paths"]["/api/v1/federation/health"]
    assert "post" in document["paths"]["/federation/v1/health"]


def test_member_page_shows_the_node_and_its_peers(nodes):
    app = create_app(nodes["MT"].data_dir)
    try:
        client = app.test_client()
        headers = token(app, "coordinator")
        html = client.get("/coordinator", headers=headers).get_data(as_text=True)
        assert "Node health: MT" in html and "<th scope=\"row\">DE</th>" in html and "OSCE-CPC</th>" not in html
        body = client.get("/api/v1/federation/health", headers=headers).get_json()
        assert body["role"] == "member" and [p["node_id"] for p in body["peers"]] == ["DE", "TN"]
    finally:
        app.extensions["cordon"].close()


def test_metrics_from_loopback_or_with_a_scope(coordinator_app):
    client = coordinator_app.test_client()
    local = client.get("/metrics")
    assert local.status_code == 200 and "cordon_member_up" in local.get_data(as_text=True)
    remote = {"REMOTE_ADDR": "192.0.2.10"}
    assert client.get("/metrics", environ_base=remote).status_code == 401
    assert client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.10"}).status_code == 401
    assert client.get("/metrics", environ_base=remote, headers=token(coordinator_app, "read")).status_code == 403
    assert client.get("/metrics", environ_base=remote, headers=token(coordinator_app, "admin")).status_code == 200


def test_metrics_label_routes_by_rule_and_count_refusals(nodes):
    app = create_app(nodes["MT"].data_dir)
    try:
        client = app.test_client()
        headers = token(app, "read")
        uid = nodes["MT"].db().execute("SELECT uid FROM denials").fetchone()[0]
        assert client.get(f"/api/v1/denials/{uid}", headers=headers).status_code == 200
        assert client.post("/federation/v1/push", json={}).status_code == 401
        text = client.get("/metrics").get_data(as_text=True)
        assert 'route="/api/v1/denials/<uid>",status="200"' in text
        assert uid not in text
        assert re.search(r'cordon_federation_refusals_total\{code="signature_missing",kind="signature"\} 1\.0', text)
        assert 'cordon_peer_outbox_depth{peer="DE"} 1.0' in text
        assert 'peer="OSCE-CPC"' not in text
    finally:
        app.extensions["cordon"].close()


# -- properties ---------------------------------------------------------------------------


def test_refusal_codes_outside_the_known_set_do_not_become_labels():
    assert refusal_kind("replay") == ("replay", "replay")
    assert refusal_kind("inbound_policy") == ("policy", "inbound_policy")
    for code in ("licence_not_disclosed", "consultation_not_allowed", "query_not_allowed"):
        assert refusal_kind(code) == ("policy", code)
    assert refusal_kind("Zorvathian Quantum Holdings") == ("other", "other")


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=200))
def test_delay_summary_orders_its_figures(delays):
    summary = delay_summary(delays)
    assert summary["count"] == len(delays)
    assert min(delays) <= summary["median_seconds"] <= summary["p90_seconds"] <= summary["max_seconds"] == max(delays)


PEER_STATE = st.fixed_dictionaries({
    "node_id": st.sampled_from(["DE", "TN", "NL"]),
    "push_failures": st.integers(0, 10), "pull_failures": st.integers(0, 10),
    "outbox_depth": st.integers(0, 5),
    "oldest_pending_at": st.sampled_from([None, "2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]),
})


@given(st.lists(PEER_STATE, max_size=4), st.integers(0, 10))
def test_more_failures_never_make_a_member_look_better(peers, extra):
    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    report = {"protocol_version": "1", "keys": [], "peers": peers}
    status, reasons = judge(report, now)
    assert (status == "up") == (reasons == [])
    worse = {**report, "peers": [{**p, "push_failures": p["push_failures"] + extra} for p in peers]}
    worse_status, worse_reasons = judge(worse, now)
    assert set(reasons) <= set(worse_reasons)
    assert not (status == "degraded" and worse_status == "up")


@given(st.integers(min_value=0, max_value=10**8))
def test_durations_read_as_text(seconds):
    text = duration(seconds)
    assert text and (text == "in step") == (seconds == 0)
    assert re.fullmatch(r"in step|\d+ s|\d+ min|\d+ h( \d+ min)?|\d+ d( \d+ h)?", text)


def test_a_push_round_with_nothing_to_send_is_not_counted_as_a_push(tmp_path):
    """cordon_exchanges_total counts pushes made: a round of the push worker with nothing for a peer makes
    no request and is not counted; a push that is made (here to a peer that is down) is."""
    from federation_support import add_peer, init_data_dir, share_policy

    from node.denials import DenialRegistry
    from node.exchange import Exchange
    from node.keyring import IDENTITY_NAME
    from node.metrics import NodeMetrics
    from node.runtime import NodeRuntime

    init_data_dir(tmp_path / "mt", "MT")
    keys = init_data_dir(tmp_path / "de", "DE")  # never started: nothing listens at its address
    add_peer(tmp_path / "mt", (tmp_path / "de" / IDENTITY_NAME, keys.fingerprint()))
    (tmp_path / "mt" / "policy.yaml").write_text(share_policy(["MT", "DE"]), encoding="utf-8")
    runtime = NodeRuntime(tmp_path / "mt")
    try:
        metrics = NodeMetrics(runtime)
        exchange = Exchange(runtime, on_result=metrics.exchange_result)

        def pushes(outcome):
            return metrics.registry.get_sample_value(
                "cordon_exchanges_total", {"peer": "DE", "direction": "push", "outcome": outcome}) or 0

        for _ in range(3):
            (idle,) = exchange.push(force=True)
            assert idle["ok"] and idle["requests"] == 0, idle
        assert pushes("ok") == 0 and pushes("failed") == 0
        DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/2026/0777"), actor="test")
        (made,) = exchange.push(force=True)
        assert not made["ok"] and made["requests"] == 1, made
        assert pushes("failed") == 1 and pushes("ok") == 0
    finally:
        runtime.close()
