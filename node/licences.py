"""Export licences: record, amend, suspend, reinstate, revoke, read, list.

A licence's lines carry the licensed quantity and value; the remaining
balance of each line lives in ``licence_lines`` and is what customs
write-offs draw down. Amending a line can never take its quantity below
what has already been written off.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlite_utils

from .audit import AuditLog
from .database import write_transaction
from .errors import Conflict, NodeError, NotFound, ReadOnlyRecord, ValidationFailed
from .record_table import RecordTable, content_hash, dumps, new_uid, page_problems
from .schemas import LICENCE_STATUSES, LicenceInput, load_body
from .timestamps import to_iso, utc_now

INPUT = LicenceInput()
INPUT_FIELDS = tuple(INPUT.fields)
STATUS_ACTIONS = {"suspended": "licence.suspend", "valid": "licence.reinstate", "revoked": "licence.revoke"}


class LicenceRegistry:
    def __init__(self, db: sqlite_utils.Database, node_id: str):
        self.db = db
        self.node_id = node_id
        self.table = RecordTable(db, "licences", "licence", "number")
        self.audit = AuditLog(db)

    def validate(self, data) -> dict:
        return load_body(INPUT, data, "licence")[1]

    # -- writes -----------------------------------------------------------
    def create(self, data: dict, *, actor: str, now: dt.datetime | None = None) -> dict:
        now = now or utc_now()
        content = self.validate(data)
        with write_transaction(self.db):
            if self.table.find_by_key(self.node_id, content["number"]):
                raise Conflict(f"licence {content['number']} already exists",
                               fields={"number": "already used by another licence of this node"})
            doc = self._insert(content, now, actor)
        return self.with_balances(doc)

    def import_one(self, data: dict, *, actor: str, now: dt.datetime | None = None) -> tuple[str, str, int]:
        """Create or update by licence number: (outcome, uid, version); call inside a write transaction.

        Raises the row's :class:`NodeError` when it is rejected."""
        result = self.import_many([data], actor=actor, now=now)[0]
        if isinstance(result, NodeError):
            raise result
        return result

    def import_many(self, rows: list, *, actor: str, now: dt.datetime | None = None) -> list:
        """For each row, ``(outcome, uid, version)`` or the :class:`NodeError` rejecting it (nothing written).

        The licence number is the key; the same content changes nothing. A number repeated within
        ``rows`` sees the earlier row's result. Call inside a write transaction."""
        now = now or utc_now()
        checked = []
        for data in rows:
            try:
                checked.append(self.validate(data))
            except NodeError as exc:
                checked.append(exc)
        current = self.table.find_many_by_key(
            self.node_id, [content["number"] for content in checked if not isinstance(content, NodeError)])
        results = []
        for content in checked:
            if isinstance(content, NodeError):
                results.append(content)
                continue
            existing = current.get(content["number"])
            try:
                if existing is None:
                    outcome, doc = "created", self._insert(content, now, actor, via="import")
                elif content_hash(content) == content_hash({k: v for k, v in existing.items() if k in INPUT_FIELDS}):
                    outcome, doc = "unchanged", existing
                else:
                    outcome, doc = "amended", self._amend(existing, content, now, actor, via="import")
            except NodeError as exc:
                results.append(exc)
                continue
            current[doc["number"]] = doc
            results.append((outcome, doc["uid"], doc["version"]))
        return results

    def amend(self, number: str, changes: dict, *, actor: str, now: dt.datetime | None = None) -> dict:
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("give the fields to change as a JSON object", fields={"body": "expected a non-empty object"})
        now = now or utc_now()
        with write_transaction(self.db):
            current = self._own(number, "amend")
            merged = {k: v for k, v in current.items() if k in INPUT_FIELDS}
            merged.update(changes)
            content = self.validate(merged)
            if content["number"] != current["number"]:
                raise ValidationFailed("the licence number cannot change", fields={"number": "cannot change"})
            doc = self._amend(current, content, now, actor, fields=sorted(changes))
        return self.with_balances(doc)

    def set_status(self, number: str, status: str, reason: str, *, actor: str, now: dt.datetime | None = None) -> dict:
        """suspend (valid -> suspended), reinstate (suspended -> valid), revoke (any but revoked)."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationFailed("give a reason", fields={"reason": "required"})
        allowed = {"suspended": ("valid",), "valid": ("suspended",),
                   "revoked": ("valid", "suspended", "exhausted", "expired")}
        now = now or utc_now()
        with write_transaction(self.db):
            current = self._own(number, "change")
            if current["status"] not in allowed[status]:
                raise Conflict(f"licence {number} is {current['status']}; it cannot become {status}",
                               fields={"status": current["status"]})
            doc = self._bump(current, now, status=status, status_reason=reason.strip())
            self.audit.append(actor=actor, action=STATUS_ACTIONS[status],
                              target=doc["uid"], detail={"number": number, "version": doc["version"]}, at=now)
        return self.with_balances(doc)

    def mark_exhausted(self, uid: str, now: dt.datetime, actor: str) -> None:
        current = self.table.require(uid)
        if current["status"] == "valid":
            doc = self._bump(current, now, status="exhausted")
            self.audit.append(actor=actor, action="licence.exhausted", target=uid,
                              detail={"number": doc["number"], "version": doc["version"]}, at=now)

    def expire_due(self, *, now: dt.datetime | None = None, actor: str = "scheduler") -> list[str]:
        """Mark this node's valid or suspended licences whose validity ended before today as expired."""
        now = now or utc_now()
        today = now.date().isoformat()
        with write_transaction(self.db):
            rows = self.db.execute(
                "SELECT doc FROM licences WHERE origin = ? AND status IN ('valid', 'suspended') AND valid_to < ?",
                [self.node_id, today]).fetchall()
            expired = []
            for (text,) in rows:
                doc = self._bump(json.loads(text), now, status="expired")
                self.audit.append(actor=actor, action="licence.expire", target=doc["uid"],
                                  detail={"number": doc["number"], "version": doc["version"]}, at=now)
                expired.append(doc["number"])
        return expired

    # -- reads ------------------------------------------------------------
    def find(self, number: str, origin: str | None = None) -> dict | None:
        doc = self.table.find_by_key(origin or self.node_id, number)
        return self.with_balances(doc) if doc else None

    def require(self, number: str) -> dict:
        doc = self.find(number)
        if doc is None:
            raise NotFound(f"no licence {number}", fields={"number": "not found"})
        return doc

    def get(self, number: str, *, actor: str) -> dict:
        doc = self.require(number)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="licence.read", target=doc["uid"], detail={"number": number})
        return doc

    def history(self, number: str, *, actor: str) -> list[dict]:
        doc = self.require(number)
        versions = self.table.history(doc["uid"])
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="licence.history", target=doc["uid"], detail={"number": number})
        return versions

    def list(self, *, actor: str, status=None, cursor=None, limit=50) -> tuple[list[dict], str | None]:
        where, params = [], []
        problems = page_problems(limit, cursor)
        if status:
            if status not in LICENCE_STATUSES:
                problems["status"] = f"must be one of {', '.join(LICENCE_STATUSES)}"
            where.append("status = ?")
            params.append(status)
        if problems:  # every bad filter named at once
            raise ValidationFailed("invalid list filter", fields=problems)
        items, next_cursor = self.table.page(where, params, cursor, limit)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="licence.list", target="", detail={"count": len(items)})
        return [self.with_balances(d) for d in items], next_cursor

    def with_balances(self, doc: dict) -> dict:
        rows = self.db.execute(
            "SELECT line_no, balance_quantity, balance_value FROM licence_lines WHERE licence_uid = ?", [doc["uid"]]
        ).fetchall()
        balances = {r[0]: (r[1], r[2]) for r in rows}
        lines = []
        for line in doc.get("lines", []):
            quantity, value = balances.get(line["line_no"], (line["quantity"], line.get("value")))
            extra = {"balance_quantity": quantity}
            if value is not None:
                extra["balance_value"] = value
            lines.append({**line, **extra})
        return {**doc, "lines": lines}

    # -- internals --------------------------------------------------------
    def _own(self, number: str, verb: str) -> dict:
        current = self.table.find_by_key(self.node_id, number)
        if current is None:
            row = self.db.execute("SELECT origin FROM licences WHERE number = ?", [number]).fetchone()
            if row:
                raise ReadOnlyRecord(f"licence {number} belongs to {row[0]}; only its origin can {verb} it")
            raise NotFound(f"no licence {number}", fields={"number": "not found"})
        return current

    def _insert(self, content: dict, now: dt.datetime, actor: str, via: str | None = None) -> dict:
        stamp = to_iso(now)
        doc = {"uid": new_uid(), "origin": self.node_id, "version": 1, "status": "valid",
               **content, "created_at": stamp, "updated_at": stamp}
        self._write(doc, now)
        for line in doc["lines"]:
            self.db.execute(
                "INSERT INTO licence_lines (licence_uid, line_no, control_entry, cn_code, unit, currency, quantity, "
                "value, balance_quantity, balance_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [doc["uid"], line["line_no"], line.get("control_entry"), line["cn_code"], line["unit"],
                 line.get("currency"), line["quantity"], line.get("value"), line["quantity"], line.get("value")],
            )
        detail = {"number": doc["number"], "version": 1}
        if via:
            detail["via"] = via
        self.audit.append(actor=actor, action="licence.create", target=doc["uid"], detail=detail, at=now)
        return doc

    def _amend(self, current: dict, content: dict, now: dt.datetime, actor: str, *, fields=None, via=None) -> dict:
        if current["status"] in ("revoked",):
            raise Conflict(f"licence {current['number']} is revoked and can no longer be amended",
                           fields={"status": "revoked"})
        existing = {r[0]: r for r in self.db.execute(
            "SELECT line_no, quantity, value, balance_quantity, balance_value FROM licence_lines WHERE licence_uid = ?",
            [current["uid"]]).fetchall()}
        new_lines = {line["line_no"]: line for line in content["lines"]}
        problems = {}
        for line_no, row in existing.items():
            used_q = Decimal(row[1]) - Decimal(row[3])
            if line_no not in new_lines:
                if used_q > 0:
                    problems[f"lines.{line_no}"] = "has write-offs and cannot be removed"
                continue
            if Decimal(new_lines[line_no]["quantity"]) < used_q:
                problems[f"lines.{line_no}.quantity"] = f"below the {used_q} already written off"
        if problems:
            raise Conflict("the amendment conflicts with recorded write-offs", fields=problems)
        self.db.execute("DELETE FROM licence_lines WHERE licence_uid = ?", [current["uid"]])
        for line_no, line in new_lines.items():
            row = existing.get(line_no)
            used_q = Decimal(row[1]) - Decimal(row[3]) if row else Decimal(0)
            used_v = (Decimal(row[2]) - Decimal(row[4])) if row and row[2] is not None and row[4] is not None else Decimal(0)
            value = line.get("value")
            self.db.execute(
                "INSERT INTO licence_lines (licence_uid, line_no, control_entry, cn_code, unit, currency, quantity, "
                "value, balance_quantity, balance_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [current["uid"], line_no, line.get("control_entry"), line["cn_code"], line["unit"], line.get("currency"),
                 line["quantity"], value, str(Decimal(line["quantity"]) - used_q),
                 str(Decimal(value) - used_v) if value is not None else None],
            )
        status = current["status"]
        if status == "exhausted":
            status = "valid"
        doc = {**content, **{k: current[k] for k in ("uid", "origin", "created_at")},
               "version": current["version"] + 1, "status": status, "updated_at": to_iso(now)}
        self._write(doc, now)
        detail = {"number": doc["number"], "version": doc["version"]}
        if fields:
            detail["fields"] = fields
        if via:
            detail["via"] = via
        self.audit.append(actor=actor, action="licence.amend", target=doc["uid"], detail=detail, at=now)
        return doc

    def _bump(self, current: dict, now: dt.datetime, **changes) -> dict:
        doc = {**current, **changes, "version": current["version"] + 1, "updated_at": to_iso(now)}
        self._write(doc, now)
        return doc

    def _write(self, doc: dict, now: dt.datetime) -> None:
        text = dumps(doc)
        if doc["version"] > 1:
            self.table.supersede([(doc["uid"], doc["version"])])
        self.db.execute(
            "INSERT INTO licences (uid, origin, number, version, status, type, valid_from, valid_to, created_at, "
            "updated_at, content_hash, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (uid) DO UPDATE SET version = excluded.version, status = excluded.status, "
            "type = excluded.type, valid_from = excluded.valid_from, valid_to = excluded.valid_to, "
            "updated_at = excluded.updated_at, content_hash = excluded.content_hash, doc = excluded.doc",
            [doc["uid"], doc["origin"], doc["number"], doc["version"], doc["status"], doc["type"], doc["valid_from"],
             doc["valid_to"], doc["created_at"], doc["updated_at"], content_hash(doc), text],
        )
        if doc["origin"] == self.node_id:
            self.table.log_change(doc, now)
