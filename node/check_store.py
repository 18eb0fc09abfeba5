"""Storage of customs checks and reversals (table ``customs_checks``) and of line balances.

A row of kind ``check`` holds one declaration checked against one licence
line, its stored answer (given again unchanged for a repeat) and what was
written off; a row of kind ``reversal`` points at the check it reverses.
Partial unique indexes make the declaration reference unique among checks
and allow at most one reversal per check. Callers hold the write
transaction; this module only reads and writes rows.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import sqlite_utils

from .errors import NotFound


def plain(number: Decimal | None) -> str | None:
    """A decimal as a plain string (never exponent notation); None stays None."""
    return None if number is None else format(number, "f")


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@dataclasses.dataclass
class Line:
    """One licence line with its remaining balance."""

    line_no: int
    cn_code: str
    unit: str
    currency: str | None
    quantity: Decimal
    value: Decimal | None
    balance_quantity: Decimal
    balance_value: Decimal | None

    def balance(self, quantity: Decimal | None = None, value: Decimal | None = None) -> dict:
        return {"quantity": plain(self.balance_quantity if quantity is None else quantity),
                "value": plain(self.balance_value if value is None else value)}


COLUMNS = ("declaration_ref", "kind", "reversal_of", "licence_uid", "licence_number", "line_no", "customs_office",
           "result", "cn_code", "destination", "quantity", "unit", "value", "currency", "written_quantity",
           "written_value", "problem_fields", "declared_at", "checked_at", "actor", "request_hash", "answer")
INSERT = (f"INSERT INTO customs_checks ({', '.join(COLUMNS)}) "
          f"VALUES ({', '.join('?' * len(COLUMNS))})")


def to_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CheckStore:
    def __init__(self, db: sqlite_utils.Database, node_id: str):
        self.db = db
        self.node_id = node_id

    def rows(self, sql: str, args: list) -> list[dict]:
        cursor = self.db.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- licences and lines ---------------------------------------------------
    def licence(self, number: str) -> dict:
        """What a check needs of this node's licence ``number``: uid, number, status, validity, destinations."""
        row = self.db.execute(
            "SELECT uid, number, status, valid_from, valid_to, json_extract(doc, '$.destinations') FROM licences "
            "WHERE origin = ? AND number = ?", [self.node_id, number]).fetchone()
        if row is None:
            raise NotFound(f"no licence {number} of {self.node_id}", fields={"number": "not a licence of this node"})
        return {"uid": row[0], "number": row[1], "status": row[2], "valid_from": row[3], "valid_to": row[4],
                "destinations": json.loads(row[5] or "[]")}

    def line(self, uid: str, line_no: int) -> Line | None:
        row = self.db.execute(
            "SELECT line_no, cn_code, unit, currency, quantity, value, balance_quantity, balance_value "
            "FROM licence_lines WHERE licence_uid = ? AND line_no = ?", [uid, line_no]).fetchone()
        if row is None:
            return None
        return Line(row[0], row[1], row[2], row[3], Decimal(row[4]), dec(row[5]), Decimal(row[6]), dec(row[7]))

    def set_balance(self, uid: str, line_no: int, quantity: Decimal, value: Decimal | None) -> None:
        self.db.execute("UPDATE licence_lines SET balance_quantity = ?, balance_value = ? "
                        "WHERE licence_uid = ? AND line_no = ?", [plain(quantity), plain(value), uid, line_no])

    def all_used_up(self, uid: str) -> bool:
        """Every line has nothing left, in quantity or (where it is limited) in value."""
        rows = self.db.execute("SELECT balance_quantity, balance_value FROM licence_lines WHERE licence_uid = ?",
                               [uid]).fetchall()
        return bool(rows) and all(Decimal(q) <= 0 or (v is not None and Decimal(v) <= 0) for q, v in rows)

    # -- checks and reversals -------------------------------------------------
    def check_row(self, ref: str) -> dict | None:
        rows = self.rows("SELECT * FROM customs_checks WHERE declaration_ref = ? AND kind = 'check'", [ref])
        return rows[0] if rows else None

    def reversal_of(self, check_id: int) -> dict | None:
        rows = self.rows("SELECT * FROM customs_checks WHERE reversal_of = ? AND kind = 'reversal'", [check_id])
        return rows[0] if rows else None

    def reversals(self, ids: list[int]) -> dict[int, dict]:
        """Stored reversal answers by the id of the check they reverse."""
        found: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.rows(f"SELECT reversal_of, answer FROM customs_checks WHERE kind = 'reversal' "
                                 f"AND reversal_of IN ({marks})", chunk):
                found[row["reversal_of"]] = json.loads(row["answer"])
        return found

    def insert(self, **values) -> int:
        """Store one row; ``answer`` is the answer document or its JSON text (stored as given)."""
        if not isinstance(values["answer"], str):
            values["answer"] = to_json(values["answer"])
        values["problem_fields"] = to_json(values.get("problem_fields") or [])
        return self.db.execute(INSERT, [values.get(column) for column in COLUMNS]).lastrowid

    @staticmethod
    def record(row: dict, reversal: dict | None) -> dict:
        """A check as history shows it: the stored answer, the declared particulars, any reversal."""
        record = json.loads(row["answer"])
        record.update({"quantity": row["quantity"], "unit": row["unit"], "value": row["value"],
                       "currency": row["currency"], "cn_code": row["cn_code"], "destination": row["destination"]})
        record["reversal"] = None if reversal is None else {
            "reversed_at": reversal["reversed_at"], "reason": reversal["reason"],
            "customs_office": reversal.get("customs_office"), "restored": reversal["restored"],
            "balance_after": reversal["balance_after"]}
        return record
