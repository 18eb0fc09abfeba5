"""Screening through the local API and CLI (real SQLite file, real tokens)."""

from __future__ import annotations

import datetime as dt

from conftest import sample_denial
from nodeproc import cordon

from node.jobs import index_names


def publish_parties(client, headers, parties, ref):
    body = sample_denial(ref=ref, parties=parties)
    response = client.post("/api/v1/denials", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def person(*names, country="IR", role="end_user", identifiers=()):
    return {"role": role, "names": [{"text": n, "original": i == 0} for i, n in enumerate(names)],
            "country": country, "identifiers": list(identifiers)}


def test_hits_across_scripts_are_explained(app, client, bearer):
    pub = bearer("publish", "read")
    publish_parties(client, pub, [person("محمد علي حسن الرشيد", "Mohammed Ali Hassan Al-Rashid")], "MT/DEN/S/1")
    publish_parties(client, pub, [person("ООО Спецтехника", "Spetstekhnika LLC", country="RU")], "MT/DEN/S/2")
    index_names(app.extensions["cordon"], dt.datetime.now(dt.timezone.utc))

    for query in ("Muhammad Ali Hasan Rashid", "Мухаммад Али Хасан Рашид", "Al-Rashid Mohammed Ali Hassan"):
        answer = client.post("/api/v1/screen", json={"name": query}, headers=pub).get_json()
        hits = answer["results"][0]["hits"]
        assert hits and hits[0]["ref"] == "MT/DEN/S/1", (query, answer)
        hit = hits[0]
        assert hit["query_name"] == query
        assert hit["matched_name"] in ("محمد علي حسن الرشيد", "Mohammed Ali Hassan Al-Rashid")
        assert hit["score"] >= hit["threshold"] and hit["signals"]
        assert hit["origin"] == "MT" and hit["party_role"] == "end_user"

    legal = client.post("/api/v1/screen", json={"name": "Spetstekhnika OOO", "country": "RU"}, headers=pub).get_json()
    assert legal["results"][0]["hits"][0]["ref"] == "MT/DEN/S/2"
    nothing = client.post("/api/v1/screen", json={"name": "Northern Lights Bakery"}, headers=pub).get_json()
    assert nothing["results"][0]["hits"] == []


def test_revoked_denials_do_not_hit_unless_asked(app, client, bearer):
    pub = bearer("publish", "read")
    doc = publish_parties(client, pub, [person("Sergei Kuznetsov", country="RU")], "MT/DEN/S/3")
    assert client.post(f"/api/v1/denials/{doc['uid']}/revoke", json={"reason": "lifted"}, headers=pub).status_code == 200
    index_names(app.extensions["cordon"], dt.datetime.now(dt.timezone.utc))
    plain = client.post("/api/v1/screen", json={"name": "Sergey Kuznetsov"}, headers=pub).get_json()
    assert plain["results"][0]["hits"] == []
    shown = client.post("/api/v1/screen", json={"name": "Sergey Kuznetsov", "include_inactive": True},
                        headers=pub).get_json()
    assert shown["results"][0]["hits"][0]["status"] == "revoked"


def test_batch_and_bad_names(app, client, bearer):
    read = bearer("read")
    bad = client.post("/api/v1/screen", json={"parties": [{"name": "Ok Name Ltd"}, {"name": "  "}, {"name": "#1234567"}]},
                      headers=read)
    assert bad.status_code == 400
    fields = bad.get_json()["fields"]
    assert "parties.1.name" in fields and "parties.2.name" in fields
    assert client.post("/api/v1/screen", json={"name": "x" * 400}, headers=read).status_code == 400
    assert client.post("/api/v1/screen", json={"name": "Real Name", "colour": 1}, headers=read).status_code == 400
    made_up = client.post("/api/v1/screen", json={"name": "Real Name", "country": "QQ"}, headers=read)
    assert made_up.status_code == 400 and made_up.get_json()["fields"] == {"country": "must be an ISO 3166-1 alpha-2 code"}
    assert client.post("/api/v1/screen", json={"name": "Real Name", "country": "ru"}, headers=read).status_code == 200
    assert client.post("/api/v1/screen", json={"name": "Real Name"}).status_code == 401
    customs = bearer("customs")
    assert client.post("/api/v1/screen", json={"name": "Real Name"}, headers=customs).status_code == 403


def test_no_name_given_is_left_unscreened_and_every_bad_field_is_named(app, client, bearer):
    pub = bearer("publish", "read")
    publish_parties(client, pub, [person("Mohammed Ali Hassan Al-Rashid")], "MT/DEN/S/9")
    index_names(app.extensions["cordon"], dt.datetime.now(dt.timezone.utc))
    alone = client.post("/api/v1/screen", json={"name": "Mohammed Ali Hassan Al Rashid"}, headers=pub).get_json()
    assert alone["results"][0]["hits"][0]["ref"] == "MT/DEN/S/9"
    # A name given beside names or parties would not be screened: refused, not answered "no hit".
    for body, field in (({"name": "Mohammed Ali Hassan Al Rashid", "names": ["Zygmunt Other"]}, "names"),
                        ({"name": "Mohammed Ali Hassan Al Rashid", "parties": [{"name": "Zygmunt Other"}]}, "name"),
                        ({"names": ["Mohammed Ali Hassan Al Rashid"], "parties": [{"name": "Zygmunt Other"}]}, "names"),
                        ({"parties": [{"name": "Zygmunt Other", "names": ["Mohammed Ali Hassan Al Rashid"]}]},
                         "parties.0.names")):
        refused = client.post("/api/v1/screen", json=body, headers=pub)
        assert refused.status_code == 400, (body, refused.get_json())
        assert field in refused.get_json()["fields"], (body, refused.get_json())
    stray = client.post("/api/v1/screen", json={"parties": [{"name": "Xavier Quartz", "colour": 1}]}, headers=pub)
    assert stray.status_code == 400 and stray.get_json()["fields"] == {"parties.0.colour": "unknown field"}
    assert client.post("/api/v1/screen", json={}, headers=pub).get_json()["fields"] == {
        "name": "required (or names: several names of the same party)"}
    assert client.post("/api/v1/screen", json={"name": 42}, headers=pub).get_json()["fields"] == {
        "name": "must be a string"}
    several = client.post("/api/v1/screen", headers=pub, json={
        "name": "Real Name", "country": "QQ", "threshold": 2, "limit": "ten", "live": "yes"}).get_json()
    assert set(several["fields"]) == {"country", "threshold", "limit", "live"}, several


def test_cli_file_reports_bad_rows_and_screens_good_ones(tmp_path, node_dir, app, client, bearer):
    pub = bearer("publish")
    publish_parties(client, pub, [person("Kamran Aerotech (Pvt) Ltd", country="PK")], "MT/DEN/S/4")
    app.extensions["cordon"].close()
    parties = tmp_path / "parties.csv"
    parties.write_text("name,aliases,country\nKamran Aerotech Private Limited,,PK\n ,,\nUnrelated Shipping SA,,GR\n",
                       encoding="utf-8")
    result = cordon("screen", "--file", str(parties), data_dir=node_dir, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "line 2: Kamran Aerotech Private Limited (PK): 1 hit(s)" in result.stdout
    assert "MT/DEN/S/4" in result.stdout
    assert "line 4: Unrelated Shipping SA (GR): no hit" in result.stdout
    assert "line 3: not screened" in result.stderr
    assert "loading the name tables screening needs" in result.stderr  # the wait is explained
    from node.audit import AuditLog
    from node.runtime import NodeRuntime

    runtime = NodeRuntime(node_dir)
    try:
        entry = AuditLog(runtime.db()).entries(limit=10, action="screen")[-1]
    finally:
        runtime.close()
    assert entry["actor"].startswith("cli:") and entry["detail"]["parties"] == 2 and entry["detail"]["hits"] == 1
    assert "Kamran" not in str(entry)


def test_forms_of_an_older_normalisation_stay_searchable_and_are_recomputed(app, client, bearer):
    import json

    from node.screening import FORMS_VERSION

    pub = bearer("publish", "read")
    publish_parties(client, pub, [person("Sergei Kuznetsov", country="RU")], "MT/DEN/S/9")
    runtime = app.extensions["cordon"]
    index_names(runtime, dt.datetime.now(dt.timezone.utc))
    db = runtime.db()
    (row_id, stored), = db.execute("SELECT id, forms FROM party_names").fetchall()
    older = dict(json.loads(stored), version=FORMS_VERSION - 1)
    with db.conn:
        db.execute("UPDATE party_names SET forms = ? WHERE id = ?", [json.dumps(older), row_id])
        db.execute("INSERT INTO index_feed (uid) SELECT uid FROM party_names WHERE id = ?", [row_id])
    # Still found while the older forms are in place.
    answer = client.post("/api/v1/screen", json={"name": "Sergey Kuznetsov"}, headers=pub).get_json()
    assert answer["results"][0]["hits"][0]["ref"] == "MT/DEN/S/9"
    done = index_names(runtime, dt.datetime.now(dt.timezone.utc))
    assert done == {"normalised": 0, "refreshed": 1}
    assert json.loads(db.execute("SELECT forms FROM party_names").fetchone()[0])["version"] == FORMS_VERSION
    assert index_names(runtime, dt.datetime.now(dt.timezone.utc)) == {"normalised": 0, "refreshed": 0}
    answer = client.post("/api/v1/screen", json={"name": "Sergey Kuznetsov"}, headers=pub).get_json()
    assert answer["results"][0]["hits"][0]["ref"] == "MT/DEN/S/9"
