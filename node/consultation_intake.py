"""Consultation events received from peers: an opening, messages, the outcome, a withdrawal.

The opening is policy-gated at the consulted state: the requester must name
this node as the consulted state, every denial must be this node's own, and
this node's sharing policy must let the requester see each of them (share or
answer; anything but withhold). Otherwise the request is refused before
anything is stored, with the same answer whether the denial does not exist or
is withheld, so the refusal tells the requester nothing. Follow-up events are
accepted only from the other party of that consultation; an unknown
consultation and someone else's consultation look the same (not found).
Every event is idempotent by its uid: a retried delivery is a harmless no-op.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import sqlite_utils

from .consultation_schemas import ProposedTransaction
from .consultation_terms import CONSULTED_ONLY, MAX_DAYS, MAX_TEXT, MIN_DAYS, OUTCOMES, POSITIONS, TEXT_NEEDED
from .consultations import FINISHED, ConsultationRegistry, awaiting, load
from .database import write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .inbound import PeerRequestRefused
from .timestamps import parse_iso, to_iso

REFUSED = "consultation_not_allowed"


def uid_text(value, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a UUID", fields={field: "not a UUID"}) from None


def timestamp(value, field: str) -> dt.datetime:
    try:
        return parse_iso(value)
    except (TypeError, ValueError, AttributeError):
        raise ValidationFailed(f"{field} must be an ISO-8601 timestamp", fields={field: "not a timestamp"}) from None


def optional_text(value, field: str, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(f"{field} must be text of at most {limit} characters", fields={field: "bad text"})
    return value


class ConsultationIntake:
    def __init__(self, db: sqlite_utils.Database, node_id: str, policy):
        self.db = db
        self.node_id = node_id
        self.policy = policy
        self.registry = ConsultationRegistry(db, node_id)

    # -- the opening ----------------------------------------------------------------
    def receive_open(self, peer: str, body: dict, now: dt.datetime) -> dict:
        consultation = body.get("consultation")
        if not isinstance(consultation, dict):
            raise ValidationFailed("an opening needs a consultation object", fields={"consultation": "missing"})
        if consultation.get("requesting_state") != peer or consultation.get("consulted_state") != self.node_id:
            raise PeerRequestRefused(REFUSED, peer, status=403)
        raw_uids = consultation.get("denial_uids")
        if not isinstance(raw_uids, list) or not 1 <= len(raw_uids) <= 20:
            raise ValidationFailed("denial_uids must list 1-20 uids", fields={"denial_uids": "expected a list"})
        denial_uids = [uid_text(u, "denial_uids") for u in raw_uids]
        uid = uid_text(consultation.get("uid"), "uid")
        existing = self.registry.find(uid)
        if existing is not None:  # a retried opening (its answer lost): the stored state, whatever changed since
            if existing["direction"] != "inbox" or existing["requesting_state"] != peer:
                raise PeerRequestRefused(REFUSED, peer, status=403)
            return self._open_answer(existing, peer)
        denials = self._visible_denials(peer, denial_uids)
        transaction = load(ProposedTransaction(), consultation.get("transaction"), "proposed transaction")
        opened_at = timestamp(consultation.get("opened_at"), "opened_at")
        response_due = timestamp(consultation.get("response_due"), "response_due")
        days = (response_due - opened_at).total_seconds() / 86400
        if not MIN_DAYS - 1 <= days <= MAX_DAYS + 1:
            raise ValidationFailed("the reply deadline is out of bounds",
                                   fields={"response_due": f"must be {MIN_DAYS}-{MAX_DAYS} days after opened_at"})
        if opened_at > now + dt.timedelta(days=1):
            raise ValidationFailed("opened_at is in the future", fields={"opened_at": "in the future"})
        similarity = consultation.get("similarity")
        doc = {
            "uid": uid, "requesting_state": peer, "consulted_state": self.node_id, "denial_uids": denial_uids,
            "denial_refs": [d.get("ref") for d in denials if d.get("ref")], "transaction": transaction,
            "similarity": similarity if isinstance(similarity, dict) else {},
            "opened_at": to_iso(opened_at), "response_due": to_iso(response_due), "direction": "inbox",
            "messages": [], "outcome": None, "post_facto_notice": None, "licence_number": None,
            "received_at": to_iso(now), "updated_at": to_iso(now),
        }
        messages = body.get("messages") or []
        if not isinstance(messages, list) or len(messages) > 5:
            raise ValidationFailed("messages must be a short list", fields={"messages": "expected a list"})
        doc["messages"] = [self._message(peer, doc, m) for m in messages]
        doc["status"] = awaiting(doc, now)
        with write_transaction(self.db):
            if self.registry.find(uid) is None:
                self.registry.store(doc)
                self.registry.audit.append(actor=f"peer:{peer}", action="consultation.received", target=uid, detail={
                    "requesting_state": peer, "denial_uids": denial_uids, "response_due": doc["response_due"]},
                    at=now)
        return self._open_answer(doc, peer)

    def _visible_denials(self, peer: str, uids: list[str]) -> list[dict]:
        denials = []
        for uid in uids:
            row = self.db.execute("SELECT doc FROM denials WHERE uid = ? AND origin = ?", [uid, self.node_id]).fetchone()
            if row is None:
                raise PeerRequestRefused(REFUSED, peer, status=403)
            denial = json.loads(row[0])
            # Only an active denial can be undercut; a revoked or expired one is refused like an unseen one.
            if denial.get("status") != "active" or self.policy.decide(denial, "denial", peer).action == "withhold":
                raise PeerRequestRefused(REFUSED, peer, status=403)
            denials.append(denial)
        return denials

    def _open_answer(self, doc: dict, peer: str) -> dict:
        return {"accepted": True, "uid": doc["uid"], "status": doc["status"],
                "denial_refs": self._refs_for(peer, doc["denial_uids"])}

    def _refs_for(self, peer: str, uids: list[str]) -> list[str]:
        """The national references of these denials that the policy view for ``peer`` keeps (a view may
        leave ``ref`` out; a denial the policy now withholds gives none)."""
        refs = []
        for uid in uids:
            row = self.db.execute("SELECT doc FROM denials WHERE uid = ? AND origin = ?", [uid, self.node_id]).fetchone()
            if row is None:
                continue
            denial = json.loads(row[0])
            if denial.get("ref") and "ref" in self.policy.decide(denial, "denial", peer).fields:
                refs.append(denial["ref"])
        return refs

    # -- follow-ups -------------------------------------------------------------------
    def receive_message(self, peer: str, uid: str, body: dict, now: dt.datetime) -> dict:
        with write_transaction(self.db):
            doc = self._party_copy(peer, uid)
            message = self._message(peer, doc, body.get("message"))
            if any(m.get("uid") == message["uid"] for m in doc["messages"]):
                return _accepted(doc, message["uid"])
            if doc["status"] in FINISHED:
                raise Conflict(f"consultation {uid} is {doc['status']}", fields={"status": doc["status"]})
            doc["messages"].append(message)
            doc["status"] = "answered" if peer == doc["consulted_state"] else awaiting(doc, now)
            doc["updated_at"] = to_iso(now)
            self.registry.store(doc)
            self.registry.audit.append(actor=f"peer:{peer}", action="consultation.message.received", target=uid,
                                       detail={"position": message["position"], "message_uid": message["uid"]}, at=now)
        return _accepted(doc, message["uid"])

    def receive_outcome(self, peer: str, uid: str, body: dict, now: dt.datetime) -> dict:
        with write_transaction(self.db):
            doc = self._party_copy(peer, uid)
            if peer != doc["requesting_state"]:
                raise ValidationFailed("only the requesting state records the outcome", fields={"outcome": "not yours"})
            event = body.get("outcome")
            if not isinstance(event, dict) or event.get("outcome") not in OUTCOMES:
                raise ValidationFailed("outcome must be granted or denied", fields={"outcome": "granted | denied"})
            clean = {"uid": uid_text(event.get("uid"), "outcome.uid"), "outcome": event["outcome"],
                     "text": optional_text(event.get("text"), "outcome.text"),
                     "at": to_iso(timestamp(event.get("at"), "outcome.at"))}
            if doc.get("outcome") and doc["outcome"].get("uid") == clean["uid"]:
                return _accepted(doc, clean["uid"])
            if doc["status"] in FINISHED:
                raise Conflict(f"consultation {uid} is {doc['status']}", fields={"status": doc["status"]})
            notice = body.get("post_facto_notice")
            if notice is not None:
                if not isinstance(notice, dict):
                    raise ValidationFailed("post_facto_notice must be an object", fields={"post_facto_notice": "bad"})
                notice = {"at": to_iso(timestamp(notice.get("at"), "post_facto_notice.at")),
                          "reason": optional_text(notice.get("reason"), "post_facto_notice.reason", 40),
                          "text": optional_text(notice.get("text"), "post_facto_notice.text")}
            doc.update(outcome=clean, post_facto_notice=notice, status="closed", updated_at=to_iso(now))
            self.registry.store(doc)
            self.registry.audit.append(actor=f"peer:{peer}", action="consultation.outcome.received", target=uid,
                                       detail={"outcome": clean["outcome"], "post_facto_notice": notice is not None},
                                       at=now)
        return _accepted(doc, clean["uid"])

    def receive_withdraw(self, peer: str, uid: str, body: dict, now: dt.datetime) -> dict:
        with write_transaction(self.db):
            doc = self._party_copy(peer, uid)
            if peer != doc["requesting_state"]:
                raise ValidationFailed("only the requesting state withdraws", fields={"withdrawal": "not yours"})
            event = body.get("withdrawal")
            if not isinstance(event, dict):
                raise ValidationFailed("a withdrawal object is needed", fields={"withdrawal": "missing"})
            clean = {"uid": uid_text(event.get("uid"), "withdrawal.uid"),
                     "reason": optional_text(event.get("reason"), "withdrawal.reason"),
                     "at": to_iso(timestamp(event.get("at"), "withdrawal.at"))}
            if (doc.get("withdrawal") or {}).get("uid") == clean["uid"]:
                return _accepted(doc, clean["uid"])
            if doc["status"] in FINISHED:
                raise Conflict(f"consultation {uid} is {doc['status']}", fields={"status": doc["status"]})
            doc.update(status="withdrawn", withdrawal=clean, updated_at=to_iso(now))
            self.registry.store(doc)
            self.registry.audit.append(actor=f"peer:{peer}", action="consultation.withdraw.received", target=uid,
                                       at=now)
        return _accepted(doc, clean["uid"])

    # -- internals --------------------------------------------------------------------
    def _party_copy(self, peer: str, uid: str) -> dict:
        doc = self.registry.find(uid_text(uid, "uid"))
        if doc is None or peer not in (doc["requesting_state"], doc["consulted_state"]) or peer == self.node_id:
            raise NotFound(f"no consultation {uid}", fields={"uid": "not found"})
        return doc

    @staticmethod
    def _message(peer: str, doc: dict, raw) -> dict:
        if not isinstance(raw, dict):
            raise ValidationFailed("a message object is needed", fields={"message": "expected an object"})
        if raw.get("from") != peer:
            raise ValidationFailed("a message must come from its sender", fields={"message.from": "not the sender"})
        position = raw.get("position")
        if position not in POSITIONS:
            raise ValidationFailed("unknown position", fields={"message.position": ", ".join(POSITIONS)})
        if peer == doc["requesting_state"] and position in CONSULTED_ONLY:
            raise ValidationFailed("the requesting state cannot take that position",
                                   fields={"message.position": "consulted state only"})
        text = optional_text(raw.get("text"), "message.text")
        if position in TEXT_NEEDED and not (text or "").strip():
            raise ValidationFailed(f"a {position} message needs a text", fields={"message.text": "required"})
        return {"uid": uid_text(raw.get("uid"), "message.uid"), "from": peer, "position": position,
                "text": text,
                "at": to_iso(timestamp(raw.get("at"), "message.at"))}


def _accepted(doc: dict, event_uid: str) -> dict:
    """The answer to a follow-up event: the consultation and the event it took (or already held)."""
    return {"accepted": True, "uid": doc["uid"], "event_uid": event_uid, "status": doc["status"]}
