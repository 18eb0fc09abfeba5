"""The whole path over real HTTP against ``cordon serve`` running as a subprocess."""

from __future__ import annotations

import http.client
import json
import signal

import pytest
import requests
from conftest import sample_denial, sample_licence
from nodeproc import NodeProcess, create_client


@pytest.fixture
def node(tmp_path):
    process = NodeProcess(tmp_path / "mt", "MT", "Malta")
    process.start()
    yield process
    process.stop()


def test_init_client_token_create_list_amend_revoke_and_audit_verify(node):
    assert (node.data_dir / "cordon.toml").exists() and (node.data_dir / "cordon.db").exists()
    health = requests.get(node.url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    client_id, secret = create_client(node.data_dir, "registry", "publish", "read")
    issued = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret), timeout=10)
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"].lower() == "bearer" and 60 <= body["expires_in"] <= 3600
    assert set(body["scope"].split()) == {"publish", "read"}
    http_session = requests.Session()
    http_session.headers["Authorization"] = "Bearer " + body["access_token"]

    created = http_session.post(node.url + "/api/v1/denials", json=sample_denial(), timeout=10)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["version"] == 1 and doc["origin"] == "MT"
    assert created.headers["Location"] == f"/api/v1/denials/{doc['uid']}"
    second = http_session.post(node.url + "/api/v1/denials", json=sample_denial(ref="MT/DEN/2026/0002",
                                                                                destination_country="IR"))
    assert second.status_code == 201

    listed = http_session.get(node.url + "/api/v1/denials", params={"country": "RU"}, timeout=10)
    assert listed.status_code == 200
    assert [d["uid"] for d in listed.json()["items"]] == [doc["uid"]]

    amended = http_session.patch(f"{node.url}/api/v1/denials/{doc['uid']}", json={"reason_text": "Reassessed."},
                                 headers={"If-Match": '"1"'}, timeout=10)
    assert amended.status_code == 200 and amended.json()["version"] == 2
    revoked = http_session.post(f"{node.url}/api/v1/denials/{doc['uid']}/revoke", json={"reason": "Appeal upheld"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    history = http_session.get(f"{node.url}/api/v1/denials/{doc['uid']}/history").json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "active"), (2, "active"), (3, "revoked")]

    licence = http_session.post(node.url + "/api/v1/licences", json=sample_licence(), timeout=10)
    assert licence.status_code == 201
    got = http_session.get(node.url + "/api/v1/licences/MT/LIC/2026/0001", timeout=10)
    assert got.status_code == 200 and got.json()["lines"][0]["balance_quantity"] == "10"

    too_big = http_session.post(node.url + "/api/v1/denials", data=b"{" + b" " * 2_000_000 + b"}",
                                headers={"Content-Type": "application/json"}, timeout=30)
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"

    admin = node.session("admin")
    verify = admin.get(node.url + "/api/v1/audit/verify", timeout=10).json()
    assert verify["ok"] is True and verify["problems"] == []
    actions = [e["action"] for e in admin.get(node.url + "/api/v1/audit?limit=1000").json()["items"]]
    for action in ("token.issue", "denial.create", "denial.list", "denial.amend", "denial.revoke",
                   "denial.history", "licence.create", "licence.read"):
        assert action in actions, action

    result = node.cli("audit", "verify")
    assert result.returncode == 0 and "intact" in result.stdout

    assert node.stop() == 0
    log = node.log()
    assert "Технопром" not in log and "Tekhnoprom" not in log  # no record content in the log


def test_keep_alive_reuses_one_connection(node):
    token = node.token("read")
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        ports = []
        for _ in range(3):
            connection.request("GET", "/api/v1/denials?limit=1", headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["items"] == []
            assert (response.getheader("Connection") or "").lower() != "close"
            assert connection.sock is not None, "the server closed the connection"
            ports.append(connection.sock.getsockname()[1])
        assert len(set(ports)) == 1
        assert response.version == 11
    finally:
        connection.close()


def test_metrics_relayed_by_a_proxy_on_the_same_host_need_a_token(node):
    """Loopback alone is served without a token; a request a reverse proxy relayed (a forwarding header) is
    not local, though it arrives from loopback too."""
    assert requests.get(node.url + "/metrics", timeout=10).status_code == 200
    for header in ({"X-Forwarded-For": "192.0.2.10"}, {"Forwarded": "for=192.0.2.10"}, {"X-Real-IP": "192.0.2.10"}):
        assert requests.get(node.url + "/metrics", headers=header, timeout=10).status_code == 401, header
    token = node.token("admin")
    relayed = requests.get(node.url + "/metrics", timeout=10,
                           headers={"X-Forwarded-For": "192.0.2.10", "Authorization": f"Bearer {token}"})
    assert relayed.status_code == 200 and "cordon_" in relayed.text


def test_requests_session_keeps_its_connection(node):
    session = node.session("read")
    ports = []
    for path in ("/api/v1/denials", "/api/v1/licences", "/api/v1/denials?status=active"):
        response = session.get(node.url + path, timeout=10, stream=True)
        ports.append(response.raw._connection.sock.getsockname()[1])
        assert response.status_code == 200 and "items" in response.json()
        assert "Werkzeug" not in response.headers.get("Server", "")
    assert len(set(ports)) == 1, ports


def test_sigterm_stops_cleanly_and_sigint_too(tmp_path):
    node = NodeProcess(tmp_path / "mt", "MT", "Malta").start()
    session = node.session("publish")
    assert session.post(node.url + "/api/v1/denials", json=sample_denial(), timeout=10).status_code == 201
    assert node.stop(signal.SIGTERM) == 0
    assert "stopped" in node.log()
    with pytest.raises(requests.ConnectionError):
        requests.get(node.url + "/healthz", timeout=2)
    # The data survives the restart, and SIGINT (Ctrl-C) stops it as cleanly.
    node.start()
    listed = node.session("read").get(node.url + "/api/v1/denials", timeout=10).json()["items"]
    assert len(listed) == 1
    assert node.stop(signal.SIGINT) == 0
    assert node.cli("audit", "verify").returncode == 0


def test_warm_start_loads_the_name_data_before_listening(tmp_path):
    node = NodeProcess(tmp_path / "mt", "MT", "Malta", warm_start=True).start()
    try:
        log = node.log()
        assert "name data loaded in" in log
        assert log.index("name data loaded in") < log.index("listening on")
        session = node.session("read", "publish")
        published = session.post(node.url + "/api/v1/denials", json=sample_denial(ref="MT/DEN/W/1"), timeout=30)
        assert published.status_code == 201
        answer = session.post(node.url + "/api/v1/screen", json={"name": "Sergei Kuznetsov"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["results"][0]["hits"] == []
    finally:
        assert node.stop() == 0
    cold = NodeProcess(tmp_path / "de", "DE", "Germany").start()
    try:
        assert "name data loaded in" not in cold.log() and "listening on" in cold.log()
    finally:
        cold.stop()


def test_the_served_node_checkpoints_its_log_outside_the_requests(node):
    """cordon serve copies the write-ahead log back into the database file from a thread of its own:
    a few dozen writes (far under SQLite's automatic threshold of 1,000 pages) reach the file itself."""
    import sqlite3
    import time

    session = node.session("publish", "read")
    for i in range(40):
        assert session.post(node.url + "/api/v1/denials", json=sample_denial(ref=f"MT/DEN/CP/{i}"),
                            timeout=30).status_code == 201

    def in_the_file() -> int:
        # immutable=1 reads the database file alone, ignoring the write-ahead log
        conn = sqlite3.connect(f"file:{node.data_dir / 'cordon.db'}?immutable=1", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM denials WHERE ref LIKE 'MT/DEN/CP/%'").fetchone()[0]
        finally:
            conn.close()

    deadline = time.monotonic() + 60
    while in_the_file() < 40:
        assert time.monotonic() < deadline, in_the_file()
        time.sleep(0.2)
    assert "checkpoint failed" not in node.log()


def test_the_access_log_names_routes_not_the_values_in_paths(node):
    """A licence number, a declaration reference or a denial's reference in a path stays out of the log:
    each request is logged with the route it matched; a path that matches none is not written either."""
    client_id, secret = create_client(node.data_dir, "reader", "read")
    token = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret), timeout=10).json()["access_token"]
    headers = {"Authorization": "Bearer " + token}
    assert requests.get(node.url + "/api/v1/licences/MT/LIC/2026/SECRET-NUMBER-77", headers=headers,
                        timeout=10).status_code == 404
    assert requests.get(node.url + "/api/v1/denials?party=Zorvathian", headers=headers, timeout=10).status_code == 200
    assert requests.get(node.url + "/no/such/ZORVATH-REF-91", timeout=10).status_code == 404
    log = node.log()
    for secret_text in ("SECRET-NUMBER-77", "Zorvathian", "ZORVATH-REF-91"):
        assert secret_text not in log
    lines = log.splitlines()
    assert any("GET /api/v1/licences/<" in line and " 404 " in line for line in lines), log[-2000:]
    assert any("GET /api/v1/denials 200" in line for line in lines)
    assert any("GET (no route) 404" in line for line in lines)
