"""Delivering consultation events to the other side, in order, until the peer took them.

Every local action queues its event in ``consultation_deliveries`` in the
same transaction as the change, so nothing is lost when the peer is down or
this node stops. :class:`ConsultationCourier` sends a peer's queue oldest
first, each event sealed to the peer and the request signed; it runs right
after a local action (the API and the CLI) and from the
``deliver-consultations`` job. A peer that is unreachable or answers 5xx /
429 stops that peer's round and backs off (``federation.backoff``); a 4xx
refusal is final for that event and recorded on the consultation (an opening
the peer refuses withdraws the consultation here). One courier at a time
works on a peer's queue (a short lease in the database), so events arrive in
the order they were made even with the served node and a CLI job both
delivering.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

from federation.backoff import next_attempt
from federation.batch import open_json, seal_json
from federation.errors import FederationError, MalformedMessage
from federation.peer_client import PeerRefused, PeerUnavailable

from .consultations import ConsultationRegistry
from .database import write_transaction
from .peers import PeerRegistry
from .timestamps import parse_iso, to_iso, utc_now

log = logging.getLogger("cordon.consultations")

LEASE_SECONDS = 120
PATHS = {"open": "", "message": "/messages", "outcome": "/outcome", "withdraw": "/withdraw"}


def event_path(event: str, consultation_uid: str) -> str:
    suffix = PATHS[event]
    return "/federation/v1/consultations" + (f"/{consultation_uid}{suffix}" if suffix else "")


class ConsultationCourier:
    def __init__(self, runtime, exchange=None):
        from .exchange import Exchange

        self.runtime = runtime
        self.exchange = exchange or runtime.extension("exchange") or Exchange(runtime)

    @property
    def db(self):
        return self.runtime.db()

    def pending_peers(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT peer FROM consultation_deliveries WHERE state = 'pending' "
                               "ORDER BY peer").fetchall()
        return [r[0] for r in rows]

    def deliver(self, peer_id: str | None = None, *, now: dt.datetime | None = None, force: bool = False) -> list[dict]:
        """Send pending events (of one peer, or of every peer); ``force`` ignores the backoff."""
        now = now or utc_now()
        return [self._deliver_to(peer, now, force) for peer in ([peer_id] if peer_id else self.pending_peers())]

    def state_of(self, consultation_uid: str, event_uid: str) -> str | None:
        row = self.db.execute("SELECT state FROM consultation_deliveries WHERE consultation_uid = ? AND "
                              "event_uid = ?", [consultation_uid, event_uid]).fetchone()
        return row[0] if row else None

    # -- one peer ---------------------------------------------------------------------
    def _deliver_to(self, peer_id: str, now: dt.datetime, force: bool) -> dict:
        holder = str(uuid.uuid4())
        result = {"peer": peer_id, "delivered": 0, "refused": 0, "pending": 0}
        if not self._claim(peer_id, holder):
            result["skipped"] = "another delivery to this peer is in progress"
            return self._count_pending(result)
        try:
            while True:
                row = self.db.execute(
                    "SELECT id, consultation_uid, event, event_uid, body, attempts, next_attempt_at "
                    "FROM consultation_deliveries WHERE peer = ? AND state = 'pending' ORDER BY id LIMIT 1",
                    [peer_id]).fetchone()
                if row is None:
                    break
                row_id, consultation_uid, event, event_uid, body, attempts, due = row
                payload = json.loads(body)
                if not force and due and parse_iso(due) > now:
                    result["waiting_until"] = due
                    break
                peer = PeerRegistry(self.db, self.runtime.node_id).get(peer_id)
                if peer is None:
                    self._refused(row_id, consultation_uid, event, event_uid, peer_id, "no longer a peer", now, payload)
                    result["refused"] += 1
                    continue
                try:
                    answer = self._send_announcing(peer, event, consultation_uid, event_uid, payload)
                except (PeerUnavailable, FederationError, ValueError) as exc:
                    # A 401 is no verdict on the event: the peer may not know this node's current keys yet
                    # (announced, and still refused), or a clock is off. It is tried again later, as a peer down.
                    if isinstance(exc, PeerRefused) and exc.status != 401:
                        log.warning("%s refused consultation %s event %s: %s", peer_id, consultation_uid, event,
                                    exc.status)
                        self._refused(row_id, consultation_uid, event, event_uid, peer_id, str(exc), now, payload)
                        result["refused"] += 1
                        continue
                    status = getattr(exc, "status", None)
                    retry = next_attempt(attempts + 1, now, status=status, retry_after=getattr(exc, "retry_after", None))
                    with write_transaction(self.db):
                        self.db.execute("UPDATE consultation_deliveries SET attempts = attempts + 1, "
                                        "next_attempt_at = ?, last_error = ? WHERE id = ?",
                                        [to_iso(retry), str(exc)[:300], row_id])
                    result["error"] = str(exc)
                    break
                self._delivered(row_id, consultation_uid, event, event_uid, peer_id, answer, now, payload)
                result["delivered"] += 1
                self._renew(peer_id, holder)
        finally:
            with write_transaction(self.db):
                self.db.execute("DELETE FROM consultation_delivery_leases WHERE peer = ? AND holder = ?",
                                [peer_id, holder])
        return self._count_pending(result)

    def _count_pending(self, result: dict) -> dict:
        result["pending"] = self.db.execute("SELECT count(*) FROM consultation_deliveries WHERE peer = ? AND "
                                            "state = 'pending'", [result["peer"]]).fetchone()[0]
        return result

    def _send_announcing(self, peer, event: str, consultation_uid: str, event_uid: str, body: dict) -> dict:
        """``_send``; refused with 401, announce this node's identity to the peer and send once more."""
        try:
            return self._send(peer, event, consultation_uid, event_uid, body)
        except PeerRefused as exc:
            if exc.status != 401 or not self.exchange.announce_to(peer):
                raise
        return self._send(peer, event, consultation_uid, event_uid, body)

    def _send(self, peer, event: str, consultation_uid: str, event_uid: str, body: dict) -> dict:
        exchange = self.exchange
        envelope = seal_json(exchange.sender(), peer.recipient(), body)
        response = exchange.client(peer).post(event_path(event, consultation_uid), envelope)
        keyring = self.runtime.keyring
        answer = open_json(response.json(), me=self.runtime.node_id, my_keys=keyring.encryption_keys(),
                           sender_public_lookup=peer.sealing_key)
        # An answer about another consultation or event (one replayed, say) is not this event's.
        if answer.get("uid") != consultation_uid or (event != "open" and answer.get("event_uid") != event_uid):
            raise MalformedMessage("the answer is about another consultation or event")
        return answer

    # -- bookkeeping ------------------------------------------------------------------
    def _delivered(self, row_id, consultation_uid, event, event_uid, peer_id, answer: dict, now, payload) -> None:
        registry = ConsultationRegistry(self.db, self.runtime.node_id)
        with write_transaction(self.db):
            self.db.execute("UPDATE consultation_deliveries SET state = 'delivered', done_at = ?, attempts = "
                            "attempts + 1, last_error = NULL WHERE id = ?", [to_iso(utc_now()), row_id])
            doc = registry.find(consultation_uid)
            if doc is not None:
                self._mark(doc, event, event_uid, "delivered", now, payload)
                refs = answer.get("denial_refs") if isinstance(answer, dict) else None
                if event == "open" and isinstance(refs, list) and all(isinstance(r, str) for r in refs) and refs:
                    doc["denial_refs"] = refs[:20]
                registry.store(doc)
            registry.audit.append(actor="consultation-delivery", action="consultation.delivered",
                                  target=consultation_uid, detail={"event": event, "event_uid": event_uid,
                                                                   "peer": peer_id}, at=now)

    def _refused(self, row_id, consultation_uid, event, event_uid, peer_id, error: str, now, payload) -> None:
        registry = ConsultationRegistry(self.db, self.runtime.node_id)
        with write_transaction(self.db):
            self.db.execute("UPDATE consultation_deliveries SET state = 'refused', done_at = ?, last_error = ? "
                            "WHERE id = ?", [to_iso(utc_now()), error[:300], row_id])
            doc = registry.find(consultation_uid)
            if doc is not None:
                self._mark(doc, event, event_uid, "refused", now, payload)
                if event == "open":
                    self.db.execute("UPDATE consultation_deliveries SET state = 'refused', done_at = ?, "
                                    "last_error = 'the opening was refused' WHERE consultation_uid = ? AND "
                                    "state = 'pending'", [to_iso(utc_now()), consultation_uid])
                    for message in doc.get("messages") or []:
                        message["delivery"] = "refused"
                    if doc["status"] not in ("closed", "withdrawn"):
                        doc.update(status="withdrawn", withdrawal={"reason": f"{peer_id} refused the consultation",
                                                                   "at": to_iso(now)})
                registry.store(doc)
            registry.audit.append(actor="consultation-delivery", action="consultation.delivery_refused",
                                  target=consultation_uid, detail={"event": event, "event_uid": event_uid,
                                                                   "peer": peer_id}, at=now)

    @staticmethod
    def _mark(doc: dict, event: str, event_uid: str, state: str, now, payload: dict) -> None:
        stamp = {"state": state, "at": to_iso(now)}
        if event == "open":
            doc["delivery"] = stamp
            sent = {m.get("uid") for m in payload.get("messages") or [] if isinstance(m, dict)}
            for message in doc.get("messages") or []:
                if message.get("uid") in sent:
                    message["delivery"] = state
        elif event == "message":
            for message in doc.get("messages") or []:
                if message.get("uid") == event_uid:
                    message["delivery"] = state
        elif event == "outcome" and doc.get("outcome"):
            doc["outcome"]["delivery"] = state
        elif event == "withdraw" and doc.get("withdrawal"):
            doc["withdrawal"]["delivery"] = state

    def _claim(self, peer_id: str, holder: str) -> bool:
        moment = utc_now()
        with write_transaction(self.db):
            row = self.db.execute("SELECT until FROM consultation_delivery_leases WHERE peer = ?", [peer_id]).fetchone()
            if row and parse_iso(row[0]) > moment:
                return False
            self.db.execute(
                "INSERT INTO consultation_delivery_leases (peer, holder, until) VALUES (?, ?, ?) "
                "ON CONFLICT (peer) DO UPDATE SET holder = excluded.holder, until = excluded.until",
                [peer_id, holder, to_iso(moment + dt.timedelta(seconds=LEASE_SECONDS))])
        return True

    def _renew(self, peer_id: str, holder: str) -> None:
        with write_transaction(self.db):
            self.db.execute("UPDATE consultation_delivery_leases SET until = ? WHERE peer = ? AND holder = ?",
                            [to_iso(utc_now() + dt.timedelta(seconds=LEASE_SECONDS)), peer_id, holder])
