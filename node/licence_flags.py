"""Undercut flags: a licence recorded for a transaction essentially identical to an active denial.

When this node records (or amends) one of its licences, its parties are
screened against every denial the node can see, own and received; a denial
that is active, was denied within the review period (3 years by default),
has the same destination and an overlapping control entry (see
:mod:`node.similarity`) flags the licence. A flag names the denial and the
similarity, and for another state's denial carries the ready-made
``POST /api/v1/consultations`` request that opens the consultation.

Checks run right after the API records a licence (against the names
already indexed, so the request never waits for normalisation) and from the
``flag-licences`` job, which follows this node's change log and, when a
licence changed, normalises any party names still pending and checks it
again, so licences recorded by import, and denials whose names were still
being indexed, are covered too. The job waits while a pull or an import is
storing records (:class:`node.database.BulkWork`). A check is idempotent: one flag per
(licence, denial), refreshed when checked again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import sqlite_utils

from . import party_names
from .audit import AuditLog
from .database import write_transaction
from .licences import LicenceRegistry
from .screening_service import PartyQuery, ScreeningService
from .similarity import assess, comparable_licence, licence_transaction, party_queries
from .timestamps import add_years, to_iso, utc_now

log = logging.getLogger("cordon.licence_flags")

CURSOR_KEY = "licence_flags_cursor"
CHECKED_STATUSES = ("valid", "suspended")
MAX_DESCRIPTION = 2000


class LicenceFlags:
    def __init__(self, db: sqlite_utils.Database, node_id: str, screening: ScreeningService, *,
                 review_years: int = 3):
        self.db = db
        self.node_id = node_id
        self.screening = screening
        self.review_years = review_years

    # -- checks ---------------------------------------------------------------------
    def check(self, licence: dict, *, now: dt.datetime | None = None) -> list[dict]:
        """Flag ``licence`` against the denials this node can see; returns its flags.

        Only names already normalised are searched (the node's indexer does that moments after
        a record is stored); :meth:`check_pending`, when a licence changed, normalises what is left
        first."""
        now = now or utc_now()
        if licence.get("origin") != self.node_id or licence.get("status") not in CHECKED_STATUSES:
            return self.flags_for(licence["number"])
        queries = [PartyQuery(list(q.names), q.country, list(q.identifiers)) for q in party_queries(licence.get("parties"))]
        if not queries:
            return self.flags_for(licence["number"])
        hits_by_denial: dict[str, list[dict]] = {}
        for hits in self.screening.screen(self.db, queries, limit=50):
            for hit in hits:
                hits_by_denial.setdefault(hit["uid"], []).append(hit)
        horizon = add_years(now.date(), -self.review_years).isoformat()
        comparable = comparable_licence(licence)
        found = []
        for uid, hits in hits_by_denial.items():
            row = self.db.execute("SELECT doc FROM denials WHERE uid = ? AND status = 'active'", [uid]).fetchone()
            if row is None:
                continue
            denial = json.loads(row[0])
            if (denial.get("denied_on") or "") < horizon:
                continue
            result = assess(comparable, denial, hits)
            if result["essentially_identical"]:
                found.append((denial, result))
        with write_transaction(self.db):
            for denial, result in found:
                detail = {"denial_ref": denial.get("ref"), "matched_fields": result["matched_fields"],
                          "parties": result["parties"], "control_entries": result["control_entries"],
                          "licence_version": licence.get("version")}
                self.db.execute(
                    "INSERT INTO licence_flags (licence_uid, licence_number, denial_uid, denial_origin, score, detail, "
                    "flagged_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (licence_uid, denial_uid) DO UPDATE SET "
                    "score = excluded.score, detail = excluded.detail",
                    [licence["uid"], licence["number"], denial["uid"], denial["origin"], result["score"],
                     json.dumps(detail, ensure_ascii=False), to_iso(now)])
            if found:
                AuditLog(self.db).append(actor="licence-flags", action="licence.flagged", target=licence["uid"], detail={
                    "number": licence["number"], "denial_uids": [d["uid"] for d, _ in found]}, at=now)
        return self.flags_for(licence["number"])

    def check_pending(self, *, now: dt.datetime | None = None, batch: int = 500) -> dict:
        """Check every own licence changed since the last run (follows the change log)."""
        now = now or utc_now()
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [CURSOR_KEY]).fetchone()
        cursor = int(row[0]) if row else 0
        if self.db.execute("SELECT 1 FROM changes WHERE record_type = 'licence' AND seq > ? LIMIT 1",
                           [cursor]).fetchone() is None:
            return {"checked": 0, "flagged": 0}  # nothing to check: leave the names to the indexer
        while party_names.compute_pending(self.db, 2000):
            pass
        registry = LicenceRegistry(self.db, self.node_id)
        checked = flagged = 0
        while True:
            rows = self.db.execute("SELECT seq, uid FROM changes WHERE record_type = 'licence' AND seq > ? "
                                   "ORDER BY seq LIMIT ?", [cursor, batch]).fetchall()
            if not rows:
                break
            for uid in dict.fromkeys(uid for _, uid in rows):
                found = self.db.execute("SELECT number FROM licences WHERE uid = ?", [uid]).fetchone()
                licence = registry.find(found[0]) if found else None
                if licence is None:
                    continue
                checked += 1
                flagged += bool(self.check(licence, now=now))
            cursor = rows[-1][0]
            with write_transaction(self.db):
                self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                                "value = excluded.value", [CURSOR_KEY, str(cursor)])
        return {"checked": checked, "flagged": flagged}

    # -- reads ----------------------------------------------------------------------
    def flags_for(self, number: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT licence_uid, denial_uid, denial_origin, score, detail, flagged_at, consultation_uid "
            "FROM licence_flags WHERE licence_number = ? AND licence_uid IN (SELECT uid FROM licences WHERE "
            "origin = ?) ORDER BY score DESC, denial_uid", [number, self.node_id]).fetchall()
        if not rows:
            return []
        licence = LicenceRegistry(self.db, self.node_id).find(number)
        flags = []
        for licence_uid, denial_uid, origin, score, detail_text, flagged_at, consultation_uid in rows:
            detail = json.loads(detail_text)
            flag = {"denial_uid": denial_uid, "denial_origin": origin, "denial_ref": detail.get("denial_ref"),
                    "score": score, "matched_fields": detail.get("matched_fields", []),
                    "parties": detail.get("parties", []), "control_entries": detail.get("control_entries", []),
                    "flagged_at": flagged_at, "consultation_uid": consultation_uid, "open_consultation": None}
            if origin != self.node_id and consultation_uid is None and licence is not None:
                flag["open_consultation"] = self.consultation_request(licence, denial_uid)
            flags.append(flag)
        return flags

    def consultation_request(self, licence: dict, denial_uid: str) -> dict:
        row = self.db.execute("SELECT doc FROM denials WHERE uid = ?", [denial_uid]).fetchone()
        denial = json.loads(row[0]) if row else None
        transaction = licence_transaction(licence, denial)
        transaction["item_description"] = transaction["item_description"][:MAX_DESCRIPTION]
        return {"method": "POST", "path": "/api/v1/consultations",
                "body": {"denial_uids": [denial_uid], "licence_number": licence["number"],
                         "transaction": transaction}}


def check_recorded(runtime, licence: dict) -> list[dict] | None:
    """Flags of a licence the API just recorded; None if the check failed (the job checks it again)."""
    try:
        service = runtime.extension("screening") or ScreeningService(runtime)
        return LicenceFlags(runtime.db(), runtime.node_id, service,
                            review_years=runtime.settings.review_years).check(licence)
    except Exception:  # noqa: BLE001 - the licence is recorded; a failed check must not fail the request
        log.exception("undercut check of a licence failed")
        return None
