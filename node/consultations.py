"""No-undercut consultations: before granting a licence for a transaction essentially identical
to one another state denied, this state consults the denying state.

Both sides keep their own copy of a consultation (``direction`` is ``outbox``
at the requesting state, ``inbox`` at the consulted state). Each local action
is one transaction holding the new copy, the audit entry and, for anything the
other side must learn, a row in ``consultation_deliveries`` that
:mod:`node.consultation_delivery` sends, sealed and signed, and retries until
the peer took it. Events from the peer are applied by
:mod:`node.consultation_intake`.

Status::

    open --(consulted state replies)--> answered --(requester sends info)--> open
    open --(deadline passes: mark_overdue(now))--> overdue --(reply)--> answered
    open | answered | overdue --(requester records the outcome)--> closed
    open | answered | overdue --(requester withdraws)--> withdrawn

The consulted state may answer ``no_objection``, ``maintain_objection``,
``request_info`` or ``info``; the requesting state ``info`` or
``request_info``. Granting without the consulted state's ``no_objection`` as
its latest position sends the post-facto notice with the outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import sqlite_utils
from marshmallow import ValidationError

from .audit import AuditLog
from .consultation_schemas import ConsultationOpen, ConsultationOutcome, ConsultationReply, ConsultationWithdraw
from .consultation_terms import CONSULTED_ONLY, DIRECTIONS, STATUSES, TEXT_NEEDED
from .database import write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .licences import LicenceRegistry
from .peers import PeerRegistry
from .record_table import decode_cursor, dumps, encode_cursor, page_problems
from .schemas import flatten_errors, load_document
from .screening import NameForms, ScreeningError
from .similarity import assess, combine, targeted_party_hits
from .timestamps import parse_iso, to_iso, utc_now

SHARED_FIELDS = ("uid", "requesting_state", "consulted_state", "denial_uids", "transaction", "similarity",
                 "opened_at", "response_due")
FINISHED = ("closed", "withdrawn")


def decimal_strings(value):
    """Floats (similarity scores) as decimal strings: canonical JSON on the wire has no floats."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return {k: decimal_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimal_strings(v) for v in value]
    return value


def wire_message(message: dict) -> dict:
    return {k: message[k] for k in ("uid", "from", "position", "text", "at") if k in message}


def awaiting(doc: dict, at: dt.datetime) -> str:
    """Status of a consultation waiting for the consulted state's answer at ``at``."""
    return "overdue" if parse_iso(doc["response_due"]) < at else "open"


def latest_position(doc: dict) -> str | None:
    """The consulted state's latest stand: its last no_objection or maintain_objection."""
    for message in reversed(doc.get("messages") or []):
        if message.get("from") == doc["consulted_state"] and message.get("position") in CONSULTED_ONLY:
            return message["position"]
    return None


def load(schema, data, what: str) -> dict:
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
    try:
        _, doc = load_document(schema, data)
    except ValidationError as exc:
        raise ValidationFailed(f"the {what} is not valid", fields=flatten_errors(exc.messages)) from None
    return doc


class ConsultationRegistry:
    def __init__(self, db: sqlite_utils.Database, node_id: str, *, consultation_days: int = 30):
        self.db = db
        self.node_id = node_id
        self.consultation_days = consultation_days
        self.audit = AuditLog(db)

    # -- local actions ------------------------------------------------------------
    def open(self, data, *, actor: str, now: dt.datetime | None = None) -> dict:
        """Open a consultation about a peer's denial(s); queue the opening for delivery."""
        now = now or utc_now()
        body = load(ConsultationOpen(), data, "consultation")
        held, consulted = self._consulted_state(body)
        peer = PeerRegistry(self.db, self.node_id).get(consulted)
        if peer is None:
            raise ValidationFailed(f"{consulted} is not a peer of this node",
                                   fields={"consulted_state": "not a peer of this node"})
        transaction = body["transaction"]
        similarity = combine([assess(transaction, denial,
                                     targeted_party_hits(transaction["parties"], denial, self._stored_forms(denial)))
                              for denial in held])
        if not held:
            similarity["basis"] = "the denial is not held here; the consulted state compares it"
        days = body.get("response_days", self.consultation_days)
        uid = str(uuid.uuid4())
        messages = []
        if body.get("text"):
            messages.append({"uid": str(uuid.uuid4()), "from": self.node_id, "position": "info",
                             "text": body["text"], "at": to_iso(now), "delivery": "pending"})
        doc = {
            "uid": uid, "requesting_state": self.node_id, "consulted_state": consulted,
            "denial_uids": [str(u) for u in body["denial_uids"]],
            "denial_refs": [d.get("ref") for d in held if d.get("ref")],
            "transaction": transaction, "similarity": decimal_strings(similarity),
            "opened_at": to_iso(now), "response_due": to_iso(now + dt.timedelta(days=days)),
            "status": "open", "direction": "outbox", "messages": messages, "outcome": None,
            "post_facto_notice": None, "delivery": {"state": "pending"},
            "licence_number": body.get("licence_number"), "updated_at": to_iso(now),
        }
        with write_transaction(self.db):
            self.enqueue(doc, "open", uid, {"consultation": {k: doc[k] for k in SHARED_FIELDS},
                                            "messages": [wire_message(m) for m in messages]}, now)
            if doc["licence_number"]:
                self.db.execute("UPDATE licence_flags SET consultation_uid = ? WHERE licence_number = ? AND "
                                "denial_uid IN (SELECT value FROM json_each(?))",
                                [uid, doc["licence_number"], json.dumps(doc["denial_uids"])])
            self.store(doc)
            self.audit.append(actor=actor, action="consultation.open", target=uid, detail={
                "consulted_state": consulted, "denial_uids": doc["denial_uids"], "response_due": doc["response_due"],
                "held": len(held)}, at=now)
        return doc

    def reply(self, uid: str, data, *, actor: str, now: dt.datetime | None = None) -> dict:
        """Add a message (position and text) to the thread; queue it for the other side."""
        now = now or utc_now()
        body = load(ConsultationReply(), data, "reply")
        text = (body.get("text") or "").strip()
        position = body["position"]
        if position in TEXT_NEEDED and not text:
            raise ValidationFailed(f"a message of position {position} needs a text", fields={"text": "required"})
        with write_transaction(self.db):
            doc = self.require_open(uid, "reply to")
            requester = doc["direction"] == "outbox"
            if requester and position in CONSULTED_ONLY:
                raise ValidationFailed(f"{position} is the consulted state's answer; as the requesting state "
                                       "send info or request_info", fields={"position": "not for the requesting state"})
            message = {"uid": str(uuid.uuid4()), "from": self.node_id, "position": position,
                       "text": text or None, "at": to_iso(now)}
            doc["messages"].append({**message, "delivery": "pending"})
            doc["status"] = awaiting(doc, now) if requester else "answered"
            doc["updated_at"] = to_iso(now)
            self.store(doc)
            self.enqueue(doc, "message", message["uid"], {"consultation_uid": uid, "message": wire_message(message)},
                         now)
            self.audit.append(actor=actor, action="consultation.message", target=uid, detail={
                "position": position, "message_uid": message["uid"], "to": self.other_side(doc)}, at=now)
        return doc

    def record_outcome(self, uid: str, data, *, actor: str, now: dt.datetime | None = None) -> dict:
        """The requesting state's decision; closes the consultation on both sides.

        Granted while the consulted state's latest position is not no_objection: the
        post-facto notice goes with the outcome."""
        now = now or utc_now()
        body = load(ConsultationOutcome(), data, "outcome")
        with write_transaction(self.db):
            doc = self.require_open(uid, "record the outcome of")
            if doc["direction"] != "outbox":
                raise Conflict("only the requesting state records the outcome of a consultation",
                               fields={"direction": "this node is the consulted state"})
            text = (body.get("text") or "").strip() or None
            event = {"uid": str(uuid.uuid4()), "outcome": body["outcome"], "text": text, "at": to_iso(now)}
            notice = None
            standing = latest_position(doc)
            if body["outcome"] == "granted" and standing != "no_objection":
                notice = {"at": to_iso(now), "reason": standing or "no_reply",
                          "text": text or f"{self.node_id} granted the licence for the transaction of this "
                                          f"consultation despite {'the maintained objection' if standing else 'no reply'}."}
            doc["outcome"] = {**event, **({"licence_number": body["licence_number"]}
                                          if body.get("licence_number") else {})}
            doc["post_facto_notice"] = notice
            doc["status"] = "closed"
            doc["updated_at"] = to_iso(now)
            self.store(doc)
            self.enqueue(doc, "outcome", event["uid"],
                         {"consultation_uid": uid, "outcome": event, "post_facto_notice": notice}, now)
            self.audit.append(actor=actor, action="consultation.outcome", target=uid, detail={
                "outcome": body["outcome"], "post_facto_notice": notice is not None,
                "to": doc["consulted_state"]}, at=now)
        return doc

    def withdraw(self, uid: str, data, *, actor: str, now: dt.datetime | None = None) -> dict:
        now = now or utc_now()
        body = load(ConsultationWithdraw(), data, "withdrawal")
        with write_transaction(self.db):
            doc = self.require_open(uid, "withdraw")
            if doc["direction"] != "outbox":
                raise Conflict("only the requesting state can withdraw a consultation",
                               fields={"direction": "this node is the consulted state"})
            event = {"uid": str(uuid.uuid4()), "reason": body["reason"].strip(), "at": to_iso(now)}
            doc.update(status="withdrawn", withdrawal=event, updated_at=to_iso(now))
            self.store(doc)
            self.enqueue(doc, "withdraw", event["uid"], {"consultation_uid": uid, "withdrawal": event}, now)
            self.audit.append(actor=actor, action="consultation.withdraw", target=uid,
                              detail={"to": doc["consulted_state"]}, at=now)
        return doc

    def discard_refused(self, uid: str, *, actor: str, now: dt.datetime | None = None) -> None:
        """Forget a consultation whose opening the consulted state refused at once."""
        now = now or utc_now()
        with write_transaction(self.db):
            doc = self.require(uid)
            self.db.execute("DELETE FROM consultation_deliveries WHERE consultation_uid = ?", [uid])
            self.db.execute("DELETE FROM consultations WHERE uid = ?", [uid])
            self.db.execute("UPDATE licence_flags SET consultation_uid = NULL WHERE consultation_uid = ?", [uid])
            self.audit.append(actor=actor, action="consultation.refused", target=uid, detail={
                "consulted_state": doc["consulted_state"], "denial_uids": doc["denial_uids"]}, at=now)

    def mark_overdue(self, *, now: dt.datetime | None = None, actor: str = "scheduler") -> list[str]:
        """Mark open consultations whose reply deadline passed before ``now`` as overdue (both directions)."""
        now = now or utc_now()
        marked = []
        with write_transaction(self.db):
            rows = self.db.execute("SELECT doc FROM consultations WHERE status = 'open' AND response_due < ?",
                                   [to_iso(now)]).fetchall()
            for (text,) in rows:
                doc = json.loads(text)
                doc.update(status="overdue", updated_at=to_iso(now))
                self.store(doc)
                marked.append(doc["uid"])
            if marked:
                self.audit.append(actor=actor, action="consultation.overdue", target="",
                                  detail={"count": len(marked), "uids": marked[:100]}, at=now)
        return marked

    # -- reads ----------------------------------------------------------------------
    def get(self, uid: str, *, actor: str) -> dict:
        doc = self.require(uid)
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="consultation.read", target=uid)
        return doc

    def list(self, *, actor: str, status=None, direction=None, overdue=None, peer=None, cursor=None, limit=50,
             now: dt.datetime | None = None) -> tuple[list[dict], str | None]:
        now = now or utc_now()
        where, params, problems = [], [], {}
        if status:
            if status not in STATUSES:
                problems["status"] = f"must be one of {', '.join(STATUSES)}"
            where.append("status = ?")
            params.append(status)
        if direction:
            if direction not in DIRECTIONS:
                problems["direction"] = "must be inbox (this node is consulted) or outbox (this node asked)"
            where.append("direction = ?")
            params.append(direction)
        if peer:
            where.append("peer = ?")
            params.append(peer.upper())
        if overdue is not None:
            if overdue not in ("true", "false"):
                problems["overdue"] = "must be true or false"
            late = "(status = 'overdue' OR (status = 'open' AND response_due < ?))"
            where.append(late if overdue == "true" else f"NOT {late}")
            params.append(to_iso(now))
        problems.update(page_problems(limit, cursor))
        if problems:  # every bad filter named at once
            raise ValidationFailed("invalid list filter", fields=problems)
        after = decode_cursor(cursor)
        if after is not None:
            where.append("rowid < ?")
            params.append(after)
        sql = "SELECT rowid, doc FROM consultations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY rowid DESC LIMIT ?", [*params, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        with write_transaction(self.db):
            self.audit.append(actor=actor, action="consultation.list", detail={"count": len(rows)}, at=now)
        return [json.loads(r[1]) for r in rows], (encode_cursor(rows[-1][0]) if more and rows else None)

    def overdue_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM consultations WHERE status = 'overdue'").fetchone()[0]

    # -- storage (shared with intake and delivery) ----------------------------------------
    def find(self, uid: str) -> dict | None:
        row = self.db.execute("SELECT doc FROM consultations WHERE uid = ?", [str(uid)]).fetchone()
        return json.loads(row[0]) if row else None

    def require(self, uid: str) -> dict:
        doc = self.find(uid)
        if doc is None:
            raise NotFound(f"no consultation {uid}", fields={"uid": "not found"})
        return doc

    def require_open(self, uid: str, verb: str) -> dict:
        doc = self.require(uid)
        if doc["status"] in FINISHED:
            raise Conflict(f"consultation {uid} is {doc['status']}; you can no longer {verb} it",
                           fields={"status": doc["status"]})
        return doc

    def other_side(self, doc: dict) -> str:
        return doc["consulted_state"] if doc["direction"] == "outbox" else doc["requesting_state"]

    def store(self, doc: dict) -> None:
        self.db.execute(
            "INSERT INTO consultations (uid, direction, requesting_state, consulted_state, peer, status, opened_at, "
            "response_due, updated_at, licence_number, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (uid) DO UPDATE SET status = excluded.status, response_due = excluded.response_due, "
            "updated_at = excluded.updated_at, licence_number = excluded.licence_number, doc = excluded.doc",
            [doc["uid"], doc["direction"], doc["requesting_state"], doc["consulted_state"], self.other_side(doc),
             doc["status"], doc["opened_at"], doc["response_due"], doc["updated_at"], doc.get("licence_number"),
             dumps(doc)])

    def enqueue(self, doc: dict, event: str, event_uid: str, body: dict, now: dt.datetime) -> None:
        """Queue one event for the other side (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO consultation_deliveries (consultation_uid, peer, event, event_uid, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [doc["uid"], self.other_side(doc), event, event_uid, dumps(body), to_iso(now)])

    # -- internals ------------------------------------------------------------------
    def _stored_forms(self, denial: dict) -> dict[int, list]:
        forms: dict[int, list] = {}
        for party, text in self.db.execute("SELECT party, forms FROM party_names WHERE uid = ? AND forms IS NOT NULL "
                                           "ORDER BY id", [denial["uid"]]):
            try:
                forms.setdefault(party, []).append(NameForms.from_dict(json.loads(text)))
            except (ScreeningError, ValueError):
                continue  # stored by an older normaliser: normalised again when compared
        return forms

    def _consulted_state(self, body: dict) -> tuple[list[dict], str]:
        held, problems, seen = [], {}, set()
        number = body.get("licence_number")
        if number and LicenceRegistry(self.db, self.node_id).table.find_by_key(self.node_id, number) is None:
            problems["licence_number"] = "this node holds no licence of that number"
        for position, uid in enumerate(body["denial_uids"]):
            if str(uid) in seen:
                problems[f"denial_uids.{position}"] = "is given twice"
                continue
            seen.add(str(uid))
            row = self.db.execute("SELECT doc FROM denials WHERE uid = ?", [str(uid)]).fetchone()
            if row is None:
                continue
            denial = json.loads(row[0])
            if denial["origin"] == self.node_id:
                problems[f"denial_uids.{position}"] = "is this node's own denial; consult only other states"
            elif denial.get("status") != "active":
                problems[f"denial_uids.{position}"] = f"is {denial.get('status')}; it no longer counts"
            held.append(denial)
        origins = sorted({d["origin"] for d in held})
        given = body.get("consulted_state")
        if len(origins) > 1:
            problems["denial_uids"] = f"denials of several states ({', '.join(origins)}); open one consultation each"
        elif origins and given and given != origins[0]:
            problems["consulted_state"] = f"the denial belongs to {origins[0]}"
        elif not held and not given:
            problems["consulted_state"] = ("this node does not hold that denial; name the state that denied it "
                                           "(the origin of the hit)")
        if given == self.node_id:
            problems["consulted_state"] = "is this node"
        if problems:
            raise ValidationFailed("the consultation cannot be opened", fields=problems)
        return held, origins[0] if origins else given
