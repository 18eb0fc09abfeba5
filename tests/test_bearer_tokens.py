"""Bearer tokens on the local API: every request is checked against the stored token, so a token is
refused from the moment it expires or its client is revoked, also when the revocation is made by
``cordon clients revoke`` in another process while ``cordon serve`` runs."""

from __future__ import annotations

import secrets
import time

import pytest
import requests
from nodeproc import NodeProcess, create_client

from node.clients import ClientRegistry

ROUTE = "/api/v1/licences"


def store(app, scopes, *, ttl=900, now=None) -> tuple[str, str]:
    """A client holding ``scopes`` and a token issued to it at ``now``: (client name, token)."""
    registry = ClientRegistry(app.extensions["cordon"].db())
    name = "svc" + secrets.token_hex(3)
    client, _ = registry.create(name, list(scopes), actor="test")
    text = secrets.token_urlsafe(32)
    registry.store_token(client.client_id, text, " ".join(scopes), ttl, now=now)
    return name, text


def status(client, text, scheme="Bearer") -> int:
    return client.get(ROUTE, headers={"Authorization": f"{scheme} {text}"}).status_code


def test_a_token_is_refused_from_its_expiry_on(app, client):
    _, valid = store(app, ["read"], ttl=60, now=time.time() - 50)  # ten seconds left: a slow run still finds it valid
    _, at_expiry = store(app, ["read"], ttl=60, now=time.time() - 60)
    _, expired = store(app, ["read"], ttl=60, now=time.time() - 3600)
    assert status(client, valid) == 200
    for text in (at_expiry, expired):
        response = client.get(ROUTE, headers={"Authorization": "Bearer " + text})
        assert response.status_code == 401
        assert response.get_json() == {"error": "unauthenticated", "fields": {},
                                       "message": "the bearer token is invalid or expired"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_clients_token_is_refused_on_the_next_request(app, client):
    name, text = store(app, ["read"])
    assert status(client, text) == 200
    ClientRegistry(app.extensions["cordon"].db()).revoke(name, actor="test")
    assert status(client, text) == 401


def test_scheme_and_header_forms(app, client):
    _, text = store(app, ["read"])
    assert status(client, text, scheme="bearer") == 200
    assert status(client, text, scheme="BEARER") == 200
    assert status(client, text, scheme="Basic") == 401
    assert status(client, text + "x") == 401
    for header in ("Bearer", "Bearer ", text, ""):
        response = client.get(ROUTE, headers={"Authorization": header} if header else {})
        assert response.status_code == 401, header
    missing = client.get(ROUTE).get_json()
    assert missing["message"] == "a valid bearer token is required (POST /oauth/token)"


def test_scope_is_checked_after_the_token(app, client):
    _, customs = store(app, ["customs"])
    _, admin = store(app, ["admin"])
    _, coordinator = store(app, ["coordinator"])
    assert status(client, customs) == 200  # licences are readable with customs
    assert status(client, admin) == 200  # admin also grants read
    refused = client.get(ROUTE, headers={"Authorization": "Bearer " + coordinator})
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    _, expired_admin = store(app, ["coordinator"], ttl=60, now=time.time() - 3600)
    assert status(client, expired_admin) == 401  # an expired token is unauthenticated, whatever its scope


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    process = NodeProcess(tmp_path_factory.mktemp("tokens") / "mt", "MT", "Malta").start()
    yield process
    process.stop()


def test_revocation_by_another_process_is_honoured_at_once(node):
    client_id, secret = create_client(node.data_dir, "revoked-svc", "read")
    issued = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret), timeout=10).json()["access_token"]
    other = node.token("read", name="other-svc")
    with requests.Session() as session, requests.Session() as bystander:
        session.headers["Authorization"] = "Bearer " + issued
        bystander.headers["Authorization"] = "Bearer " + other
        for _ in range(3):  # the same token, again and again, on one keep-alive connection
            assert session.get(node.url + ROUTE, timeout=10).status_code == 200
        node.cli("clients", "revoke", "revoked-svc")
        refused = session.get(node.url + ROUTE, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["message"] == "the bearer token is invalid or expired"
        assert bystander.get(node.url + ROUTE, timeout=10).status_code == 200
    again = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret), timeout=10)
    assert again.status_code == 401
