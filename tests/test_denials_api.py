"""Denials through the local API (Flask test client, real SQLite file, real tokens)."""

from __future__ import annotations

import datetime as dt

from conftest import sample_denial

from node.audit import AuditLog
from node.denials import DenialRegistry


def test_create_get_amend_revoke_history(client, bearer):
    pub = bearer("publish")
    created = client.post("/api/v1/denials", json=sample_denial(), headers=pub)
    assert created.status_code == 201
    doc = created.get_json()
    assert doc["version"] == 1 and doc["origin"] == "MT" and doc["status"] == "active"
    assert doc["review_due"] == "2029-03-02"
    assert doc["parties"][0]["names"][0]["script"] == "Cyrl"
    uid = doc["uid"]

    got = client.get(f"/api/v1/denials/{uid}", headers=pub)
    assert got.status_code == 200 and got.get_json()["ref"] == "MT/DEN/2026/0001"
    assert got.headers["ETag"] == '"1"'

    amended = client.patch(f"/api/v1/denials/{uid}", json={"reason_text": "Updated assessment."}, headers=pub)
    assert amended.status_code == 200
    assert amended.get_json()["version"] == 2 and amended.headers["ETag"] == '"2"'
    assert created.headers["ETag"] == '"1"'
    assert amended.get_json()["reason_text"] == "Updated assessment."

    stale = client.patch(f"/api/v1/denials/{uid}", json={"reason_text": "x"}, headers={**pub, "If-Match": '"1"'})
    assert stale.status_code == 409

    for reason, said in ((5, "must be a string"), ("  ", "required"), (None, "required")):
        refused = client.post(f"/api/v1/denials/{uid}/revoke", json={"reason": reason}, headers=pub)
        assert refused.status_code == 400 and refused.get_json()["fields"] == {"reason": said}, refused.get_json()
    revoked = client.post(f"/api/v1/denials/{uid}/revoke", json={"reason": "Court ruling"}, headers=pub)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    # One key order in every answer, whatever order the stored document has.
    for answer in (created, got, amended, revoked):
        keys = list(answer.get_json())
        assert keys[:5] == ["uid", "origin", "ref", "version", "status"] and keys[-2:] == ["created_at", "updated_at"]
    assert list(revoked.get_json())[-3] == "revoked_reason"
    # A received record is stored with sorted keys (its canonical JSON): shown in the same order, nested too.
    import json

    from node.denial_rows import in_shown_order

    as_received = json.loads(json.dumps(revoked.get_json(), sort_keys=True))
    shown_here = revoked.get_json()
    shown_here["key_parameters"] = dict(sorted(shown_here["key_parameters"].items()))  # the officer's own names
    assert json.dumps(in_shown_order(as_received)) == json.dumps(shown_here)
    assert revoked.get_json()["version"] == 3 and revoked.headers["ETag"] == '"3"'

    history = client.get(f"/api/v1/denials/{uid}/history", headers=pub).get_json()["items"]
    assert [v["version"] for v in history] == [1, 2, 3]
    assert history[0]["reason_text"].startswith("End user linked")

    again = client.patch(f"/api/v1/denials/{uid}", json={"reason_text": "x"}, headers=pub)
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"


def test_list_filters_and_cursor(client, bearer):
    pub = bearer("publish")
    for i in range(7):
        body = sample_denial(ref=f"MT/DEN/2026/{i:04d}", destination_country="IR" if i % 2 else "RU",
                             regimes=["WA-ML"] if i < 3 else ["NSG"])
        assert client.post("/api/v1/denials", json=body, headers=pub).status_code == 201
    read = bearer("read")
    seen, cursor = [], None
    while True:
        url = "/api/v1/denials?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=read).get_json()
        seen += [d["ref"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen[0] == "MT/DEN/2026/0006"  # newest first
    iran = client.get("/api/v1/denials?country=ir", headers=read).get_json()["items"]
    assert {d["destination_country"] for d in iran} == {"IR"} and len(iran) == 3
    ml = client.get("/api/v1/denials?regime=WA-ML", headers=read).get_json()["items"]
    assert len(ml) == 3
    by_name = client.get("/api/v1/denials?party=технопром", headers=read).get_json()["items"]
    assert len(by_name) == 7
    none = client.get("/api/v1/denials?party=nobody", headers=read).get_json()["items"]
    assert none == []
    future = client.get("/api/v1/denials?updated_since=2999-01-01", headers=read).get_json()["items"]
    assert future == []
    bad = client.get("/api/v1/denials?status=sleeping", headers=read)
    assert bad.status_code == 400 and "status" in bad.get_json()["fields"]
    for query, field in (("origin=D", "origin"), ("origin=D%20E", "origin"), ("country=IRN", "country"),
                         ("country=1R", "country")):
        bad = client.get(f"/api/v1/denials?{query}", headers=read)
        assert bad.status_code == 400 and list(bad.get_json()["fields"]) == [field], query
    assert client.get("/api/v1/denials?origin=mt", headers=read).get_json()["items"]
    bad_cursor = client.get("/api/v1/denials?cursor=zzz", headers=read)
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.get_json()["fields"]


def test_scopes(client, bearer):
    assert client.get("/api/v1/denials").status_code == 401
    read = bearer("read")
    refused = client.post("/api/v1/denials", json=sample_denial(), headers=read)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/audit", headers=read).status_code == 403
    assert client.get("/api/v1/denials", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    customs = bearer("customs")
    assert client.get("/api/v1/denials", headers=customs).status_code == 403
    assert client.get("/api/v1/licences", headers=customs).status_code == 200


def test_bad_input_names_fields_and_writes_nothing(app, client, bearer):
    pub = bearer("publish")
    cases = [
        (b"{not json", "body"),
        (sample_denial(colour="red"), "colour"),
        (sample_denial(regimes="NSG"), "regimes"),
        ({k: v for k, v in sample_denial().items() if k != "item_description"}, "item_description"),
        (sample_denial(destination_country="XX"), "destination_country"),
        (sample_denial(ref="MT/DEN/2026/0001\n"), "ref"),  # a pattern's end is the text's end, not a newline
        (sample_denial(hs_code="845710\n"), "hs_code"),
        (sample_denial(review_due="2020-01-01"), "review_due"),
        (sample_denial(quantity=-3), "quantity"),
        (sample_denial(currency="XXY"), "currency"),  # three capitals, but no ISO 4217 currency
        ({k: v for k, v in sample_denial().items() if k != "currency"}, "currency"),  # a value needs its currency
        (sample_denial(parties=[{"role": "end_user", "names": [{"text": "A"}], "country": "Narnia"}]),
         "parties.0.country"),
    ]
    for body, field in cases:
        if isinstance(body, bytes):
            response = client.post("/api/v1/denials", data=body, headers={**pub, "Content-Type": "application/json"})
        else:
            response = client.post("/api/v1/denials", json=body, headers=pub)
        assert response.status_code == 400, (field, response.get_json())
        assert field in response.get_json()["fields"], (field, response.get_json())
    db = app.extensions["cordon"].db()
    assert db.execute("SELECT count(*) FROM denials").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM changes").fetchone()[0] == 0

    assert client.post("/api/v1/denials", json=sample_denial(), headers=pub).status_code == 201
    retired = client.post("/api/v1/denials", json=sample_denial(ref="MT/DEN/2025/0001", currency="BGN"), headers=pub)
    assert retired.status_code == 201, retired.get_json()  # a retired ISO 4217 code: the record may predate the euro
    dup = client.post("/api/v1/denials", json=sample_denial(), headers=pub)
    assert dup.status_code == 409 and "ref" in dup.get_json()["fields"]
    missing = client.get("/api/v1/denials/00000000-0000-0000-0000-000000000000", headers=pub)
    assert missing.status_code == 404
    huge = client.post("/api/v1/denials", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10),
                       headers={**pub, "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.get_json()["error"] == "payload_too_large"
    assert db.execute("SELECT count(*) FROM denials").fetchone()[0] == 2


def test_expiry_job_with_now(app):
    runtime = app.extensions["cordon"]
    registry = DenialRegistry(runtime.db(), "MT")
    doc = registry.create(sample_denial(), actor="test")
    before = registry.expire_due(now=dt.datetime(2029, 3, 1, tzinfo=dt.timezone.utc))
    assert before == []
    after = registry.expire_due(now=dt.datetime(2029, 3, 3, tzinfo=dt.timezone.utc))
    assert after == [doc["uid"]]
    assert registry.table.require(doc["uid"])["status"] == "expired"
    assert registry.table.require(doc["uid"])["version"] == 2


def test_reads_and_writes_are_audited(app, client, bearer):
    pub = bearer("publish")
    uid = client.post("/api/v1/denials", json=sample_denial(), headers=pub).get_json()["uid"]
    client.get(f"/api/v1/denials/{uid}", headers=pub)
    client.get("/api/v1/denials?party=secret-name", headers=pub)
    actions = [e["action"] for e in AuditLog(app.extensions["cordon"].db()).entries(limit=100)]
    assert actions.count("token.issue") == 1
    assert "denial.create" in actions and "denial.read" in actions and "denial.list" in actions
    text = str(AuditLog(app.extensions["cordon"].db()).entries(limit=100))
    assert "secret-name" not in text and "Технопром" not in text


def test_token_for_a_scope_the_client_lacks_is_refused(app, client):
    from node.clients import ClientRegistry

    c, secret = ClientRegistry(app.extensions["cordon"].db()).create("reader", ["read"], actor="test")
    refused = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "read admin"},
                          auth=(c.client_id, secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"
    assert "admin" in refused.get_json()["message"]
    granted = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "read"},
                          auth=(c.client_id, secret))
    assert granted.status_code == 200 and granted.get_json()["scope"] == "read"
    assert granted.get_json()["expires_in"] <= 3600


def test_a_client_may_send_its_credentials_as_form_fields(app, client):
    from node.clients import ClientRegistry

    c, secret = ClientRegistry(app.extensions["cordon"].db()).create("form-poster", ["read"], actor="test")
    granted = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": c.client_id,
                                                "client_secret": secret})
    assert granted.status_code == 200, granted.get_json()
    token = granted.get_json()["access_token"]
    assert client.get("/api/v1/denials", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": c.client_id,
                                              "client_secret": secret + "x"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"


def test_a_misspelt_filter_is_refused_not_ignored(client, bearer):
    read = bearer("read")
    misspelt = client.get("/api/v1/denials?destination_country=AE&status=active", headers=read)
    assert misspelt.status_code == 400, misspelt.get_json()
    assert misspelt.get_json()["fields"] == {"destination_country": "unknown query parameter; this route takes "
                                             "country, cursor, limit, origin, party, regime, status, updated_since"}
    one = client.get("/api/v1/denials/00000000-0000-0000-0000-000000000000?verbose=1", headers=read)
    assert one.status_code == 400 and one.get_json()["fields"] == {
        "verbose": "unknown query parameter; this route takes none"}
    assert client.get("/api/v1/denials?country=AE", headers=read).status_code == 200
    assert client.get("/api/v1/denials?destination_country=AE").status_code == 401  # credentials first


def test_every_bad_field_and_filter_is_named_at_once(client, bearer):
    pub = bearer("publish", "read")
    body = sample_denial(currency="XXY", catch_all=True, destination_country="Narnia",
                         parties=[{"role": "exporter", "names": [{"text": "Malta Precision Ltd"}], "country": "MT"}])
    refused = client.post("/api/v1/denials", json=body, headers=pub)
    assert refused.status_code == 400
    assert set(refused.get_json()["fields"]) == {"currency", "catch_all_basis", "parties", "destination_country"}, \
        refused.get_json()
    assert refused.get_json()["fields"]["currency"] == "must be an ISO 4217 currency code such as EUR"
    listed = client.get("/api/v1/denials?status=bogus&limit=abc&cursor=zzz&country=Narnia&updated_since=yesterday",
                        headers=pub)
    assert listed.status_code == 400
    assert set(listed.get_json()["fields"]) == {"status", "limit", "cursor", "country", "updated_since"}, \
        listed.get_json()


def test_a_database_keeping_current_versions_twice_is_migrated_without_losing_history(app):
    """Before migration 0010 every version, the current one too, was kept in denial_versions."""
    from node.database import write_transaction
    from node.schema import migrate

    db = app.extensions["cordon"].db()
    registry = DenialRegistry(db, "MT")
    uid = registry.create(sample_denial(), actor="test")["uid"]
    registry.amend(uid, {"reason_text": "Updated assessment."}, actor="test")
    assert db.execute("SELECT version FROM denial_versions").fetchall() == [(1,)]
    with write_transaction(db):
        db.execute("INSERT INTO denial_versions SELECT uid, version, updated_at, doc FROM denials")
        db.execute("DELETE FROM schema_migrations WHERE name = '0010_current_versions_once'")
    assert [v["version"] for v in registry.history(uid, actor="test")] == [1, 2]
    assert migrate(db) == ["0010_current_versions_once"]
    assert db.execute("SELECT version FROM denial_versions").fetchall() == [(1,)]
    history = registry.history(uid, actor="test")
    assert [(v["version"], v["reason_text"]) for v in history][-1] == (2, "Updated assessment.")
    assert [v["version"] for v in history] == [1, 2]


def test_a_view_of_the_same_version_sent_again_replaces_the_current_row_without_being_kept(app):
    """A peer whose policy narrowed sends the same version again (higher rev): only the latest view of
    each version is kept once a newer version comes."""
    from node.database import write_transaction
    from node.denial_rows import stored_form

    db = app.extensions["cordon"].db()
    registry = DenialRegistry(db, "MT")
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
    base = {**sample_denial(ref="TN/DEN/2026/0009"), "uid": "0193f1de-0000-7000-8000-000000000009",
            "origin": "TN", "version": 1, "status": "active"}
    wide, narrow = dict(base, reason_text="Full reasons."), {k: v for k, v in base.items() if k != "reason_text"}
    for doc, unseen in ((wide, {base["uid"]}), (narrow, set())):
        with write_transaction(db):
            registry.write_stored([stored_form(doc, stamp="2026-11-28T12:00:00Z")], now, unseen=unseen)
    assert db.execute("SELECT count(*) FROM denial_versions").fetchone()[0] == 0
    with write_transaction(db):
        registry.write_stored([stored_form(dict(narrow, version=2), stamp="2026-11-28T12:00:00Z")], now)
    kept = db.execute("SELECT version, doc FROM denial_versions").fetchall()
    assert [version for version, _ in kept] == [1] and "Full reasons." not in kept[0][1]
    assert [v["version"] for v in registry.history(base["uid"], actor="test")] == [1, 2]


def test_kosovo_is_a_country_as_in_the_sharing_policies(client, bearer):
    """XK (user-assigned, used for Kosovo) is accepted wherever a country is, as a policy names it."""
    body = sample_denial(ref="MT/DEN/2026/XK1", destination_country="XK",
                         parties=[{"role": "end_user", "names": [{"text": "Prishtina Machine Works"}], "country": "XK"}])
    response = client.post("/api/v1/denials", json=body, headers=bearer("publish"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["destination_country"] == "XK"
