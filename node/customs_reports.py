"""What customs checks tell the licensing authority: one check, the write-off history of a
licence per line, and the report of mismatches per customs office over a period.

Every read is audited (actor, licence, no content).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlite_utils

from .audit import AuditLog
from .check_store import CheckStore, plain
from .database import write_transaction
from .errors import NotFound, ValidationFailed
from .licences import LicenceRegistry
from .record_table import decode_cursor, encode_cursor, page_problems


class CheckReports:
    def __init__(self, db: sqlite_utils.Database, node_id: str):
        self.db = db
        self.licences = LicenceRegistry(db, node_id)
        self.store = CheckStore(db, node_id)
        self.audit = AuditLog(db)

    def get_check(self, number: str, declaration_ref: str, *, actor: str) -> dict:
        licence = self.store.licence(number)
        ref = (declaration_ref or "").strip().upper()
        row = self.store.check_row(ref)
        if row is None or row["licence_uid"] != licence["uid"]:
            raise NotFound(f"no check of declaration {ref} against licence {number}",
                           fields={"declaration_ref": "no such check on this licence"})
        record = self.store.record(row, self.store.reversals([row["id"]]).get(row["id"]))
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="customs.check.read", target=licence["uid"],
                              detail={"number": number, "declaration_ref": ref})
        return record

    def history(self, number: str, *, actor: str, line_no: int | None = None, cursor: str | None = None,
                limit: int = 50) -> dict:
        problems = page_problems(limit, cursor)
        if line_no is not None and (type(line_no) is not int or line_no < 1):
            problems["line_no"] = "must be a line number (1 or more)"
        if problems:  # every bad filter named at once
            raise ValidationFailed("invalid list filter", fields=problems)
        licence = self.licences.require(number)
        where, args = ["licence_uid = ?", "kind = 'check'"], [licence["uid"]]
        if line_no is not None:
            where.append("line_no = ?")
            args.append(line_no)
        after = decode_cursor(cursor)
        if after is not None:
            where.append("id < ?")
            args.append(after)
        rows = self.store.rows(f"SELECT * FROM customs_checks WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                          [*args, limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        reversals = self.store.reversals([r["id"] for r in rows])
        counts: dict[int, dict[str, int]] = {}
        for line, result, reversed_, count in self.db.execute(
                "SELECT c.line_no, c.result, r.id IS NOT NULL, count(*) FROM customs_checks c "
                "LEFT JOIN customs_checks r ON r.reversal_of = c.id AND r.kind = 'reversal' "
                "WHERE c.licence_uid = ? AND c.kind = 'check' GROUP BY 1, 2, 3", [licence["uid"]]):
            slot = counts.setdefault(line, {"accepted": 0, "reversed": 0, "refused": 0})
            key = "refused" if result != "accepted" else ("reversed" if reversed_ else "accepted")
            slot[key] += count
        lines = []
        for line in licence["lines"]:
            if line_no is not None and line["line_no"] != line_no:
                continue
            summary = {
                "line_no": line["line_no"], "cn_code": line["cn_code"], "unit": line["unit"],
                "quantity": line["quantity"], "balance_quantity": line["balance_quantity"],
                "written_off_quantity": plain(Decimal(line["quantity"]) - Decimal(line["balance_quantity"])),
                "value": line.get("value"), "balance_value": line.get("balance_value"),
                **counts.get(line["line_no"], {"accepted": 0, "reversed": 0, "refused": 0}),
            }
            lines.append(summary)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="customs.history", target=licence["uid"],
                              detail={"number": number, "count": len(rows)})
        return {"licence_number": number, "licence_status": licence["status"], "lines": lines,
                "items": [self.store.record(r, reversals.get(r["id"])) for r in rows],
                "next_cursor": encode_cursor(rows[-1]["id"]) if more and rows else None}

    def mismatches(self, *, actor: str, start: dt.date, end: dt.date, office: str | None = None,
                   items_per_office: int = 200) -> dict:
        """Per customs office: checks declared in [start, end], how many had a mismatch, on which fields."""
        if end < start:
            raise ValidationFailed("the period is empty", fields={"to": "must not be before from"})
        where = ["kind = 'check'", "declared_at >= ?", "declared_at < ?"]
        args: list = [start.isoformat(), (end + dt.timedelta(days=1)).isoformat()]
        if office:
            where.append("customs_office = ?")
            args.append(office.strip().upper())
        offices: dict[str, dict] = {}
        for row in self.store.rows("SELECT customs_office, declaration_ref, licence_number, line_no, problem_fields, "
                              f"declared_at FROM customs_checks WHERE {' AND '.join(where)} ORDER BY declared_at DESC",
                              args):
            entry = offices.setdefault(row["customs_office"], {
                "customs_office": row["customs_office"], "checks": 0, "mismatches": 0, "by_field": {}, "items": []})
            entry["checks"] += 1
            problem_fields = json.loads(row["problem_fields"])
            if not problem_fields:
                continue
            entry["mismatches"] += 1
            for name in problem_fields:
                entry["by_field"][name] = entry["by_field"].get(name, 0) + 1
            if len(entry["items"]) < items_per_office:
                entry["items"].append({"declaration_ref": row["declaration_ref"],
                                       "licence_number": row["licence_number"], "line_no": row["line_no"],
                                       "fields": problem_fields, "declared_at": row["declared_at"]})
        report = []
        for entry in sorted(offices.values(), key=lambda e: (-e["mismatches"], e["customs_office"])):
            entry["rate"] = f"{Decimal(entry['mismatches']) / Decimal(entry['checks']):.4f}"
            entry["by_field"] = dict(sorted(entry["by_field"].items()))
            report.append(entry)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="customs.mismatches", target="",
                              detail={"from": start.isoformat(), "to": end.isoformat(), "offices": len(report)})
        return {"from": start.isoformat(), "to": end.isoformat(), "offices": report}

    # -- storage --------------------------------------------------------------
