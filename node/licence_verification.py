"""Cross-border licence verification: a customs officer abroad asks the issuing state's node
whether a licence presented with a shipment is valid.

Requesting node -> issuing node: ``POST /federation/v1/licences/verify``, signed per
RFC 9421 like every peer request, body sealed to the issuer::

    {"type": "licence-verify", "number": "MT/LIC/2026/0001", "request_id": "<random>",
     "requester": "DE", "issuer": "MT"}

The issuer decides with its sharing policy, ``Policy.decide(licence, "licence", requester)``:

* ``answer`` or ``share``: the answer is sealed to the requester::

      {"type": "licence-verify-answer", "request_id": ..., "issuer": "MT", "requester": "DE",
       "number": ..., "status": "valid" | "expired" | "suspended" | "revoked" | "exhausted",
       "answer_level": "hit" | "detail", "licence": {...the policy view...}, "answered_at": ...}

  ``status`` is the licence's status on the day of the answer (a valid licence past its
  ``valid_to`` is ``expired``); ``licence`` holds exactly the fields the policy view allows
  (validity dates, lines, balances only where the view names them). The answer goes in the
  disclosure ledger (channel ``verify``).
* ``withhold``, or no licence of that number: the same 403 refusal either way, so a peer
  without permission learns nothing, not even whether the number exists. The refusal is
  counted in ``refusals``.

Both sides write an audit entry (peer, licence number, outcome; never licence content).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from marshmallow import ValidationError

from federation.batch import open_json, seal_json
from federation.canonical import canonical_bytes
from federation.errors import FederationError
from federation.peer_client import PeerRefused, PeerUnavailable

from .audit import AuditLog
from .customs_schemas import VerifyInput
from .database import write_transaction
from .errors import ValidationFailed
from .inbound import PeerRequestRefused
from .licences import LicenceRegistry
from .peers import PeerRegistry
from .schemas import flatten_errors
from .timestamps import to_iso, utc_now

VERIFY_PATH = "/federation/v1/licences/verify"
REQUEST_TYPE = "licence-verify"
ANSWER_TYPE = "licence-verify-answer"
VERIFY_INPUT = VerifyInput()


def effective_status(licence: dict, today: dt.date) -> str:
    status = licence["status"]
    if status == "valid" and licence.get("valid_to") and licence["valid_to"] < today.isoformat():
        return "expired"
    return status


class LicenceVerifier:
    """Both ends of licence verification for one node (``runtime``)."""

    def __init__(self, runtime, exchange=None):
        from .exchange import Exchange

        self.runtime = runtime
        self.exchange = exchange or runtime.extension("exchange") or Exchange(runtime)

    @property
    def node_id(self) -> str:
        return self.runtime.node_id

    def _audit(self, **entry) -> None:
        db = self.runtime.db()
        with write_transaction(db):
            AuditLog(db).append(**entry)

    # -- requesting side --------------------------------------------------------
    def ask_body(self, body, *, actor: str) -> dict:
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
        try:
            given = VERIFY_INPUT.load(body)
        except ValidationError as exc:
            raise ValidationFailed("the verification request is not valid",
                                   fields=flatten_errors(exc.messages)) from None
        return self.ask(given["peer"], given["number"], actor=actor)

    def ask(self, peer_id: str, number: str, *, actor: str) -> dict:
        """Ask ``peer_id`` about its licence ``number``; the outcome says what the peer disclosed."""
        peer_id = peer_id.strip().upper()
        number = number.strip()
        peer = PeerRegistry(self.runtime.db(), self.node_id).get(peer_id)
        if peer is None or peer.removed_at:
            raise ValidationFailed(f"{peer_id} is not a peer of this node", fields={"peer": "not a peer"})
        request_id = secrets.token_urlsafe(18)
        sealed = seal_json(self.exchange.sender(), peer.recipient(), {
            "type": REQUEST_TYPE, "number": number, "request_id": request_id,
            "requester": self.node_id, "issuer": peer_id})
        result = {"peer": peer_id, "number": number, "status": None, "answer_level": None, "licence": None,
                  "answered_at": None}
        try:
            response = self.exchange.client(peer).post(VERIFY_PATH, sealed)
            answer = self._open_answer(peer, response, request_id, number)
        except PeerRefused as exc:
            if exc.status == 403:
                result.update(outcome="not_confirmed", message=f"{peer_id} does not confirm licence {number}: "
                              "it is unknown there, or not disclosed to this node")
            else:
                result.update(outcome="refused", message=f"{peer_id} refused the request ({exc.status}); "
                              "check that both nodes list each other as peers")
        except (PeerUnavailable, FederationError) as exc:
            result.update(outcome="unavailable", message=f"no usable answer from {peer_id}: {exc}")
        else:
            result.update(outcome="answered", status=answer["status"], answer_level=answer.get("answer_level"),
                          licence=answer.get("licence") or {}, answered_at=answer.get("answered_at"),
                          message=f"{peer_id} answers: licence {number} is {answer['status']}")
        self._audit(actor=actor, action="licence.verify.ask", target=number,
                    detail={"peer": peer_id, "outcome": result["outcome"], "status": result["status"]})
        return result

    def _open_answer(self, peer, response, request_id: str, number: str) -> dict:
        from federation.errors import MalformedMessage

        try:
            envelope = response.json()
        except ValueError:
            raise MalformedMessage("the answer is not JSON") from None
        if not isinstance(envelope, dict) or envelope.get("sender") != peer.node_id:
            raise MalformedMessage("the answer is not sealed by the peer asked")
        answer = open_json(envelope, me=self.node_id, my_keys=self.runtime.keyring.encryption_keys(),
                           sender_public_lookup=peer.sealing_key)
        expected = {"type": ANSWER_TYPE, "request_id": request_id, "issuer": peer.node_id,
                    "requester": self.node_id, "number": number}
        if any(answer.get(key) != value for key, value in expected.items()) or \
                not isinstance(answer.get("status"), str):
            raise MalformedMessage("the answer does not match the request")
        return answer

    # -- issuing side -----------------------------------------------------------
    def answer(self, peer_id: str, envelope: dict, now: dt.datetime | None = None) -> dict:
        """The sealed answer to a verification request from ``peer_id`` (already authenticated).

        Raises PeerRequestRefused (403, identical for unknown and withheld numbers)."""
        now = now or utc_now()
        db = self.runtime.db()
        peer = PeerRegistry(db, self.node_id).require(peer_id)
        if not isinstance(envelope, dict) or envelope.get("sender") != peer_id:
            raise PeerRequestRefused("seal_invalid", peer_id)
        try:
            body = open_json(envelope, me=self.node_id, my_keys=self.runtime.keyring.encryption_keys(),
                             sender_public_lookup=peer.sealing_key)
        except FederationError as exc:
            raise PeerRequestRefused(exc.code, peer_id) from None
        number, request_id = body.get("number"), body.get("request_id")
        if body.get("type") != REQUEST_TYPE or body.get("requester") != peer_id or body.get("issuer") != self.node_id \
                or not isinstance(number, str) or not 0 < len(number) <= 64 \
                or not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
            raise ValidationFailed("not a licence verification request",
                                   fields={"body": "expected type, number, request_id, requester and issuer"})
        licence = LicenceRegistry(db, self.node_id).find(number)
        decision = self.runtime.policies.current().decide(licence, "licence", peer_id) if licence else None
        if decision is None or decision.action == "withhold":
            self._audit(actor=f"peer:{peer_id}", action="licence.verify.refused", target=number, at=now,
                        detail={"peer": peer_id, "why": "unknown" if licence is None else "withheld"})
            raise PeerRequestRefused("licence_not_disclosed", peer_id, status=403)
        view = decision.view(licence)
        status = effective_status(licence, now.date())
        answer = {"type": ANSWER_TYPE, "request_id": request_id, "issuer": self.node_id, "requester": peer_id,
                  "number": number, "status": status, "answer_level": decision.answer_level or "detail",
                  "licence": view, "answered_at": to_iso(now)}
        view_hash = hashlib.sha256(canonical_bytes(view)).hexdigest()
        with write_transaction(db):
            db.execute("INSERT INTO disclosures (peer, record_type, uid, version, kind, view_hash, channel, at) "
                       "VALUES (?, 'licence', ?, ?, 'answer', ?, 'verify', ?)",
                       [peer_id, licence["uid"], licence["version"], view_hash, to_iso(now)])
            AuditLog(db).append(actor=f"peer:{peer_id}", action="licence.verify.answered", target=licence["uid"],
                                at=now, detail={"peer": peer_id, "number": number, "status": status,
                                                "answer_level": answer["answer_level"],
                                                "fields": sorted(view)})
        return seal_json(self.exchange.sender(), peer.recipient(), answer)
