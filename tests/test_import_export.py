"""``cordon denials import``, ``cordon licences import`` and ``cordon denials export`` on real files."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EVERY_DENIAL_VERSION, sample_denial, sample_licence

from node.cli import main
from node.config import Settings
from node.database import DB_NAME, connect
from node.datadir import initialise

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def cordon(*args, data_dir):
    return CliRunner().invoke(main, [*map(str, args), "--data-dir", str(data_dir)], catch_exceptions=False)


def rows(data_dir, sql, params=()):
    db = connect(data_dir / DB_NAME)
    try:
        return [tuple(r) for r in db.execute(sql, list(params)).fetchall()]
    finally:
        db.conn.close()


def docs(data_dir, table="denials"):
    return {json.loads(r[0]).get("ref") or json.loads(r[0]).get("number"): json.loads(r[0])
            for r in rows(data_dir, f"SELECT doc FROM {table}")}


def write_jsonl(path: Path, items) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.fixture
def other_node(tmp_path):
    data_dir = tmp_path / "mt2"
    initialise(data_dir, Settings(node_id="MT", name="Malta", base_url="http://127.0.0.1:8702"),
               dt.datetime.now(dt.timezone.utc))
    return data_dir


def test_documented_example_files_import_cleanly(node_dir):
    for command, name, count in (("denials", "denials.csv", 2), ("denials", "denials.jsonl", 2),
                                 ("licences", "licences.csv", 2), ("licences", "licences.jsonl", 1)):
        result = cordon(command, "import", EXAMPLES / name, data_dir=node_dir)
        assert result.exit_code == 0, result.output
        assert f"{count} created, 0 amended, 0 unchanged, 0 rejected" in result.stdout, result.output
    denials = docs(node_dir)
    first = denials["MT/DEN/2026/0101"]
    assert first["regimes"] == ["NSG", "EU-DU"]
    assert first["control_entries"] == [{"list": "NSG", "entry": "2B201"}, {"list": "EU-DU", "entry": "2B201.a"}]
    assert first["key_parameters"] == {"axes": "5", "accuracy_um": "4"}
    end_user = next(p for p in first["parties"] if p["role"] == "end_user")
    assert [n["text"] for n in end_user["names"]] == ["ООО «Технопром»", "Tekhnoprom LLC", "OOO Tekhnoprom"]
    assert end_user["names"][0]["original"] is True and end_user["names"][0]["script"] == "Cyrl"
    assert end_user["identifiers"] == [{"scheme": "OGRN", "value": "1027700132195"},
                                      {"scheme": "INN", "value": "7701234567"}]
    assert {p["role"] for p in first["parties"]} == {"end_user", "consignee", "exporter"}
    assert first["review_due"] == "2029-03-02" and first["catch_all"] is False
    catch_all = denials["MT/DEN/2026/0102"]
    assert catch_all["catch_all"] is True and catch_all["catch_all_basis"].startswith("Informed")
    assert catch_all["parties"][0]["names"][0]["script"] == "Arab"
    assert denials["MT/DEN/2026/0202"]["parties"][0]["kind"] == "person"

    licences = docs(node_dir, "licences")
    multi = licences["MT/LIC/2026/0301"]
    assert [(line["line_no"], line["quantity"], line["unit"]) for line in multi["lines"]] == [
        (1, "10", "pcs"), (2, "200", "kg")]
    assert multi["conditions"] == ["No re-export without consent", "End-use statement on file"]
    assert multi["exporter"]["identifiers"] == [{"scheme": "VAT", "value": "MT12345678"}]
    assert licences["MT/LIC/2026/0302"]["destinations"] == ["CH", "NO", "SG"]
    balances = rows(node_dir, "SELECT line_no, balance_quantity FROM licence_lines l JOIN licences c "
                              "ON c.uid = l.licence_uid WHERE c.number = 'MT/LIC/2026/0301' ORDER BY line_no")
    assert balances == [(1, "10"), (2, "200")]


def test_bad_rows_are_reported_with_line_numbers_and_good_rows_stored(node_dir, tmp_path):
    good = [sample_denial(ref=f"MT/DEN/2026/{i:04d}") for i in range(1, 5)]
    lines = [json.dumps(good[0]), json.dumps(sample_denial(ref="MT/DEN/2026/0099", destination_country="XX")),
             json.dumps(good[1]), "", "{not json", json.dumps(["a", "list"]), json.dumps(good[2]),
             json.dumps(sample_denial(ref="MT/DEN/2026/0098", colour="red")), json.dumps(good[3])]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cordon("denials", "import", path, data_dir=node_dir)
    assert result.exit_code == 2
    assert "4 created, 0 amended, 0 unchanged, 4 rejected" in result.stdout
    assert "line 2:" in result.stderr and "destination_country" in result.stderr
    assert "line 5: not valid JSON" in result.stderr
    assert "line 6: each line must be a JSON object" in result.stderr
    assert "line 8:" in result.stderr and "colour" in result.stderr
    assert "line 4" not in result.stderr  # blank lines are skipped, not rejected
    assert sorted(docs(node_dir)) == [f"MT/DEN/2026/{i:04d}" for i in range(1, 5)]
    assert rows(node_dir, "SELECT count(*) FROM changes") == [(4,)]


def test_bad_csv_rows(node_dir, tmp_path):
    path = tmp_path / "bad.csv"
    with open(EXAMPLES / "denials.csv", encoding="utf-8") as handle:
        header, first, second = list(csv.reader(handle))
    broken_entries = list(second)
    broken_entries[header.index("control_entries")] = "NSG-2B201"
    broken_entries[header.index("ref")] = "MT/DEN/2026/0103"
    extra_cell = list(first) + ["surplus"]
    no_party = [("" if name.endswith(("_name", "_aliases", "_country", "_address", "_identifiers")) or name == "parties"
                 else cell) for name, cell in zip(header, first)]
    no_party[header.index("ref")] = "MT/DEN/2026/0104"
    no_party[header.index("destination_country")] = "XX"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([header, first, broken_entries, extra_cell, second, no_party])
    result = cordon("denials", "import", path, data_dir=node_dir)
    assert result.exit_code == 2
    assert "2 created, 0 amended, 0 unchanged, 3 rejected" in result.stdout
    assert "line 3: 'NSG-2B201' must look like list:entry" in result.stderr
    assert "line 4: more cells than header columns" in result.stderr
    # No party and a bad country: both named (a row is checked whole).
    assert re.search(r"line 6: .*parties: give at least one party, and at most 30", result.stderr), result.stderr
    assert re.search(r"line 6: .*destination_country: 'XX' is not", result.stderr), result.stderr


def test_a_csv_with_a_wrong_header_is_refused_once_and_nothing_is_imported(node_dir, tmp_path):
    path = tmp_path / "parties.csv"
    path.write_text("name,aliases,country\nKamran Aerotech,,PK\nOrion Dual Systems,,AE\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["denials", "import", str(path), "--data-dir", str(node_dir)])
    assert result.exit_code == 1
    assert result.output.count("the header names column(s) a denial does not have: aliases, country, name") == 1
    db = connect(node_dir / DB_NAME)
    try:
        assert db.execute("SELECT count(*) FROM denials").fetchone()[0] == 0
    finally:
        db.conn.close()


def test_reimport_creates_no_duplicates_and_a_changed_row_is_a_new_version(node_dir, tmp_path):
    items = [sample_denial(ref=f"MT/DEN/2026/{i:04d}") for i in range(1, 4)]
    path = write_jsonl(tmp_path / "d.jsonl", items)
    assert "3 created" in cordon("denials", "import", path, data_dir=node_dir).stdout
    again = cordon("denials", "import", path, data_dir=node_dir)
    assert again.exit_code == 0 and "0 created, 0 amended, 3 unchanged, 0 rejected" in again.stdout
    items[1]["reason_text"] = "Reassessed after new information."
    write_jsonl(path, items)
    changed = cordon("denials", "import", path, data_dir=node_dir)
    assert "0 created, 1 amended, 2 unchanged, 0 rejected" in changed.stdout
    versions = rows(node_dir, f"SELECT d.ref, v.version FROM {EVERY_DENIAL_VERSION} v JOIN denials d ON d.uid = v.uid "
                              "ORDER BY d.ref, v.version")
    assert versions == [("MT/DEN/2026/0001", 1), ("MT/DEN/2026/0002", 1), ("MT/DEN/2026/0002", 2),
                        ("MT/DEN/2026/0003", 1)]
    # only the replaced version is kept apart from the current rows
    assert rows(node_dir, "SELECT d.ref, v.version FROM denial_versions v JOIN denials d ON d.uid = v.uid") == [
        ("MT/DEN/2026/0002", 1)]
    assert docs(node_dir)["MT/DEN/2026/0002"]["reason_text"] == "Reassessed after new information."
    assert rows(node_dir, "SELECT count(*) FROM denials") == [(3,)]
    audit = rows(node_dir, "SELECT action, count(*) FROM audit_log WHERE action LIKE 'denial.%' GROUP BY action")
    assert dict(audit) == {"denial.create": 3, "denial.amend": 1}


def test_licence_reimport_and_csv_rows_of_one_licence(node_dir, tmp_path):
    path = EXAMPLES / "licences.csv"
    assert "2 created" in cordon("licences", "import", path, data_dir=node_dir).stdout
    assert "0 created, 0 amended, 2 unchanged" in cordon("licences", "import", path, data_dir=node_dir).stdout
    with open(path, encoding="utf-8") as handle:
        header, *body = list(csv.reader(handle))
    line_no = header.index("line_no")
    quantity = header.index("quantity")
    third_line = list(body[1])
    third_line[line_no], third_line[quantity] = "3", "5"
    changed = tmp_path / "changed.csv"
    with open(changed, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, body[0], body[1], third_line, body[2]])
    result = cordon("licences", "import", changed, data_dir=node_dir)
    assert "0 created, 1 amended, 1 unchanged, 0 rejected" in result.stdout, result.output
    lines = docs(node_dir, "licences")["MT/LIC/2026/0301"]["lines"]
    assert [line["line_no"] for line in lines] == [1, 2, 3]


def test_a_licence_with_one_bad_row_is_not_imported_in_part(node_dir, tmp_path):
    with open(EXAMPLES / "licences.csv", encoding="utf-8") as handle:
        header, *body = list(csv.reader(handle))
    bad_line = list(body[1])
    bad_line[header.index("line_no")] = "two"
    scattered = list(body[1])
    scattered[header.index("line_no")] = "3"
    path = tmp_path / "bad.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, body[0], bad_line, body[2], scattered])
    result = cordon("licences", "import", path, data_dir=node_dir)
    assert result.exit_code == 2
    assert "1 created, 0 amended, 0 unchanged, 2 rejected" in result.stdout
    assert "line 2: licence MT/LIC/2026/0301 not imported: its row on line 3 was rejected" in result.stderr
    assert "line 5: the rows of licence MT/LIC/2026/0301 must be next to each other" in result.stderr
    assert sorted(docs(node_dir, "licences")) == ["MT/LIC/2026/0302"]


def test_licence_jsonl_rows_with_errors(node_dir, tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [
        sample_licence(number="MT/LIC/2026/0001"),
        sample_licence(number="MT/LIC/2026/0002", valid_to="2025-01-01"),
        sample_licence(number="MT/LIC/2026/0003", lines=[{"line_no": 1, "cn_code": "84", "quantity": "1",
                                                          "unit": "pcs"}]),
    ])
    result = cordon("licences", "import", path, data_dir=node_dir)
    assert "1 created, 0 amended, 0 unchanged, 2 rejected" in result.stdout
    assert "line 2:" in result.stderr and "valid_to" in result.stderr
    assert "line 3:" in result.stderr and "lines.0.cn_code" in result.stderr


def test_export_jsonl_round_trips(node_dir, other_node, tmp_path, app, client, bearer):
    pub = bearer("publish")
    uids = []
    for i in range(1, 4):
        created = client.post("/api/v1/denials", json=sample_denial(ref=f"MT/DEN/2026/{i:04d}"), headers=pub)
        uids.append(created.get_json()["uid"])
    client.patch(f"/api/v1/denials/{uids[0]}", json={"reason_text": "Second version."}, headers=pub)
    client.post(f"/api/v1/denials/{uids[2]}/revoke", json={"reason": "Withdrawn"}, headers=pub)
    app.extensions["cordon"].close()

    out = tmp_path / "export.jsonl"
    exported = cordon("denials", "export", "--output", out, data_dir=node_dir)
    assert exported.exit_code == 0 and "wrote 3 denials" in exported.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and "Технопром" in out.read_text(encoding="utf-8")
    by_ref = {json.loads(line)["ref"]: json.loads(line) for line in lines}
    assert by_ref == docs(node_dir)

    again = cordon("denials", "import", out, data_dir=node_dir)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 amended, 3 unchanged, 0 rejected" in again.stdout

    fresh = cordon("denials", "import", out, data_dir=other_node)
    assert "2 created, 0 amended, 0 unchanged, 1 rejected" in fresh.stdout
    assert "MT/DEN/2026/0003 is revoked in the file" in fresh.stderr
    copied = docs(other_node)
    original = docs(node_dir)
    for ref in ("MT/DEN/2026/0001", "MT/DEN/2026/0002"):
        keep = {k: v for k, v in original[ref].items()
                if k not in ("uid", "version", "created_at", "updated_at")}
        assert {k: v for k, v in copied[ref].items() if k in keep} == keep
    assert copied["MT/DEN/2026/0001"]["reason_text"] == "Second version."

    stdout = cordon("denials", "export", data_dir=node_dir)
    assert stdout.stdout.splitlines() == lines
    actions = [a for (a,) in rows(node_dir, "SELECT action FROM audit_log WHERE action = 'denial.export'")]
    assert len(actions) == 2


def test_rows_of_another_origin_are_refused(node_dir, tmp_path):
    exported = {**sample_denial(), "uid": "5d1f3f7e-5b8a-4c1e-9d33-2f8f0f0f0f0f", "origin": "DE", "version": 4,
                "status": "active", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"}
    result = cordon("denials", "import", write_jsonl(tmp_path / "de.jsonl", [exported]), data_dir=node_dir)
    assert "1 rejected" in result.stdout and "belongs to DE" in result.stderr
    assert docs(node_dir) == {}


def test_unknown_file_type_is_a_clear_error(node_dir, tmp_path):
    path = tmp_path / "denials.xlsx"
    path.write_bytes(b"PK")
    result = cordon("denials", "import", path, data_dir=node_dir)
    assert result.exit_code == 1 and "unknown format" in result.stderr


# -- chunks: many rows, one transaction and one statement per table for each chunk ------------------

def import_in_chunks(data_dir, path):
    """The chunked import (``importer.run_bulk_import``) of a real file into a real node."""
    from node import importer
    from node.denials import DenialRegistry
    from node.runtime import NodeRuntime

    runtime = NodeRuntime(data_dir)
    try:
        registry = DenialRegistry(runtime.db(), runtime.node_id)
        seen = []
        report = importer.run_bulk_import(runtime.db(), importer.read_rows(path, "denial"),
                                          lambda chunk: registry.import_many(chunk, actor="test"),
                                          progress=seen.append)
        return report, seen
    finally:
        runtime.close()


def many_denials(count, start=1):
    return [sample_denial(ref=f"MT/DEN/2026/{i:05d}", reason_text=f"Assessment {i}")
            for i in range(start, start + count)]


def test_chunks_keep_every_good_row_and_report_every_bad_row_across_chunk_boundaries(node_dir, tmp_path):
    from node.importer import BATCH

    items = many_denials(2 * BATCH + 200)
    bad_lines = {1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 2 * BATCH + 200}
    lines = [json.dumps(sample_denial(ref=f"MT/DEN/2026/X{n:05d}", destination_country="XX")) if n in bad_lines
             else json.dumps(items[n - 1]) for n in range(1, len(items) + 1)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report, progress = import_in_chunks(node_dir, path)
    assert (report.created, report.amended, report.unchanged) == (len(items) - len(bad_lines), 0, 0)
    assert [(r.line, "destination_country" in r.reason) for r in report.rejected] == [
        (n, True) for n in sorted(bad_lines)]
    assert sum(progress) == len(items) and len(progress) == 3
    good = len(items) - len(bad_lines)
    assert rows(node_dir, "SELECT count(*) FROM denials") == [(good,)]
    assert rows(node_dir, "SELECT count(*) FROM denial_versions") == [(0,)]  # a new record is stored once
    assert rows(node_dir, "SELECT count(*) FROM changes WHERE record_type = 'denial'") == [(good,)]
    assert rows(node_dir, "SELECT count(*) FROM audit_log WHERE action = 'denial.create'") == [(good,)]
    assert rows(node_dir, "SELECT count(DISTINCT uid) FROM party_names") == [(good,)]
    # the change log names every record at its version, in file order
    logged = rows(node_dir, "SELECT d.ref FROM changes c JOIN denials d ON d.uid = c.uid ORDER BY c.seq")
    assert [r[0] for r in logged] == [items[n - 1]["ref"] for n in range(1, len(items) + 1) if n not in bad_lines]


def test_reimporting_a_large_file_changes_nothing_and_the_audit_chain_holds(node_dir, tmp_path):
    from node.importer import BATCH

    items = many_denials(BATCH * 2 + 50)
    path = write_jsonl(tmp_path / "large.jsonl", items)
    first, _ = import_in_chunks(node_dir, path)
    assert first.created == len(items) and not first.rejected
    counts = rows(node_dir, "SELECT (SELECT count(*) FROM denial_versions), (SELECT count(*) FROM changes), "
                            "(SELECT count(*) FROM audit_log), (SELECT count(*) FROM party_names)")
    again, _ = import_in_chunks(node_dir, path)
    assert (again.created, again.amended, again.unchanged, again.rejected) == (0, 0, len(items), [])
    assert rows(node_dir, "SELECT (SELECT count(*) FROM denial_versions), (SELECT count(*) FROM changes), "
                          "(SELECT count(*) FROM audit_log), (SELECT count(*) FROM party_names)") == counts
    via_command = cordon("denials", "import", path, data_dir=node_dir)
    assert f"0 created, 0 amended, {len(items)} unchanged, 0 rejected" in via_command.stdout
    verified = cordon("audit", "verify", data_dir=node_dir)
    assert verified.exit_code == 0 and f"audit log intact: {counts[0][2]} entries" in verified.stdout


def test_a_reference_repeated_within_a_chunk_makes_a_new_version(node_dir, tmp_path):
    first = sample_denial(ref="MT/DEN/2026/0500")
    changed = sample_denial(ref="MT/DEN/2026/0500", reason_text="Reassessed.")
    path = write_jsonl(tmp_path / "repeat.jsonl", [first, sample_denial(ref="MT/DEN/2026/0501"), changed, changed])
    report, _ = import_in_chunks(node_dir, path)
    assert (report.created, report.amended, report.unchanged) == (2, 1, 1)
    stored = docs(node_dir)["MT/DEN/2026/0500"]
    assert stored["version"] == 2 and stored["reason_text"] == "Reassessed."
    assert rows(node_dir, f"SELECT version FROM {EVERY_DENIAL_VERSION} WHERE uid = ? ORDER BY version",
                [stored["uid"]]) == [(1,), (2,)]
    names = sum(len(p["names"]) for p in stored["parties"])
    assert rows(node_dir, "SELECT count(*) FROM party_names WHERE uid = ?", [stored["uid"]]) == [(names,)]
    assert cordon("audit", "verify", data_dir=node_dir).exit_code == 0


def test_a_row_the_database_refuses_loses_none_of_its_chunk(node_dir, tmp_path):
    db = connect(node_dir / DB_NAME)
    db.execute("CREATE TRIGGER refuse_one BEFORE INSERT ON denials WHEN NEW.ref = 'MT/DEN/2026/00007' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a local rule'); END")
    db.conn.close()
    items = many_denials(12)
    report, _ = import_in_chunks(node_dir, write_jsonl(tmp_path / "d.jsonl", items))
    assert report.created == 11
    assert [(r.line, r.reason) for r in report.rejected] == [
        (7, "the database refused the row (refused by a local rule)")]
    assert "MT/DEN/2026/00007" not in docs(node_dir)
    assert rows(node_dir, f"SELECT count(*) FROM {EVERY_DENIAL_VERSION}") == [(11,)]
    assert rows(node_dir, "SELECT count(*) FROM changes") == [(11,)]
    assert rows(node_dir, "SELECT count(*) FROM audit_log WHERE action = 'denial.create'") == [(11,)]
    assert cordon("audit", "verify", data_dir=node_dir).exit_code == 0


def test_the_command_reports_a_row_the_database_refuses_and_keeps_the_others(node_dir, tmp_path):
    db = connect(node_dir / DB_NAME)
    db.execute("CREATE TRIGGER refuse_one BEFORE INSERT ON denials WHEN NEW.ref = 'MT/DEN/2026/00003' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a local rule'); END")
    db.conn.close()
    result = cordon("denials", "import", write_jsonl(tmp_path / "d.jsonl", many_denials(5)), data_dir=node_dir)
    assert result.exit_code == 2
    assert "4 created, 0 amended, 0 unchanged, 1 rejected" in result.stdout
    assert "line 3: the database refused the row (refused by a local rule)" in result.stderr
    assert sorted(docs(node_dir)) == [f"MT/DEN/2026/{i:05d}" for i in (1, 2, 4, 5)]
    assert cordon("audit", "verify", data_dir=node_dir).exit_code == 0
