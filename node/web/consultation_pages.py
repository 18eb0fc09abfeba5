"""Consultation pages: the inbox (consultations other states opened with this node) and outbox
(those this node opened), one consultation's thread, and the reply form."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from ..errors import NodeError, ValidationFailed
from . import access

PAGE_SIZE = 25
FILTERS = ("direction", "status", "peer")


def registry():
    from ..consultations import ConsultationRegistry

    runtime = access.runtime()
    return ConsultationRegistry(runtime.db(), runtime.node_id, consultation_days=runtime.settings.consultation_days)


def positions(doc: dict) -> tuple[str, ...]:
    """What this node may answer: the consulted state takes a position; the requester adds information."""
    from ..consultation_schemas import CONSULTED_ONLY, POSITIONS

    if doc["direction"] == "outbox":
        return tuple(p for p in POSITIONS if p not in CONSULTED_ONLY)
    return POSITIONS


def render_thread(doc: dict, values: dict, errors: dict, message: str | None = None, status: int = 200):
    finished = doc["status"] in ("closed", "withdrawn")
    may_reply = not finished and g.user["role"] in access.PUBLISH
    return render_template("ui/consultation.html", title=f"Consultation with {other_side(doc)}", doc=doc,
                           values=values, errors=errors, message=message, may_reply=may_reply,
                           positions=positions(doc), other=other_side(doc)), status


def deliver(doc: dict) -> None:
    """Send what is queued for the other side now; what cannot go now goes with the delivery job."""
    from ..consultation_delivery import ConsultationCourier

    ConsultationCourier(access.runtime()).deliver(other_side(doc), force=True)


def other_side(doc: dict) -> str:
    return doc["consulted_state"] if doc["direction"] == "outbox" else doc["requesting_state"]


def register(pages) -> None:
    @pages.route("/consultations")
    @access.requires(*access.CONSULTATIONS)
    def consultations():
        from ..consultation_schemas import DIRECTIONS, STATUSES

        args = request.args
        filters = {name: (args.get(name) or "").strip() for name in FILTERS}
        if "direction" not in args:
            filters["direction"] = "inbox"
        errors, items, cursor = {}, [], None
        try:
            items, cursor = registry().list(actor=access.actor(), cursor=args.get("cursor") or None, limit=PAGE_SIZE,
                                            **{k: v or None for k, v in filters.items()})
        except ValidationFailed as exc:
            errors = exc.fields
        title = {"inbox": "Consultation inbox", "outbox": "Consultations this node opened"}.get(
            filters["direction"], "Consultations")
        return render_template("ui/consultations.html", title=title, items=items, next_cursor=cursor,
                               filters=filters, errors=errors, directions=DIRECTIONS, statuses=STATUSES,
                               other_side=other_side, paged=bool(args.get("cursor"))), 400 if errors else 200

    @pages.route("/consultations/<uid>", methods=["GET", "POST"])
    @access.requires(*access.CONSULTATIONS)
    def consultation(uid):
        reg = registry()
        if request.method == "GET":
            return render_thread(reg.get(uid, actor=access.actor()), {"position": "", "text": ""}, {})
        if g.user["role"] not in access.PUBLISH:
            return access.refusal(403, "Not allowed for your role",
                                  f"Your role ({g.user['role']}) cannot reply to consultations; it needs: publish.")
        values = {"position": request.form.get("position") or "", "text": (request.form.get("text") or "").strip()}
        try:
            doc = reg.reply(uid, {"position": values["position"], "text": values["text"] or None},
                            actor=access.actor())
        except NodeError as exc:
            return render_thread(reg.require(uid), values, exc.fields,
                                 message=f"The reply was not sent: {exc.message}.", status=400)
        deliver(doc)
        flash(f"Your reply ({values['position'].replace('_', ' ')}) was recorded and is being sent to "
              f"{other_side(doc)}.")
        return redirect(url_for("ui.consultation", uid=uid))
