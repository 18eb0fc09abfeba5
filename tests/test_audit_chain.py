"""``cordon audit verify`` on a real log, after editing the SQLite file behind the node's back."""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import sample_denial

from node.audit import AuditLog, entry_hash
from node.cli import main
from node.clients import ClientRegistry
from node.database import DB_NAME
from node.denials import DenialRegistry


def verify(data_dir):
    return CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(data_dir)], catch_exceptions=False)


@pytest.fixture
def logged(app):
    """A node whose audit log holds 8 entries: a client, five denials, a read, an amendment."""
    runtime = app.extensions["cordon"]
    db = runtime.db()
    ClientRegistry(db).create("registry", ["publish"], actor="cli:admin")
    registry = DenialRegistry(db, "MT")
    uids = [registry.create(sample_denial(ref=f"MT/DEN/2026/{i:04d}"), actor="cl_test")["uid"] for i in range(5)]
    registry.get(uids[0], actor="cl_test")
    registry.amend(uids[1], {"reason_text": "Reassessed."}, actor="cl_test")
    assert AuditLog(db).verify().entries == 8
    runtime.close()
    return runtime.data_dir


def tamper(data_dir, *statements):
    conn = sqlite3.connect(data_dir / DB_NAME)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_fresh_log_verifies(node_dir):
    result = verify(node_dir)
    assert result.exit_code == 0 and "audit log intact" in result.stdout


def test_intact_log_verifies(logged):
    result = verify(logged)
    assert result.exit_code == 0, result.output
    assert "audit log intact: 8 entries" in result.stdout


def test_edited_entry_is_named(logged):
    tamper(logged, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4")
    result = verify(logged)
    assert result.exit_code == 1
    assert "entry 4 was edited" in result.stderr
    assert "1 problem(s) in 8 entries" in result.stderr


def test_edited_detail_and_timestamp_are_caught(logged):
    tamper(logged, "UPDATE audit_log SET detail = '{\"ref\":\"MT/DEN/2026/9999\",\"version\":1}' WHERE seq = 3",
           "UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 6")
    result = verify(logged)
    assert result.exit_code == 1
    assert "entry 3 was edited" in result.stderr and "entry 6 was edited" in result.stderr


def test_deleted_entry_is_named(logged):
    tamper(logged, "DELETE FROM audit_log WHERE seq = 5")
    result = verify(logged)
    assert result.exit_code == 1
    assert "entry 5 was deleted" in result.stderr
    assert "7 entries" in result.stderr


def test_several_deleted_entries_are_named_as_a_range(logged):
    tamper(logged, "DELETE FROM audit_log WHERE seq IN (3, 4, 5)")
    result = verify(logged)
    assert result.exit_code == 1 and "entry 3-5 was deleted" in result.stderr


def test_deleted_first_entry_is_named(logged):
    tamper(logged, "DELETE FROM audit_log WHERE seq = 1")
    result = verify(logged)
    assert result.exit_code == 1 and "entry 1 was deleted" in result.stderr


def test_reordered_entries_are_named(logged):
    tamper(logged, "UPDATE audit_log SET seq = -1 WHERE seq = 6",
           "UPDATE audit_log SET seq = 6 WHERE seq = 7",
           "UPDATE audit_log SET seq = 7 WHERE seq = -1")
    result = verify(logged)
    assert result.exit_code == 1
    assert "entry 6 is out of order: it was written after entry 7" in result.stderr


def test_entry_replaced_by_a_forged_one_is_caught(logged):
    conn = sqlite3.connect(logged / DB_NAME)
    prev = conn.execute("SELECT prev_hash FROM audit_log WHERE seq = 2").fetchone()[0]
    conn.close()
    forged = entry_hash("f" * 64, "2026-01-01T00:00:00.000000Z", "cl_test", "denial.create", "x", "{}")
    tamper(logged, f"UPDATE audit_log SET prev_hash = '{'f' * 64}', hash = '{forged}', target = 'x', "
                   "detail = '{}', at = '2026-01-01T00:00:00.000000Z' WHERE seq = 2")
    assert prev != "f" * 64
    result = verify(logged)
    assert result.exit_code == 1 and "entry 2" in result.stderr


def test_a_rewritten_or_cut_back_log_is_caught_against_a_head_kept_elsewhere(logged):
    """Whoever can write the database can rewrite an entry and recompute every hash after it, or cut the log
    back: the chain alone still verifies, the head printed earlier and kept elsewhere does not."""
    printed = verify(logged).stdout
    anchor = re.search(r"head: (\d+:[0-9a-f]{16})", printed).group(1)
    assert anchor.startswith("8:")

    def verify_against(kept):
        return CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(logged), "--anchor", kept],
                                  catch_exceptions=False)

    assert verify_against(anchor).exit_code == 0
    conn = sqlite3.connect(logged / DB_NAME)
    rows = conn.execute("SELECT seq, at, actor, action, target, detail, prev_hash FROM audit_log ORDER BY seq").fetchall()
    conn.close()
    prev, statements = rows[3][6], []
    for seq, at, actor, action, target, detail, _prev in rows[3:]:
        actor = "cl_somebody_else" if seq == 4 else actor
        digest = entry_hash(prev, at, actor, action, target, detail)
        statements.append(f"UPDATE audit_log SET actor = '{actor}', prev_hash = '{prev}', hash = '{digest}' "
                          f"WHERE seq = {seq}")
        prev = digest
    tamper(logged, *statements)
    assert verify(logged).exit_code == 0  # the chain alone cannot tell
    rewritten = verify_against(anchor)
    assert rewritten.exit_code == 1 and "entry 8 no longer has the hash kept elsewhere" in rewritten.stderr

    tamper(logged, "DELETE FROM audit_log WHERE seq > 6")
    cut = verify_against("7:" + "0" * 16)
    assert cut.exit_code == 1 and "entry 7, kept elsewhere, is no longer in the log" in cut.stderr
    bad = verify_against("head")
    assert bad.exit_code == 1 and "--anchor: expected SEQ:HASH" in bad.stderr
    short = verify_against("7:e52d")
    assert short.exit_code == 1 and "the hash after the colon has 4 hex digits; give at least the 16" in short.stderr


def test_verify_over_the_api_reports_the_same(app, client, bearer):
    admin = bearer("admin")
    ok = client.get("/api/v1/audit/verify", headers=admin).get_json()
    assert ok["ok"] is True and ok["entries"] >= 2
    data_dir = app.extensions["cordon"].data_dir
    tamper(data_dir, "UPDATE audit_log SET action = 'nothing' WHERE seq = 1")
    broken = client.get("/api/v1/audit/verify", headers=admin).get_json()
    assert broken["ok"] is False
    assert any(p.startswith("entry 1 was edited") for p in broken["problems"])


def test_audit_entries_hold_no_record_content(logged):
    conn = sqlite3.connect(logged / DB_NAME)
    text = " ".join(" ".join(map(str, row)) for row in conn.execute("SELECT * FROM audit_log"))
    conn.close()
    for secret in ("Технопром", "Tekhnoprom", "Melita", "missile", "840000"):
        assert secret not in text


def test_queries_are_kept_as_digests_keyed_with_the_nodes_secret(app, client, bearer):
    """A screened name or a party= search is kept as a digest a reader of the trail cannot test guesses
    against: keyed with a secret of the node, the same digest for the same names."""
    import hashlib
    import hmac
    import json

    read = bearer("read")
    for _ in range(2):
        assert client.post("/api/v1/screen", json={"name": "Zygmunt Other"}, headers=read).status_code == 200
    assert client.get("/api/v1/denials?party=Rotation", headers=read).status_code == 200
    db = app.extensions["cordon"].db()
    entries = AuditLog(db).entries(limit=1000)
    screens = [e["detail"]["query_digest"] for e in entries if e["action"] == "screen"]
    listed = [e["detail"]["party_query_digest"] for e in entries if e["action"] == "denial.list"]
    plain = hashlib.sha256(json.dumps([["Zygmunt Other"]]).encode()).hexdigest()[:16]
    assert len(screens) == 2 and screens[0] == screens[1] != plain
    assert listed == [listed[0]] and listed[0] != hashlib.sha256(b"Rotation").hexdigest()[:16]
    key = bytes.fromhex(db.execute("SELECT value FROM meta WHERE key = 'audit_digest_key'").fetchone()[0])
    assert len(key) == 32 and listed[0] == hmac.new(key, b"Rotation", hashlib.sha256).hexdigest()[:16]
    assert "Zygmunt" not in str(entries) and "Rotation" not in str(entries)


def test_an_earlier_sign_in_name_key_goes_on_keying_digests(node_dir):
    """A database whose unknown sign-in names were keyed with ``sign_in_name_key`` keeps that key, so the
    digests of the same name stay comparable across the trail."""
    import hashlib
    import hmac

    from node.database import connect, write_transaction

    db = connect(node_dir / DB_NAME)
    earlier = "ab" * 32
    with write_transaction(db):
        db.execute("INSERT INTO meta (key, value) VALUES ('sign_in_name_key', ?)", [earlier])
        digest = AuditLog(db).digest("mallory")
    assert digest == hmac.new(bytes.fromhex(earlier), b"mallory", hashlib.sha256).hexdigest()[:16]
    db.conn.close()


def test_audit_list_shows_the_latest_entries_or_those_after_a_number(logged):
    def listed(*args):
        result = CliRunner().invoke(main, ["audit", "list", "--data-dir", str(logged), *args], catch_exceptions=False)
        return result, [int(line.split()[0]) for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]

    assert listed("--limit", "3")[1] == [6, 7, 8]  # the latest, oldest first
    assert listed("--after", "2", "--limit", "3")[1] == [3, 4, 5]
    assert listed("--action", "denial.create", "--limit", "2")[1] == [5, 6]
    assert listed("--actor", "cli:admin")[1] == [1]
    nothing, seqs = listed("--action", "no.such")
    assert seqs == [] and nothing.stdout.strip() == "no entries match"
    for bad in (["--limit", "0"], ["--limit", "-5"], ["--after", "-1"]):
        refused = CliRunner().invoke(main, ["audit", "list", "--data-dir", str(logged), *bad])
        assert refused.exit_code == 2 and f"Invalid value for '{bad[0]}'" in refused.output, (bad, refused.output)


def test_the_audit_api_names_a_limit_out_of_range(app, client, bearer):
    admin = bearer("admin")
    for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("after=-1", "after"), ("limit=x", "limit")):
        refused = client.get(f"/api/v1/audit?{query}", headers=admin)
        assert refused.status_code == 400 and field in refused.get_json()["fields"], (query, refused.get_json())
    both = client.get("/api/v1/audit?limit=x&after=-1", headers=admin)
    assert both.status_code == 400 and set(both.get_json()["fields"]) == {"limit", "after"}, both.get_json()
    assert len(client.get("/api/v1/audit?limit=1", headers=admin).get_json()["items"]) == 1
