"""Every error the node answers has one JSON shape: {"error": str, "message": str, "fields": {str: str}}."""

from __future__ import annotations

import json

import pytest
from conftest import sample_denial

from node.clients import ClientRegistry

UNKNOWN_UID = "00000000-0000-0000-0000-000000000000"


def assert_error_shape(response, status: int, code: str | None = None, *, json_type: bool = True) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = json.loads(response.get_data())
    assert set(body) == {"error", "message", "fields"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert isinstance(body["fields"], dict), body
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in body["fields"].items()), body
    if code is not None:
        assert body["error"] == code, body
    if json_type:
        assert response.mimetype == "application/json", response.headers
    return body


@pytest.fixture
def pub(bearer):
    return bearer("publish")


def test_400_malformed_json(client, pub):
    response = client.post("/api/v1/denials", data=b'{"ref": ', headers={**pub, "Content-Type": "application/json"})
    body = assert_error_shape(response, 400, "validation_failed")
    assert "body" in body["fields"]


def test_400_empty_body_and_non_object_body(client, pub):
    empty = client.post("/api/v1/denials", data=b"", headers={**pub, "Content-Type": "application/json"})
    assert assert_error_shape(empty, 400)["fields"] == {"body": "empty"}
    listed = client.post("/api/v1/denials", json=[sample_denial()], headers=pub)
    assert "body" in assert_error_shape(listed, 400)["fields"]
    latin1 = client.post("/api/v1/denials", data='{"ref": "é"}'.encode("latin-1"),
                         headers={**pub, "Content-Type": "application/json"})
    assert assert_error_shape(latin1, 400)["fields"] == {"body": "not UTF-8"}


def test_400_lone_surrogates_and_deep_nesting(client, bearer, pub):
    """JSON the standard parser reads but no text can hold (half of a surrogate pair), and nesting past the
    parser's depth, are refused as the body's fault, not failed on deeper in (nothing written)."""
    denial = json.dumps(sample_denial("MT/DEN/S/1")).replace("Tekhnoprom", "Tekhnoprom \\ud800")
    assert "\\ud800" in denial
    headers = {**pub, "Content-Type": "application/json"}
    cases = [("/api/v1/denials", denial.encode(), headers),
             ("/api/v1/screen", b'{"name": "Orion \\udc00 Systems"}',
              {**bearer("read"), "Content-Type": "application/json"}),
             ("/api/v1/denials", b"[" * 100_000 + b"]" * 100_000, headers)]
    for path, raw, with_headers in cases:
        body = assert_error_shape(client.post(path, data=raw, headers=with_headers), 400, "validation_failed")
        assert set(body["fields"]) == {"body"}, body
    paired = json.dumps(sample_denial("MT/DEN/S/2")).replace("Tekhnoprom", "Tekhnoprom \\ud83d\\ude80")
    created = client.post("/api/v1/denials", data=paired.encode(), headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)  # a pair is one character: taken
    assert client.get("/api/v1/denials?limit=10", headers=bearer("read")).get_json()["items"][0]["ref"] == "MT/DEN/S/2"


def test_400_unknown_field_and_wrong_types(client, pub):
    unknown = client.post("/api/v1/denials", json=sample_denial(colour="red"), headers=pub)
    assert "colour" in assert_error_shape(unknown, 400, "validation_failed")["fields"]
    typed = client.post("/api/v1/denials", json=sample_denial(catch_all="perhaps", quantity=[1]), headers=pub)
    fields = assert_error_shape(typed, 400)["fields"]
    assert {"catch_all", "quantity"} <= set(fields)


def test_400_bad_query_and_headers(client, pub):
    assert "cursor" in assert_error_shape(client.get("/api/v1/denials?cursor=%%%", headers=pub), 400)["fields"]
    assert "limit" in assert_error_shape(client.get("/api/v1/denials?limit=ten", headers=pub), 400)["fields"]
    uid = client.post("/api/v1/denials", json=sample_denial(), headers=pub).get_json()["uid"]
    bad_if_match = client.patch(f"/api/v1/denials/{uid}", json={"reason_text": "x"},
                                headers={**pub, "If-Match": "yesterday"})
    assert "If-Match" in assert_error_shape(bad_if_match, 400)["fields"]


def test_401_without_and_with_bad_token(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        response = client.get("/api/v1/denials", headers=headers)
        assert_error_shape(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_403_wrong_scope(client, bearer):
    read = bearer("read")
    assert_error_shape(client.post("/api/v1/denials", json=sample_denial(), headers=read), 403, "forbidden")
    assert_error_shape(client.get("/api/v1/audit", headers=read), 403, "forbidden")


def test_token_for_a_scope_the_client_lacks_opens_nothing(client, app):
    registry = ClientRegistry(app.extensions["cordon"].db())
    c, secret = registry.create("narrow", ["read"], actor="test")
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "admin"},
                        auth=(c.client_id, secret))
    if token.status_code == 200:  # issued with the scopes the client holds among those asked: none
        assert "admin" not in token.get_json().get("scope", "")
        headers = {"Authorization": "Bearer " + token.get_json()["access_token"]}
        assert_error_shape(client.get("/api/v1/audit", headers=headers), 403, "forbidden")
        assert_error_shape(client.get("/api/v1/denials", headers=headers), 403, "forbidden")
    else:
        assert_error_shape(token, 400, "invalid_scope")


def test_404_unknown_uid_and_unknown_route(client, pub):
    missing = client.get(f"/api/v1/denials/{UNKNOWN_UID}", headers=pub)
    assert "uid" in assert_error_shape(missing, 404, "not_found")["fields"]
    for method, url in (("PATCH", f"/api/v1/denials/{UNKNOWN_UID}"), ("GET", f"/api/v1/denials/{UNKNOWN_UID}/history")):
        assert_error_shape(client.open(url, method=method, json={"reason_text": "x"}, headers=pub), 404)
    revoke = client.post(f"/api/v1/denials/{UNKNOWN_UID}/revoke", json={"reason": "x"}, headers=pub)
    assert_error_shape(revoke, 404)
    for url in ("/api/v1/nothing-here", "/api/v2/denials", "/favicon.ico", "/oauth/authorize"):
        assert_error_shape(client.get(url), 404, "not_found")


METHOD_NOT_ALLOWED = (("DELETE", "/api/v1/denials"), ("PUT", "/api/v1/licences/MT/1"),
                      ("GET", "/oauth/token"), ("POST", "/healthz"))


def test_405_method_not_allowed(client, pub):
    for method, url in METHOD_NOT_ALLOWED:
        response = client.open(url, method=method, headers=pub)
        assert_error_shape(response, 405, "method_not_allowed", json_type=False)
        assert response.headers.get("Allow"), url


def test_405_is_served_as_json(client, pub):
    for method, url in METHOD_NOT_ALLOWED:
        assert client.open(url, method=method, headers=pub).mimetype == "application/json", url


def test_409_duplicate_and_state(client, pub):
    uid = client.post("/api/v1/denials", json=sample_denial(), headers=pub).get_json()["uid"]
    dup = client.post("/api/v1/denials", json=sample_denial(), headers=pub)
    assert "ref" in assert_error_shape(dup, 409, "conflict")["fields"]
    client.post(f"/api/v1/denials/{uid}/revoke", json={"reason": "x"}, headers=pub)
    assert_error_shape(client.patch(f"/api/v1/denials/{uid}", json={"reason_text": "x"}, headers=pub), 409)
    assert_error_shape(client.post(f"/api/v1/denials/{uid}/revoke", json={"reason": "x"}, headers=pub), 409)


def test_413_body_over_limit(app, client, pub):
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    big = sample_denial(reason_text="x" * size)
    response = client.post("/api/v1/denials", json=big, headers=pub)
    body = assert_error_shape(response, 413, "payload_too_large")
    assert str(app.config["MAX_CONTENT_LENGTH"]) in body["message"]


def test_token_endpoint_errors(app, client):
    registry = ClientRegistry(app.extensions["cordon"].db())
    c, secret = registry.create("svc", ["read"], actor="test")
    wrong_grant = client.post("/oauth/token", data={"grant_type": "password"}, auth=(c.client_id, secret))
    assert_error_shape(wrong_grant, 400, "unsupported_grant_type")
    no_grant = client.post("/oauth/token", data={}, auth=(c.client_id, secret))
    assert_error_shape(no_grant, 400)
    wrong_secret = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(c.client_id, "x"))
    assert_error_shape(wrong_secret, 401, "invalid_client")
    unknown = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("cl_nobody", "x"))
    assert_error_shape(unknown, 401, "invalid_client")
    anonymous = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert_error_shape(anonymous, 401, "invalid_client")
    unsupported = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "root"},
                              auth=(c.client_id, secret))
    assert_error_shape(unsupported, 400, "invalid_scope")
    registry.revoke("svc", actor="test")
    revoked = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(c.client_id, secret))
    assert_error_shape(revoked, 401, "invalid_client")
    # No secret, client id or stack trace is echoed back.
    for response in (wrong_secret, unknown, revoked):
        assert secret not in response.get_data(as_text=True)


def concrete(rule: str) -> str:
    return rule.replace("<uid>", UNKNOWN_UID).replace("<path:number>", "MT/LIC/0")


def test_every_guarded_route_answers_401_and_403_in_the_shape(app, client, bearer):
    catalogue = app.extensions["cordon_catalogue"]
    guarded = [op for op in catalogue.operations if op.scopes]
    assert len(guarded) >= 15
    tokens = {scope: bearer(scope) for scope in ("read", "publish", "customs", "admin", "coordinator")}
    for op in guarded:
        url = concrete(op.path)
        anonymous = client.open(url, method=op.method.upper(), json={})
        assert_error_shape(anonymous, 401, "unauthenticated")
        for scope, headers in tokens.items():
            if scope in op.scopes:
                continue
            refused = client.open(url, method=op.method.upper(), json={}, headers=headers)
            assert_error_shape(refused, 403, "forbidden")
