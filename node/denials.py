"""Denial notifications: publish, amend, revoke, expire, read, list.

Only the origin changes a record: a denial received from a peer is stored
read-only and any attempt to change it here is refused. Every change is one
transaction holding the new current row, the version it replaces (kept for
the history), the change-log entry and the audit entry.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlite_utils

from policies.node_ids import RULE, is_node_id

from . import json_text, party_names
from .audit import AuditLog, Entry
from .database import write_transaction
from .denial_rows import INPUT_FIELDS, DenialPreparer, StoredDenial, stored_form
from .errors import Conflict, NodeError, ReadOnlyRecord, ValidationFailed
from .record_table import RecordTable, content_hash, page_problems
from .schemas import DENIAL_STATUSES, REGIMES
from .timestamps import parse_iso, to_iso, utc_now

UPSERT = (
    "INSERT INTO denials (uid, origin, ref, version, status, sensitivity, destination_country, regimes, "
    "denied_on, review_due, created_at, updated_at, party_text, content_hash, doc) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (uid) DO UPDATE SET origin = excluded.origin, ref = excluded.ref, "
    "version = excluded.version, status = excluded.status, sensitivity = excluded.sensitivity, "
    "destination_country = excluded.destination_country, regimes = excluded.regimes, "
    "denied_on = excluded.denied_on, review_due = excluded.review_due, updated_at = excluded.updated_at, "
    "party_text = excluded.party_text, content_hash = excluded.content_hash, doc = excluded.doc"
)


class DenialRegistry:
    def __init__(self, db: sqlite_utils.Database, node_id: str, *, review_years: int = 3):
        self.db = db
        self.node_id = node_id
        self.review_years = review_years
        self.table = RecordTable(db, "denials", "denial", "ref")
        self.audit = AuditLog(db)
        self.preparer = DenialPreparer(node_id, review_years)

    # -- validation -------------------------------------------------------
    def validate(self, data) -> dict:
        return self.preparer.validate(data)

    # -- writes -----------------------------------------------------------
    def create(self, data: dict, *, actor: str, now: dt.datetime | None = None) -> dict:
        now = now or utc_now()
        content = self.validate(data)
        with write_transaction(self.db):
            if self.table.find_by_key(self.node_id, content["ref"]):
                raise Conflict(
                    f"a denial with reference {content['ref']} already exists",
                    fields={"ref": "already used by another denial of this node"},
                )
            doc = self.preparer.new_doc(content, now)
            self._store(doc, now)
            self.audit.append(actor=actor, action="denial.create", target=doc["uid"],
                              detail={"ref": doc["ref"], "version": 1}, at=now)
        return doc

    def amend(self, uid: str, changes: dict, *, actor: str, expected_version: int | None = None,
              now: dt.datetime | None = None) -> dict:
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("give the fields to change as a JSON object", fields={"body": "expected a non-empty object"})
        now = now or utc_now()
        with write_transaction(self.db):
            current = self.amendable(uid)
            if expected_version is not None and expected_version != current["version"]:
                raise Conflict(f"denial {uid} is at version {current['version']}, not {expected_version}",
                               fields={"version": "stale; read the record again"})
            merged = {k: v for k, v in current.items() if k in INPUT_FIELDS}
            if "denied_on" in changes and "review_due" not in changes:
                merged.pop("review_due", None)
            merged.update(changes)
            content = self.validate(merged)
            if content.get("ref") != current["ref"]:
                raise ValidationFailed("the national reference cannot change", fields={"ref": "cannot change"})
            doc = {**content, **{k: current[k] for k in ("uid", "origin", "created_at")},
                   "version": current["version"] + 1, "status": "active", "updated_at": to_iso(now)}
            self._store(doc, now)
            self.audit.append(actor=actor, action="denial.amend", target=uid,
                              detail={"ref": doc["ref"], "version": doc["version"],
                                      "fields": sorted(changes)}, at=now)
        return doc

    def amendable(self, uid: str) -> dict:
        """The current document of ``uid`` if this node may amend it now (its own, and active); else
        :class:`NotFound`, :class:`ReadOnlyRecord` or :class:`Conflict` saying why not."""
        current = self._own(uid, "amend")
        if current["status"] != "active":
            raise Conflict(f"denial {uid} is {current['status']} and can no longer be amended",
                           fields={"status": current["status"]})
        return current

    def revocable(self, uid: str) -> dict:
        """The current document of ``uid`` if this node may revoke it (its own, not revoked yet)."""
        current = self._own(uid, "revoke")
        if current["status"] == "revoked":
            raise Conflict(f"denial {uid} is already revoked", fields={"status": "revoked"})
        return current

    def revoke(self, uid: str, reason: str, *, actor: str, now: dt.datetime | None = None) -> dict:
        if reason is not None and not isinstance(reason, str):
            raise ValidationFailed("the reason must be text", fields={"reason": "must be a string"})
        if not (reason or "").strip():
            raise ValidationFailed("give a reason for the revocation", fields={"reason": "required"})
        now = now or utc_now()
        with write_transaction(self.db):
            current = self.revocable(uid)
            doc = {**current, "version": current["version"] + 1, "status": "revoked",
                   "revoked_reason": reason.strip(), "updated_at": to_iso(now)}
            self._store(doc, now)
            self.audit.append(actor=actor, action="denial.revoke", target=uid,
                              detail={"ref": doc["ref"], "version": doc["version"]}, at=now)
        return doc

    def expire_due(self, *, now: dt.datetime | None = None, actor: str = "scheduler") -> list[str]:
        """Mark this node's active denials whose review date has passed as expired."""
        now = now or utc_now()
        today = now.date().isoformat()
        with write_transaction(self.db):
            rows = self.db.execute(
                "SELECT doc FROM denials WHERE status = 'active' AND origin = ? AND review_due < ?",
                [self.node_id, today],
            ).fetchall()
            docs = []
            for (text,) in rows:
                current = json.loads(text)
                docs.append({**current, "version": current["version"] + 1, "status": "expired",
                             "updated_at": to_iso(now)})
            expired = [doc["uid"] for doc in docs]
            if docs:
                self._store_many(docs, now)
                self.audit.append(actor=actor, action="denial.expire", target="",
                                  detail={"count": len(expired), "uids": expired[:100]}, at=now)
        return expired

    def import_one(self, data: dict, *, actor: str, now: dt.datetime | None = None) -> tuple[str, str, int]:
        """Create or update by national reference. Returns ("created" | "amended" | "unchanged", uid, version).

        Call inside a write transaction. Raises the row's :class:`NodeError` when it is rejected."""
        result = self.import_many([data], actor=actor, now=now)[0]
        if isinstance(result, NodeError):
            raise result
        return result

    def import_many(self, rows: list, *, actor: str, now: dt.datetime | None = None) -> list:
        """Import several rows at once: for each, ``(outcome, uid, version)`` or the :class:`NodeError`
        rejecting it.

        The national reference is the key: a new one creates the record, the same content changes
        nothing ("unchanged"), other content makes a new version, as an amendment would. A row
        exported by ``cordon denials export`` imports too: the fields the node assigns (uid,
        version, created_at, updated_at) are ignored; ``origin``, if given, must be this node; a
        row whose ``status`` is not active only matches a record already in that state. A
        reference repeated within ``rows`` sees the earlier row's result. Every record written gets
        its change-log entry and audit entry, and an amended one keeps the version it replaces, all
        written together (one statement per table); a rejected row writes nothing. Call inside a
        write transaction."""
        now = now or utc_now()
        return self.store_prepared(self.preparer.prepare_many(rows, now), actor=actor, now=now)

    def store_prepared(self, prepared: list, *, actor: str, now: dt.datetime) -> list:
        """:meth:`import_many` for rows prepared by ``DenialPreparer.prepare_many(rows, now)`` (maybe
        in another process). Call inside a write transaction."""
        current: dict[str, dict | StoredDenial] = self.table.find_many_by_key(
            self.node_id, [row.ref for row in prepared if not isinstance(row, NodeError)])
        results, written, unseen, entries = [], [], set(), []
        for row in prepared:
            if isinstance(row, NodeError):
                results.append(row)
                continue
            existing = current.get(row.ref)
            if isinstance(existing, StoredDenial):  # written by an earlier row of these
                existing = json_text.loads(existing.text)
            if existing is None and row.new is not None:
                outcome, stored = "created", row.new
                unseen.add(stored.uid)
            else:
                try:
                    outcome, doc = self._import_outcome(row.content_doc(), row.status, existing, now)
                except NodeError as exc:
                    results.append(exc)
                    continue
                if outcome == "unchanged":
                    results.append((outcome, doc["uid"], doc["version"]))
                    continue
                stored = stored_form(doc)
            results.append((outcome, stored.uid, stored.version))
            current[row.ref] = stored
            written.append(stored)
            entries.append(Entry(actor, "denial.create" if outcome == "created" else "denial.amend", stored.uid,
                                 {"ref": row.ref, "version": stored.version, "via": "import"}, now))
        if written:
            self.write_stored(written, now, unseen=unseen)
            self.audit.append_many(entries)
        return results

    def _import_outcome(self, content: dict, status: str, current: dict | None, now: dt.datetime) -> tuple[str, dict]:
        """What importing ``content`` (with ``status`` from the file) over ``current`` gives, when that
        is not the creation of a new active record (prepared with the row)."""
        if status != "active" and (current is None or current["status"] != status):
            raise Conflict(f"denial {content['ref']} is {status} in the file; import only creates and amends "
                           "active denials (revoke through the API)", fields={"status": f"{status} in the file"})
        if "notified_at" not in content and current.get("notified_at"):
            content["notified_at"] = current["notified_at"]  # filled in when first stored
        if content_hash(content) == content_hash({k: v for k, v in current.items() if k in INPUT_FIELDS}):
            return "unchanged", current
        if current["status"] != "active":
            raise Conflict(f"denial {content['ref']} is {current['status']}; it cannot be changed by import",
                           fields={"ref": f"record is {current['status']}"})
        return "amended", {**content, **{k: current[k] for k in ("uid", "origin", "created_at")},
                           "version": current["version"] + 1, "status": "active", "updated_at": to_iso(now)}

    # -- reads ------------------------------------------------------------
    def get(self, uid: str, *, actor: str) -> dict:
        doc = self.table.require(uid)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="denial.read", target=uid, detail={"version": doc["version"]})
        return doc

    def history(self, uid: str, *, actor: str) -> list[dict]:
        versions = self.table.history(uid)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="denial.history", target=uid, detail={"versions": len(versions)})
        return versions

    def list(self, *, actor: str, status=None, regime=None, country=None, party=None, origin=None,
             updated_since=None, cursor=None, limit=50) -> tuple[list[dict], str | None]:
        where, params, problems = [], [], {}
        if status:
            if status not in DENIAL_STATUSES:
                problems["status"] = f"must be one of {', '.join(DENIAL_STATUSES)}"
            where.append("status = ?")
            params.append(status)
        if regime:
            if regime not in REGIMES:
                problems["regime"] = f"must be one of {', '.join(REGIMES)}"
            where.append("EXISTS (SELECT 1 FROM json_each(denials.regimes) WHERE value = ?)")
            params.append(regime)
        if country:
            if not (len(country) == 2 and country.isascii() and country.isalpha()):
                problems["country"] = "must be a two-letter country code (ISO 3166-1 alpha-2), e.g. IR"
            where.append("destination_country = ?")
            params.append(country.upper())
        if origin:
            if not is_node_id(origin.upper()):
                problems["origin"] = f"must be a node id: {RULE}"
            where.append("origin = ?")
            params.append(origin.upper())
        if party:
            where.append("party_text LIKE ? ESCAPE '\\'")
            folded = party.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{folded}%")
        if updated_since:
            try:
                where.append("updated_at >= ?")
                params.append(to_iso(parse_iso(updated_since)))
            except ValueError:
                problems["updated_since"] = "must be an ISO-8601 date or timestamp"
        problems.update(page_problems(limit, cursor))
        if problems:  # every bad filter named at once
            raise ValidationFailed("invalid list filter", fields=problems)
        items, next_cursor = self.table.page(where, params, cursor, limit)
        detail = {"count": len(items)}
        with write_transaction(self.db):
            if party:
                detail["party_query_digest"] = self.audit.digest(party)
            self.audit.append(actor=actor, action="denial.list", target="", detail=detail)
        return items, next_cursor

    # -- internals --------------------------------------------------------
    def _own(self, uid: str, verb: str) -> dict:
        current = self.table.require(uid)
        if current["origin"] != self.node_id:
            raise ReadOnlyRecord(
                f"denial {uid} belongs to {current['origin']}; only its origin can {verb} it",
                fields={"origin": current["origin"]},
            )
        return current

    def _store(self, doc: dict, now: dt.datetime) -> None:
        self._store_many([doc], now)

    def _store_many(self, docs: list[dict], now: dt.datetime) -> None:
        """Write docs as current rows, keep the versions they replace, rewrite party names, log own changes.

        One statement per table; a uid given twice ends at its last doc."""
        self.write_stored([stored_form(doc) for doc in docs], now)

    def write_stored(self, stored: list[StoredDenial], now: dt.datetime, *, unseen=frozenset()) -> None:
        """Store documents in their stored form (local or received) in order: the version each
        replaces is kept, party names are rewritten, changes to this node's own records are logged.
        ``unseen``: uids never stored before. Call inside a write transaction."""
        last = {item.uid: item for item in stored}
        self.table.supersede([(uid, item.version) for uid, item in last.items() if uid not in unseen])
        self.db.conn.executemany(UPSERT, [item.row for item in last.values()])
        passing = [(item.uid, item.version, item.text) for item in stored if last[item.uid] is not item]
        if passing:  # a record changed twice in one write: its version in between is kept too
            self.table.keep_versions(passing, now)
        party_names.write_rows(self.db.conn, list(last), [name for item in last.values() for name in item.names],
                               unseen=unseen)
        self.table.log_changes([(item.uid, item.version) for item in stored if item.origin == self.node_id], now)
