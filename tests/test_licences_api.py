"""Licences through the local API (Flask test client, real SQLite file, real tokens)."""

from __future__ import annotations

from conftest import sample_licence

from node.audit import AuditLog
from node.licences import LicenceRegistry

NUMBER = "MT/LIC/2026/0001"
URL = f"/api/v1/licences/{NUMBER}"


def create(client, headers, **overrides):
    response = client.post("/api/v1/licences", json=sample_licence(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_record_with_balances_per_line(client, bearer):
    pub = bearer("publish")
    doc = create(client, pub)
    assert doc["version"] == 1 and doc["origin"] == "MT" and doc["status"] == "valid"
    assert doc["number"] == NUMBER
    lines = {line["line_no"]: line for line in doc["lines"]}
    assert lines[1]["balance_quantity"] == "10" and lines[1]["balance_value"] == "500000.00"
    assert lines[2]["balance_quantity"] == "200" and "balance_value" not in lines[2]
    assert doc["exporter"]["names"][0]["script"] == "Latn"


def test_get_by_number_with_slashes(client, bearer):
    pub = bearer("publish")
    created = create(client, pub)
    got = client.get(URL, headers=bearer("read"))
    assert got.status_code == 200
    body = got.get_json()
    assert body["uid"] == created["uid"]
    assert [(line["line_no"], line["balance_quantity"]) for line in body["lines"]] == [(1, "10"), (2, "200")]
    encoded = client.get("/api/v1/licences/MT%2FLIC%2F2026%2F0001", headers=pub)
    assert encoded.status_code == 200 and encoded.get_json()["uid"] == created["uid"]
    missing = client.get("/api/v1/licences/MT/LIC/2026/9999", headers=pub)
    assert missing.status_code == 404
    assert missing.get_json()["fields"] == {"number": "not found"}


def test_numbers_that_end_like_a_sub_route_are_not_confused(client, bearer):
    pub = bearer("publish")
    create(client, pub)
    create(client, pub, number="MT/LIC/2026/0001-B")
    history = client.get(f"{URL}/history", headers=pub)
    assert history.status_code == 200
    assert [v["number"] for v in history.get_json()["items"]] == [NUMBER]
    other = client.get("/api/v1/licences/MT/LIC/2026/0001-B", headers=pub).get_json()
    assert other["number"] == "MT/LIC/2026/0001-B"


def test_numbers_that_cannot_be_addressed_by_url_are_refused(app, client, bearer):
    pub = bearer("publish")
    for number in ("MT/LIC/history", "MT/LIC/revoke", "MT/checks/1", "MT/LIC/", "MT//LIC", "MT/./LIC", "MT/../LIC"):
        response = client.post("/api/v1/licences", json=sample_licence(number=number), headers=pub)
        assert response.status_code == 400, number
        assert "number" in response.get_json()["fields"], number
    db = app.extensions["cordon"].db()
    assert db.execute("SELECT count(*) FROM licences").fetchone()[0] == 0
    create(client, pub, number="MT/LIC/historic")
    assert client.get("/api/v1/licences/MT/LIC/historic", headers=pub).status_code == 200


def test_every_word_after_a_licence_number_in_a_route_is_reserved(app):
    from node.schemas import LICENCE_SUB_ROUTES

    words = set()
    for rule in app.url_map.iter_rules():
        head, marker, tail = rule.rule.partition("<path:number>")
        if marker and "/licences/" in head:
            words |= {part for part in tail.split("/") if part and not part.startswith("<")}
    assert words and words <= set(LICENCE_SUB_ROUTES), sorted(words - set(LICENCE_SUB_ROUTES))


def test_list_newest_first_with_status_filter_and_cursor(client, bearer):
    pub = bearer("publish")
    for i in range(5):
        create(client, pub, number=f"MT/LIC/2026/{i:04d}")
    assert client.post("/api/v1/licences/MT/LIC/2026/0003/suspend", json={"reason": "inquiry"},
                       headers=pub).status_code == 200
    read = bearer("read")
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/licences?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=read)
        assert page.status_code == 200
        seen += [d["number"] for d in page.get_json()["items"]]
        for item in page.get_json()["items"]:
            assert all("balance_quantity" in line for line in item["lines"])
        cursor = page.get_json()["next_cursor"]
        if not cursor:
            break
    assert seen == [f"MT/LIC/2026/{i:04d}" for i in (4, 3, 2, 1, 0)]
    suspended = client.get("/api/v1/licences?status=suspended", headers=read).get_json()["items"]
    assert [d["number"] for d in suspended] == ["MT/LIC/2026/0003"]
    bad = client.get("/api/v1/licences?status=sleeping", headers=read)
    assert bad.status_code == 400 and "status" in bad.get_json()["fields"]
    bad_limit = client.get("/api/v1/licences?limit=0", headers=read)
    assert bad_limit.status_code == 400 and "limit" in bad_limit.get_json()["fields"]
    together = client.get("/api/v1/licences?status=sleeping&limit=many&cursor=zzz", headers=read)
    assert together.status_code == 400 and set(together.get_json()["fields"]) == {"status", "limit", "cursor"}
    consultations = client.get("/api/v1/consultations?direction=sideways&limit=x&cursor=zzz", headers=read)
    assert consultations.status_code == 400, consultations.get_json()
    assert set(consultations.get_json()["fields"]) == {"direction", "limit", "cursor"}
    checks = client.get("/api/v1/licences/MT/LIC/2026/0003/checks?line_no=first&limit=0&cursor=zzz",
                        headers=bearer("customs"))
    assert checks.status_code == 400 and set(checks.get_json()["fields"]) == {"line_no", "limit", "cursor"}, \
        checks.get_json()
    customs = client.get("/api/v1/licences", headers=bearer("customs"))
    assert customs.status_code == 200 and len(customs.get_json()["items"]) == 5


def test_amend_makes_a_new_version_and_keeps_the_old(client, bearer):
    pub = bearer("publish")
    create(client, pub)
    new_lines = sample_licence()["lines"] + [
        {"line_no": 3, "cn_code": "84807100", "description": "Moulds", "quantity": "4", "unit": "pcs"}]
    amended = client.patch(URL, json={"end_use": "Spare capacity", "lines": new_lines}, headers=pub)
    assert amended.status_code == 200, amended.get_json()
    doc = amended.get_json()
    assert doc["version"] == 2 and doc["end_use"] == "Spare capacity"
    assert [line["balance_quantity"] for line in doc["lines"]] == ["10", "200", "4"]
    history = client.get(f"{URL}/history", headers=pub).get_json()["items"]
    assert [v["version"] for v in history] == [1, 2]
    assert history[0]["end_use"] == "Maintenance of textile machinery"
    assert len(history[0]["lines"]) == 2


def test_amend_rejects_bad_input_and_changes_nothing(app, client, bearer):
    pub = bearer("publish")
    create(client, pub)
    cases = [
        ({"valid_to": "2025-01-01"}, "valid_to"),
        ({"number": "MT/LIC/2026/0002"}, "number"),
        ({"colour": "red"}, "colour"),
        ({"destinations": ["XX"]}, "destinations.0"),
        ({"lines": [{"line_no": 1, "cn_code": "84581110", "quantity": "0", "unit": "pcs"}]}, "lines.0.quantity"),
        ({"lines": []}, "lines"),
        ({"lines": [{"line_no": 1, "cn_code": "84581110", "quantity": "1", "unit": "pcs", "value": "5.00",
                     "currency": "XXY"}]}, "lines.0.currency"),
        ({"lines": [{"line_no": 1, "cn_code": "84581110", "quantity": "1", "unit": "pcs", "value": "5.00"}]},
         "lines.0.currency"),
        ({}, "body"),
    ]
    for body, field in cases:
        response = client.patch(URL, json=body, headers=pub)
        assert response.status_code == 400, (body, response.get_json())
        assert field in response.get_json()["fields"], (field, response.get_json())
    after = client.get(URL, headers=pub).get_json()
    assert after["version"] == 1 and after["valid_to"] == "2027-12-31"
    db = app.extensions["cordon"].db()
    assert db.execute("SELECT count(*) FROM licence_versions").fetchone()[0] == 0  # never amended: no earlier version


def test_amend_cannot_go_below_what_is_written_off(app, client, bearer):
    pub = bearer("publish")
    doc = create(client, pub)
    # A write-off of 7 of line 1's 10 pieces and 150000.00 of its value, as customs records it.
    db = app.extensions["cordon"].db()
    db.execute("UPDATE licence_lines SET balance_quantity = '3', balance_value = '350000.00' "
               "WHERE licence_uid = ? AND line_no = 1", [doc["uid"]])
    lines = sample_licence()["lines"]
    too_low = [{**lines[0], "quantity": "6"}, lines[1]]
    refused = client.patch(URL, json={"lines": too_low}, headers=pub)
    assert refused.status_code == 409
    assert "lines.1.quantity" in refused.get_json()["fields"]
    removed = client.patch(URL, json={"lines": [lines[1]]}, headers=pub)
    assert removed.status_code == 409 and "lines.1" in removed.get_json()["fields"]
    assert client.get(URL, headers=pub).get_json()["version"] == 1

    raised = [{**lines[0], "quantity": "12", "value": "600000.00"}, lines[1]]
    ok = client.patch(URL, json={"lines": raised}, headers=pub)
    assert ok.status_code == 200
    line1 = ok.get_json()["lines"][0]
    assert line1["quantity"] == "12" and line1["balance_quantity"] == "5"
    assert line1["balance_value"] == "450000.00"
    exactly = [{**lines[0], "quantity": "7"}, lines[1]]
    at_limit = client.patch(URL, json={"lines": exactly}, headers=pub)
    assert at_limit.status_code == 200 and at_limit.get_json()["lines"][0]["balance_quantity"] == "0"


def test_suspend_reinstate_revoke_state_rules(client, bearer):
    pub = bearer("publish")
    create(client, pub)

    def act(verb, reason="because"):
        return client.post(f"{URL}/{verb}", json={"reason": reason} if reason is not None else {}, headers=pub)

    assert act("reinstate").status_code == 409  # valid cannot be reinstated
    suspended = act("suspend", "under inquiry")
    assert suspended.status_code == 200
    assert suspended.get_json()["status"] == "suspended" and suspended.get_json()["version"] == 2
    assert suspended.get_json()["status_reason"] == "under inquiry"
    again = act("suspend")
    assert again.status_code == 409 and again.get_json()["fields"] == {"status": "suspended"}
    # A suspended licence may still be amended and stays suspended.
    amended = client.patch(URL, json={"end_use": "Revised end use"}, headers=pub)
    assert amended.status_code == 200 and amended.get_json()["status"] == "suspended"
    reinstated = act("reinstate")
    assert reinstated.status_code == 200 and reinstated.get_json()["status"] == "valid"
    assert act("revoke", None).status_code == 400
    assert act("revoke", "   ").get_json()["fields"] == {"reason": "required"}
    revoked = act("revoke", "false statements")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["version"] == 5
    for verb in ("suspend", "reinstate", "revoke"):
        response = act(verb)
        assert response.status_code == 409, verb
        assert response.get_json()["fields"] == {"status": "revoked"}
    refused = client.patch(URL, json={"end_use": "x"}, headers=pub)
    assert refused.status_code == 409 and refused.get_json()["fields"] == {"status": "revoked"}
    history = client.get(f"{URL}/history", headers=pub).get_json()["items"]
    assert [v["status"] for v in history] == ["valid", "suspended", "suspended", "valid", "revoked"]


def test_status_changes_and_amend_of_unknown_licence_are_404(client, bearer):
    pub = bearer("publish")
    for verb in ("suspend", "reinstate", "revoke"):
        response = client.post(f"/api/v1/licences/MT/LIC/0/{verb}", json={"reason": "x"}, headers=pub)
        assert response.status_code == 404, verb
    assert client.patch("/api/v1/licences/MT/LIC/0", json={"end_use": "x"}, headers=pub).status_code == 404
    assert client.get("/api/v1/licences/MT/LIC/0/history", headers=pub).status_code == 404


def test_duplicate_number_is_409_and_first_is_kept(client, bearer):
    pub = bearer("publish")
    first = create(client, pub)
    dup = client.post("/api/v1/licences", json=sample_licence(end_use="other"), headers=pub)
    assert dup.status_code == 409 and "number" in dup.get_json()["fields"]
    assert client.get(URL, headers=pub).get_json()["uid"] == first["uid"]


def test_another_states_licence_is_read_only(app, client, bearer):
    db = app.extensions["cordon"].db()
    LicenceRegistry(db, "DE").create(sample_licence(number="DE/AG/2026/77"), actor="peer:DE")
    pub = bearer("publish")
    refused = client.patch("/api/v1/licences/DE/AG/2026/77", json={"end_use": "x"}, headers=pub)
    assert refused.status_code == 409 and refused.get_json()["error"] == "read_only_record"
    suspend = client.post("/api/v1/licences/DE/AG/2026/77/suspend", json={"reason": "x"}, headers=pub)
    assert suspend.status_code == 409 and suspend.get_json()["error"] == "read_only_record"
    row = db.execute("SELECT version, status FROM licences WHERE number = 'DE/AG/2026/77'").fetchone()
    assert tuple(row) == (1, "valid")


def test_scopes_and_audit(app, client, bearer):
    assert client.get("/api/v1/licences").status_code == 401
    read = bearer("read")
    assert client.post("/api/v1/licences", json=sample_licence(), headers=read).status_code == 403
    customs = bearer("customs")
    assert client.post("/api/v1/licences", json=sample_licence(), headers=customs).status_code == 403
    pub = bearer("publish")
    doc = create(client, pub)
    client.get(URL, headers=read)
    client.post(f"{URL}/suspend", json={"reason": "x"}, headers=pub)
    entries = AuditLog(app.extensions["cordon"].db()).entries(limit=100, target=doc["uid"])
    assert [e["action"] for e in entries] == ["licence.create", "licence.read", "licence.suspend"]
    assert "Melita" not in str(entries)


def test_the_expiry_job_marks_licences_past_their_validity_as_expired(app, client, bearer):
    import datetime as dt

    from node.jobs import JOBS

    pub = bearer("publish", "read")
    for number, valid_to in (("MT/LIC/EXP/1", "2026-03-31"), ("MT/LIC/EXP/2", "2027-12-31")):
        created = client.post("/api/v1/licences", headers=pub,
                              json=sample_licence(number, valid_from="2026-01-01", valid_to=valid_to))
        assert created.status_code == 201, created.get_json()
    assert client.post("/api/v1/licences/MT/LIC/EXP/2/suspend", json={"reason": "review"},
                       headers=pub).status_code == 200
    runtime = app.extensions["cordon"]
    april = dt.datetime(2026, 4, 1, 2, 20, tzinfo=dt.timezone.utc)
    assert JOBS["expire-licences"](runtime, april) == {"expired": 1, "numbers": ["MT/LIC/EXP/1"]}
    first = client.get("/api/v1/licences/MT/LIC/EXP/1", headers=pub).get_json()
    assert first["status"] == "expired" and first["version"] == 2
    assert client.get("/api/v1/licences/MT/LIC/EXP/2", headers=pub).get_json()["status"] == "suspended"
    assert JOBS["expire-licences"](runtime, april)["expired"] == 0  # nothing twice
    later = dt.datetime(2028, 1, 1, 2, 20, tzinfo=dt.timezone.utc)
    assert JOBS["expire-licences"](runtime, later)["numbers"] == ["MT/LIC/EXP/2"]  # suspended ones too
    entries = AuditLog(runtime.db()).entries(limit=100, action="licence.expire")
    assert {e["detail"]["number"] for e in entries} == {"MT/LIC/EXP/1", "MT/LIC/EXP/2"}
