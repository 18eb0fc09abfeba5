"""``/api/v1/consultations``: open, list, read, reply to, decide and withdraw no-undercut consultations;
``/api/v1/licences/<number>/flags``: the denials a recorded licence would undercut.

Every action that the other side must learn is queued and sent at once; when
the peer is down it stays queued and the ``deliver-consultations`` job sends
it later (the answer's ``delivery`` says which).
"""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from ..consultation_delivery import ConsultationCourier
from ..consultation_schemas import (
    ConsultationOpen,
    ConsultationOutcome,
    ConsultationPage,
    ConsultationRecord,
    ConsultationReply,
    ConsultationWithdraw,
    LicenceFlagList,
)
from ..consultations import ConsultationRegistry
from ..database import write_transaction
from ..errors import Conflict
from ..licence_flags import LicenceFlags
from ..licences import LicenceRegistry
from ..oauth import READ_SCOPES
from ..audit import AuditLog
from .catalogue import ApiCatalogue, json_body, query_int_or_text

LIST_QUERY = {
    "status": "open | answered | overdue | withdrawn | closed",
    "direction": "inbox (this node is consulted) | outbox (this node asked)",
    "overdue": "true | false: past the reply deadline without an answer",
    "peer": "node id of the other state",
    "cursor": "next_cursor of the previous page",
    "limit": "page size, 1-500 (default 50)",
}


def runtime():
    return current_app.extensions["cordon"]


def registry() -> ConsultationRegistry:
    rt = runtime()
    return ConsultationRegistry(rt.db(), rt.node_id, consultation_days=rt.settings.consultation_days)


def deliver(doc: dict) -> dict:
    """Send what is queued for the other side now; the fresh copy says what was delivered."""
    peer = doc["consulted_state"] if doc["direction"] == "outbox" else doc["requesting_state"]
    ConsultationCourier(runtime()).deliver(peer, force=True)
    return registry().require(doc["uid"])


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("consultations", "/api/v1/consultations")

    @api.operation("", "POST", summary="Open a consultation with the state that denied an essentially identical "
                   "transaction", tag="consultations", scopes=("publish",), body=ConsultationOpen,
                   response=ConsultationRecord, status=201)
    def open_consultation():
        opened = registry().open(json_body(), actor=g.actor)
        doc = deliver(opened)
        if doc["delivery"]["state"] == "refused":
            registry().discard_refused(doc["uid"], actor=g.actor)
            raise Conflict(
                f"{doc['consulted_state']} refused the consultation: under its sharing policy this node may not "
                "see that denial (or it is not one of its denials); nothing was opened",
                fields={"denial_uids": f"not open to consultation by this node at {doc['consulted_state']}"})
        return jsonify(doc), 201, {"Location": f"/api/v1/consultations/{doc['uid']}"}

    @api.operation("", "GET", summary="List consultations (inbox and outbox), newest first", tag="consultations",
                   scopes=READ_SCOPES, response=ConsultationPage, query=LIST_QUERY)
    def list_consultations():
        args = request.args
        items, cursor = registry().list(actor=g.actor, status=args.get("status"), direction=args.get("direction"),
                                        overdue=args.get("overdue"), peer=args.get("peer"),
                                        cursor=args.get("cursor"), limit=query_int_or_text("limit", 50))
        return jsonify({"items": items, "next_cursor": cursor})

    @api.operation("/<uid>", "GET", summary="Read one consultation with its messages", tag="consultations",
                   scopes=READ_SCOPES, response=ConsultationRecord)
    def get_consultation(uid):
        return jsonify(registry().get(uid, actor=g.actor))

    @api.operation("/<uid>/messages", "POST", summary="Reply: a position (no_objection, maintain_objection, "
                   "request_info, info) and a text", tag="consultations", scopes=("publish",),
                   body=ConsultationReply, response=ConsultationRecord, status=201)
    def reply_consultation(uid):
        return jsonify(deliver(registry().reply(uid, json_body(), actor=g.actor))), 201

    @api.operation("/<uid>/outcome", "POST", summary="Record the licensing decision (granted | denied); granted "
                   "without the consulted state's no_objection sends the post-facto notice", tag="consultations",
                   scopes=("publish",), body=ConsultationOutcome, response=ConsultationRecord)
    def consultation_outcome(uid):
        return jsonify(deliver(registry().record_outcome(uid, json_body(), actor=g.actor)))

    @api.operation("/<uid>/withdraw", "POST", summary="Withdraw a consultation this node opened",
                   tag="consultations", scopes=("publish",), body=ConsultationWithdraw, response=ConsultationRecord)
    def withdraw_consultation(uid):
        return jsonify(deliver(registry().withdraw(uid, json_body(), actor=g.actor)))

    flags = catalogue.blueprint("licence_flags", "/api/v1/licences")

    @flags.operation("/<path:number>/flags", "GET", summary="Active denials this licence would undercut, with the "
                     "request that opens the consultation", tag="licences", scopes=READ_SCOPES,
                     response=LicenceFlagList)
    def licence_flags(number):
        rt = runtime()
        db = rt.db()
        licence = LicenceRegistry(db, rt.node_id).require(number)
        items = LicenceFlags(db, rt.node_id, rt.extension("screening")).flags_for(licence["number"])
        with write_transaction(db):
            AuditLog(db).append(actor=g.actor, action="licence.flags", target=licence["uid"],
                                detail={"number": number, "flags": len(items)})
        return jsonify({"licence_number": licence["number"], "items": items})

    return [api.blueprint, flags.blueprint]
