"""The web pages through Flask's test client: role checks, the denial forms (errors next to the
fields, nothing lost on a refused submit), history, screening, licences with write-offs, peers,
the audit trail and consultations, and the accessibility basics of every page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import sample_denial
from customs_support import check_url, customs_licence, declaration
from web_support import add_user, csrf_of, page_problems, sign_in

from node.audit import AuditLog
from node.consultation_intake import ConsultationIntake
from node.config import Settings
from node.datadir import initialise
from node.denials import DenialRegistry
from node.jobs import index_names
from node.licences import LicenceRegistry
from node.peers import PeerRegistry
from node.timestamps import to_iso, utc_now
from nodeproc import free_port

ROLES = ("read", "publish", "customs", "admin", "coordinator")
# page -> roles that may open it (the same rights as the API scopes)
PAGES = {
    "/ui/": ROLES,
    "/ui/denials": ("read", "publish", "admin"),
    "/ui/denials/new": ("publish",),
    "/ui/screen": ("read", "publish", "admin"),
    "/ui/licences": ("read", "publish", "customs", "admin"),
    "/ui/peers": ("read", "publish", "admin"),
    "/ui/consultations": ("read", "publish", "admin"),
    "/ui/audit": ("admin",),
}


def publish_form(**overrides) -> dict:
    """What an officer types into the publish form for a denial like conftest's sample."""
    data = {
        "ref": "MT/DEN/2026/0100", "issuing_authority": "Malta Trade Services, Export Control Unit",
        "contact": "exportcontrol@example.mt", "sensitivity": "restricted", "denied_on": "2026-03-02",
        "regimes": ["NSG", "EU-DU"], "control_entries": "NSG 2B201\nEU-DU 2B201.a",
        "reason_codes": ["wmd_risk"], "reason_text": "End user linked to a procurement network.",
        "item_description": "Five-axis machine tools", "key_parameters": "axes = 5\naccuracy_um = 4",
        "hs_code": "845710", "quantity": "2", "unit": "pcs", "value": "840000.00", "currency": "eur",
        "destination_country": "ru", "transit_countries": "TR AE",
        "party_rows": "2",
        "party-0-role": "end_user", "party-0-kind": "organisation",
        "party-0-names": "ООО Технопром\nTekhnoprom LLC", "party-0-country": "RU",
        "party-0-address": "ul. Lesnaya 5, Moscow",
        "party-0-identifiers": "OGRN: 1027700132195",
        "party-1-role": "exporter", "party-1-names": "Melita Precision Ltd", "party-1-country": "MT",
    }
    data.update(overrides)
    return data


@pytest.fixture
def runtime(app):
    return app.extensions["cordon"]


def signed_in(app, role: str, name: str | None = None):
    client = app.test_client()
    add_user(app.extensions["cordon"], name or f"{role}-user", role)
    assert sign_in(client, name or f"{role}-user").status_code == 302
    return client


def post(client, path: str, data: dict, page: str | None = None):
    token = csrf_of(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def text_of(response) -> str:
    return response.get_data(as_text=True)


def audit(runtime, action: str) -> list[dict]:
    return AuditLog(runtime.db()).entries(limit=10_000, action=action)


def test_every_page_refuses_the_roles_the_api_scopes_refuse(app):
    for role in ROLES:
        client = signed_in(app, role)
        for path, allowed in PAGES.items():
            response = client.get(path)
            if role in allowed:
                assert response.status_code == 200, (role, path)
                assert not page_problems(text_of(response)), (role, path, page_problems(text_of(response)))
            else:
                assert response.status_code == 403, (role, path)
                assert f"Your role ({role}) cannot use this page" in text_of(response)
        nav = re.findall(r'<li><a href="(/ui/[a-z/]*)"', text_of(client.get("/ui/")))
        assert set(nav) == {p for p, allowed in PAGES.items() if role in allowed and p != "/ui/"}, role


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/ui/login?next="), path
    assert client.post("/ui/denials/new", data={}).status_code == 400  # no session, so no CSRF token either


def test_a_read_user_cannot_publish_even_with_a_valid_form(app, runtime):
    client = signed_in(app, "read")
    refused = post(client, "/ui/denials/new", publish_form(), page="/ui/denials")
    assert refused.status_code == 403
    assert runtime.db().execute("SELECT count(*) FROM denials").fetchone()[0] == 0


def test_publish_shows_errors_next_to_the_fields_and_keeps_every_value(app, runtime):
    client = signed_in(app, "publish", "alice")
    bad = publish_form(**{"destination_country": "XX", "regimes": [], "control_entries": "NSG 2B201\n2B201.a",
                          "party-0-identifiers": "OGRN 1027700132195", "party-1-names": ""})
    response = post(client, "/ui/denials/new", bad)
    html = text_of(response)
    assert response.status_code == 400 and "There is a problem" in html and not page_problems(html)
    assert 'id="control_entries-error"' in html and "line 2: write the regime, then the entry" in html
    assert 'id="party-0-identifiers-error"' in html and 'id="party-1-names-error"' in html
    # The registry's findings in the rest of the form come in the same answer.
    assert 'id="destination_country-error"' in html and 'id="regimes-error"' in html
    for kept in ("MT/DEN/2026/0100", "ООО Технопром\nTekhnoprom LLC", "NSG 2B201\n2B201.a",
                 "End user linked to a procurement network.", "axes = 5\naccuracy_um = 4", 'value="XX"'):
        assert kept in html, kept
    assert runtime.db().execute("SELECT count(*) FROM denials").fetchone()[0] == 0

    # The form's own problems fixed; the registry's remain, each next to its field.
    fixed = publish_form(**{"destination_country": "XX", "regimes": [], "denied_on": "2026-02-30"})
    response = post(client, "/ui/denials/new", fixed)
    html = text_of(response)
    assert response.status_code == 400, re.findall(r'class="error-message"[^>]*>(.*?)</p>', html)
    assert re.search(r'id="destination_country-error"><span class="visually-hidden">Error: </span>&#39;XX&#39; is not',
                     html)
    assert 'id="regimes-error"' in html and 'id="denied_on-error"' in html
    assert 'href="#destination_country"' in html and 'aria-invalid="true"' in html
    assert 'value="XX"' in html and 'value="2026-02-30"' in html and 'value="Tekhnoprom' not in html
    assert "ООО Технопром\nTekhnoprom LLC</textarea>" in html
    assert 'value="wmd_risk" checked' in html
    assert runtime.db().execute("SELECT count(*) FROM denials").fetchone()[0] == 0


def test_publish_then_detail_with_history_amend_and_revoke(app, runtime):
    client = signed_in(app, "publish", "alice")
    created = post(client, "/ui/denials/new", publish_form())
    assert created.status_code == 302
    uid = created.location.rsplit("/", 1)[1]
    doc = DenialRegistry(runtime.db(), "MT").table.require(uid)
    assert doc["ref"] == "MT/DEN/2026/0100" and doc["destination_country"] == "RU" and doc["currency"] == "EUR"
    assert doc["control_entries"] == [{"list": "NSG", "entry": "2B201"}, {"list": "EU-DU", "entry": "2B201.a"}]
    assert doc["key_parameters"] == {"axes": "5", "accuracy_um": "4"}
    assert doc["transit_countries"] == ["TR", "AE"]
    assert [n["text"] for n in doc["parties"][0]["names"]] == ["ООО Технопром", "Tekhnoprom LLC"]
    assert doc["parties"][0]["identifiers"] == [{"scheme": "OGRN", "value": "1027700132195"}]
    assert audit(runtime, "denial.create")[0]["actor"] == "user:alice"

    detail = client.get(created.location)
    html = text_of(detail)
    assert "Denial MT/DEN/2026/0100 was published (version 1)." in html and not page_problems(html)
    assert "Tekhnoprom LLC" in html and "first version" in html
    assert "<td>ul. Lesnaya 5, Moscow</td>" in html and doc["parties"][0]["address"] == "ul. Lesnaya 5, Moscow"

    duplicate = post(client, "/ui/denials/new", publish_form())
    assert duplicate.status_code == 400 and 'id="ref-error"' in text_of(duplicate)
    assert "already used by another denial of this node" in text_of(duplicate)

    form = text_of(client.get(f"/ui/denials/{uid}/amend"))
    assert 'name="version" value="1"' in form and "Five-axis machine tools</textarea>" in form
    amended = post(client, f"/ui/denials/{uid}/amend", publish_form(
        item_description="Five-axis machining centres", version="1", reason_text="", review_due=doc["review_due"]))
    assert amended.status_code == 302
    doc = DenialRegistry(runtime.db(), "MT").table.require(uid)
    assert doc["version"] == 2 and doc["item_description"] == "Five-axis machining centres"
    assert "reason_text" not in doc, "a cleared optional field is removed"
    assert audit(runtime, "denial.amend")[0]["detail"]["fields"] == ["item_description", "reason_text"]
    history = text_of(client.get(f"/ui/denials/{uid}"))
    assert re.search(r"<td>2</td>\s*<td><span class=\"badge badge-active\">active</span></td>\s*<td>[^<]+</td>\s*"
                     r"<td>Item description, Reason \(text\)</td>", history)

    stale = post(client, f"/ui/denials/{uid}/amend", publish_form(item_description="Lathes", version="1",
                                                                  review_due=doc["review_due"]))
    html = text_of(stale)
    assert stale.status_code == 409 and "someone changed it since you opened this form" in html
    assert "Lathes</textarea>" in html and 'name="version" value="2"' in html
    same = post(client, f"/ui/denials/{uid}/amend", publish_form(item_description="Five-axis machining centres",
                                                                   version="2", reason_text="",
                                                                   review_due=doc["review_due"]))
    assert same.status_code == 400 and "Nothing was changed" in text_of(same)
    for version in ("", "two"):  # a form that does not say which version it was opened at amends nothing
        unknown = post(client, f"/ui/denials/{uid}/amend", publish_form(item_description="Lathes", version=version,
                                                                        review_due=doc["review_due"]))
        html = text_of(unknown)
        assert unknown.status_code == 400 and "did not say which version it was opened at" in html
        assert "Lathes</textarea>" in html and 'name="version" value="2"' in html
    assert reg_version(runtime, uid) == 2

    empty = post(client, f"/ui/denials/{uid}/revoke", {"reason": "  "})
    assert empty.status_code == 400 and 'id="reason-error"' in text_of(empty)
    revoked = post(client, f"/ui/denials/{uid}/revoke", {"reason": "Decision overturned on appeal"})
    assert revoked.status_code == 302
    page = text_of(client.get(f"/ui/denials/{uid}"))
    assert "Revoked: Decision overturned on appeal" in page and "status: active → revoked" in page
    assert "Amend this denial" not in page and "Revoke this denial" not in page
    assert [e["actor"] for e in audit(runtime, "denial.revoke")] == ["user:alice"]
    for action, words in (("amend", "is revoked and can no longer be amended"), ("revoke", "is already revoked")):
        offered = client.get(f"/ui/denials/{uid}/{action}")  # no form that cannot succeed
        assert offered.status_code == 409 and words in text_of(offered), action
        assert "<textarea" not in text_of(offered)


def test_amending_keeps_what_the_form_does_not_show(app, runtime):
    doc = DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/2026/0300"), actor="test")
    client = signed_in(app, "publish")
    form = text_of(client.get(f"/ui/denials/{doc['uid']}/amend"))
    fields = dict(re.findall(r'<input type="(?:text|date)" id="[^"]+" name="([^"]+)" value="([^"]*)"', form))
    areas = dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', form))
    selected = dict(re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" '
                               r'selected>', form, re.S))
    boxes: dict[str, list] = {}
    for name, value in re.findall(r'name="([^"]+)" value="([^"]+)" checked', form):
        boxes.setdefault(name, []).append(value)
    data = {**fields, **areas, **selected, **boxes, "party_rows": "3", "version": "1",
            "item_description": "Five-axis machine tools, refurbished"}
    response = post(client, f"/ui/denials/{doc['uid']}/amend", data)
    assert response.status_code == 302, re.findall(r'class="error-message"[^>]*>(.*?)</p>', text_of(response))
    after = DenialRegistry(runtime.db(), "MT").table.require(doc["uid"])
    assert after["version"] == 2 and after["item_description"] == "Five-axis machine tools, refurbished"
    assert after["parties"] == doc["parties"], "names keep their script and original mark"
    assert {k: v for k, v in after.items() if k not in ("version", "updated_at", "item_description")} == \
        {k: v for k, v in doc.items() if k not in ("version", "updated_at", "item_description")}


def test_add_party_row_keeps_the_values_and_saves_nothing(app, runtime):
    client = signed_in(app, "publish")
    response = post(client, "/ui/denials/new", {**publish_form(), "action": "add_party"})
    html = text_of(response)
    assert response.status_code == 200 and "Party 3" in html and 'name="party_rows" value="3"' in html
    assert "ООО Технопром\nTekhnoprom LLC</textarea>" in html and 'value="MT/DEN/2026/0100"' in html
    assert runtime.db().execute("SELECT count(*) FROM denials").fetchone()[0] == 0


def test_peers_records_are_read_only_here(app, runtime):
    received = DenialRegistry(runtime.db(), "DE").create(sample_denial("DE/DEN/1"), actor="test")
    client = signed_in(app, "publish")
    page = text_of(client.get(f"/ui/denials/{received['uid']}"))
    assert "Amend this denial" not in page and "Revoke this denial" not in page
    for action in ("amend", "revoke"):
        offered = client.get(f"/ui/denials/{received['uid']}/{action}")
        assert offered.status_code == 409 and f"only its origin can {action} it" in text_of(offered), action
    refused = post(client, f"/ui/denials/{received['uid']}/revoke", {"reason": "not ours"},
                   page=f"/ui/denials/{received['uid']}")
    assert refused.status_code == 409 and "only its origin can revoke it" in text_of(refused)
    assert DenialRegistry(runtime.db(), "MT").table.require(received["uid"])["status"] == "active"


def test_the_denial_list_filters_and_pages(app, runtime):
    registry = DenialRegistry(runtime.db(), "MT")
    for n in range(30):
        registry.create(sample_denial(f"MT/DEN/L/{n:02}", destination_country="IR" if n % 3 else "RU"), actor="t")
    client = signed_in(app, "read")
    first = text_of(client.get("/ui/denials"))
    refs = re.findall(r">(MT/DEN/L/\d\d)</a>", first)
    assert refs == [f"MT/DEN/L/{n:02}" for n in range(29, 4, -1)]
    cursor = re.search(r'href="/ui/denials\?cursor=([^"&]+)[^"]*">Next page', first).group(1)
    second = text_of(client.get(f"/ui/denials?cursor={cursor}"))
    assert re.findall(r">(MT/DEN/L/\d\d)</a>", second) == [f"MT/DEN/L/{n:02}" for n in range(4, -1, -1)]
    assert "First page" in second and "Next page" not in second
    russian = text_of(client.get("/ui/denials?country=RU"))
    assert len(re.findall(r">(MT/DEN/L/\d\d)</a>", russian)) == 10 and 'value="RU"' in russian
    bad = client.get("/ui/denials?status=pending&party=Tekh")
    assert bad.status_code == 400 and 'id="status-error"' in text_of(bad) and 'value="Tekh"' in text_of(bad)


def test_screening_explains_each_hit_and_names_bad_input(app, runtime):
    DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/2026/0400"), actor="test")
    index_names(runtime, dt.datetime.now(dt.timezone.utc))
    client = signed_in(app, "read", "nina")
    page = text_of(client.get("/ui/screen"))
    assert not page_problems(page)

    response = post(client, "/ui/screen", {"names": "Технопром", "country": "RU", "live": "yes"})
    html = text_of(response)
    assert response.status_code == 200 and not page_problems(html)
    assert "1 denial matches at the threshold 0.85." in html
    assert re.search(r'<dd class="matched-name">(ООО Технопром|Tekhnoprom LLC)</dd>', html)
    assert re.search(r'<span class="score">(0\.\d\d|1\.00)</span> against the threshold 0\.85', html)
    assert "Signals: why this is a hit" in html and "Name parts compared" in html
    assert "This node has no peers to ask." in html
    entry = audit(runtime, "screen")[0]
    assert entry["actor"] == "user:nina" and entry["detail"]["hits"] == 1 and "Технопром" not in json.dumps(entry)

    nothing = text_of(post(client, "/ui/screen", {"names": "Sfax Olive Oil Cooperative"}))
    assert "No denial matches at the threshold 0.85." in nothing

    bad = post(client, "/ui/screen", {"names": "Технопром\n12", "country": "Russia", "threshold": "high"})
    html = text_of(bad)
    assert bad.status_code == 400 and not page_problems(html)
    for field in ("threshold", "names", "country"):
        assert f'id="{field}-error"' in html, field
    assert "Технопром\n12</textarea>" in html and 'value="Russia"' in html and 'value="high"' in html


def test_licences_show_lines_balances_and_write_offs(app, runtime, bearer, client):
    licence = LicenceRegistry(runtime.db(), "MT").create(customs_licence(), actor="test")
    customs = bearer("customs")
    checked = client.post(check_url(), json=declaration(1), headers=customs)
    assert checked.status_code == 201, checked.get_json()
    user = signed_in(app, "customs", "carla")
    listing = text_of(user.get("/ui/licences"))
    assert f'href="/ui/licences/{licence["number"]}"' in listing
    page = user.get(f"/ui/licences/{licence['number']}")
    html = text_of(page)
    assert page.status_code == 200 and not page_problems(html)
    assert declaration(1)["declaration_ref"] in html and "MT000101" in html
    assert re.search(r"<td>10 pcs<br>500000.00 EUR</td>\s*<td>8 pcs<br>400000.00 EUR</td>", html)
    assert audit(runtime, "customs.history")[0]["actor"] == "user:carla"
    assert user.get("/ui/licences/MT/LIC/NOPE").status_code == 404


def test_the_audit_trail_is_for_admins_and_verifies(app, runtime):
    client = signed_in(app, "admin", "ada")
    page = client.get("/ui/audit?verify=1")
    html = text_of(page)
    assert page.status_code == 200 and "The chain verifies" in html and not page_problems(html)
    assert "user.login" in html and "user:ada" in html
    filtered = text_of(client.get("/ui/audit?action=user.create"))
    assert filtered.count("<td>user.create</td>") == 1 and "<td>user.login</td>" not in filtered


def test_peers_show_their_sync_state(app, runtime, tmp_path):
    tn = initialise(tmp_path / "tn", Settings(node_id="TN", name="Tunisia", base_url="http://127.0.0.1:9"), utc_now())
    PeerRegistry(runtime.db(), "MT").add(tn.signed_identity(), tn.fingerprint(), actor="test")
    DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/P/1"), actor="test")
    html = text_of(signed_in(app, "read").get("/ui/peers"))
    assert re.search(r"<td>TN <span class=\"muted\">Tunisia</span></td>\s*<td><span class=\"badge badge-sending\">"
                     r"sending</span></td>\s*<td>never</td>", html)
    assert re.search(r"<td>1 <span class=\"muted\">since ", html)


CONSULTATION_POLICY = """version: 1
description: MT shares denials with TN
groups:
  partners:
    members: [TN]
views:
  notification:
    redact: []
    redact_roles: [exporter]
rules:
  - name: share-with-partners
    match:
      record_type: denial
      peer_group: partners
    action: share
    view: notification
inbound: []
"""


def test_consultation_inbox_thread_and_reply(app, runtime, node_dir, tmp_path):
    (node_dir / "policy.yaml").write_text(CONSULTATION_POLICY, encoding="utf-8")
    tn = initialise(tmp_path / "tn", Settings(node_id="TN", name="Tunisia",
                                              base_url=f"http://127.0.0.1:{free_port()}"), utc_now())
    PeerRegistry(runtime.db(), "MT").add(tn.signed_identity(), tn.fingerprint(), actor="test")
    own = DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/2026/0500"), actor="test")
    now = utc_now()
    opening = {"consultation": {
        "uid": "6d3f2b8e-2f0a-4c55-9b0e-1f1b2d3c4e5f", "requesting_state": "TN", "consulted_state": "MT",
        "denial_uids": [own["uid"]], "similarity": {"score": "0.9100"}, "opened_at": to_iso(now),
        "response_due": to_iso(now + dt.timedelta(days=30)),
        "transaction": {"parties": [{"role": "end_user", "names": [{"text": "Tekhnoprom Limited"}], "country": "RU"}],
                        "destination_country": "RU", "item_description": "Five-axis machining centre"}},
        "messages": [{"uid": "0b7e3c1a-9d8f-4e6a-8c2b-3a4d5e6f7a8b", "from": "TN", "position": "info",
                      "text": "Licence application TN/APP/77", "at": to_iso(now)}]}
    uid = ConsultationIntake(runtime.db(), "MT", runtime.policies.current()).receive_open("TN", opening, now)["uid"]

    reader = signed_in(app, "read")
    inbox = text_of(reader.get("/ui/consultations"))
    assert f'href="/ui/consultations/{uid}"' in inbox and "MT/DEN/2026/0500" in inbox
    thread = text_of(reader.get(f"/ui/consultations/{uid}"))
    assert "Licence application TN/APP/77" in thread and "Tekhnoprom Limited" in thread and not page_problems(thread)
    assert "Send the reply" not in thread
    assert post(reader, f"/ui/consultations/{uid}", {"position": "info", "text": "x"}).status_code == 403

    officer = signed_in(app, "publish", "olga")
    empty = post(officer, f"/ui/consultations/{uid}", {"position": "maintain_objection", "text": ""})
    html = text_of(empty)
    assert empty.status_code == 400 and 'id="text-error"' in html and 'value="maintain_objection" selected' in html
    sent = post(officer, f"/ui/consultations/{uid}", {"position": "maintain_objection",
                                                      "text": "Same end user, same machines."})
    assert sent.status_code == 302
    thread = text_of(officer.get(f"/ui/consultations/{uid}"))
    assert "MT: maintain objection" in thread and "Same end user, same machines." in thread
    assert "not yet delivered" in thread  # TN does not answer, so the reply waits for the delivery job
    assert audit(runtime, "consultation.message")[0]["actor"] == "user:olga"


def reg_version(runtime, uid) -> int:
    return runtime.db().execute("SELECT version FROM denials WHERE uid = ?", [uid]).fetchone()[0]


def test_a_browser_gets_pages_and_an_api_client_json_for_a_path_that_is_not_there(app):
    client = signed_in(app, "read")
    root = client.get("/")
    assert root.status_code == 302 and root.location.endswith("/ui/")
    missing = client.get("/ui/no-such-page")
    assert missing.status_code == 404 and missing.content_type.startswith("text/html")
    assert "There is no such page on this node." in text_of(missing) and not page_problems(text_of(missing))
    assert "default-src 'self'" in missing.headers["Content-Security-Policy"]
    put = client.put("/ui/denials")
    assert put.status_code == 405 and put.content_type.startswith("text/html") and "GET" in put.headers["Allow"]
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.get_json() == {"error": "not_found", "message": "no such route", "fields": {}}
