"""Customs at the border: checks and write-offs against this node's licences, reversals,
history, the mismatch report, and verification of another state's licence.

    POST /api/v1/licences/<number>/checks                          check a declaration (customs)
    GET  /api/v1/licences/<number>/checks                          write-off history per line
    GET  /api/v1/licences/<number>/checks/<declaration_ref>        one stored check
    POST /api/v1/licences/<number>/checks/<declaration_ref>/reversal   post-clearance invalidation (customs)
    GET  /api/v1/customs/mismatches?from=&to=&office=              mismatches per customs office
    POST /api/v1/licences/verify                                   ask a peer about one of its licences (customs)
"""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, g, jsonify, request

from ..customs import CustomsDesk
from ..customs_reports import CheckReports
from ..customs_schemas import (
    CheckAnswer, CheckHistory, CheckInput, CheckRecord, MismatchReport, ReversalAnswer, ReversalInput, VerifyAnswer,
    VerifyInput,
)
from ..database import WriterQueue
from ..errors import ValidationFailed
from ..licence_verification import LicenceVerifier
from ..timestamps import utc_now
from .catalogue import ApiCatalogue, json_body, query_int_or_text

READ = ("read", "publish", "customs", "admin")
CUSTOMS_QUEUE = "customs.lock"  # in the data directory: the queue of customs writers


def runtime():
    return current_app.extensions["cordon"]


def reports() -> CheckReports:
    rt = runtime()
    return CheckReports(rt.db(), rt.node_id)


def query_date(name: str, default: dt.date) -> dt.date:
    value = request.args.get(name)
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date", fields={name: "not a date such as 2026-05-01"}) from None


def licence_changed(outcome) -> None:
    if outcome.licence_changed is not None:
        current_app.extensions["cordon_events"].record_changed("licence", outcome.licence_changed)


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("customs", "/api/v1")
    # One queue for customs writers across the node's serving processes: waiting writers are woken
    # in turn instead of polling SQLite's busy handler; BEGIN IMMEDIATE still guards against others.
    writers: dict[str, WriterQueue] = {}

    def desk() -> CustomsDesk:
        rt = runtime()
        queue = writers.get("queue")
        if queue is None:
            queue = writers.setdefault("queue", WriterQueue(rt.data_dir / CUSTOMS_QUEUE))
        return CustomsDesk(rt.db(), rt.node_id, screening=rt.extension("screening"), lock=queue)

    @api.operation("/licences/<path:number>/checks", "POST", summary="Check a customs declaration against a "
                   "licence line and write the shipment off its balance", tag="customs", scopes=("customs",),
                   body=CheckInput, response=CheckAnswer, status=201)
    def check_declaration(number):
        outcome = desk().check(number, json_body(), actor=g.actor)
        licence_changed(outcome)
        # The answer as stored: what jsonify would write (compact, UTF-8), and for a repeat the
        # stored body byte for byte.
        response = Response(outcome.text + "\n", status=201, mimetype=current_app.json.mimetype)
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    # Declared before the history, whose page nests CheckRecord, so OpenAPI registers it once.
    @api.operation("/licences/<path:number>/checks/<declaration_ref>", "GET", summary="One stored check",
                   tag="customs", scopes=READ, response=CheckRecord)
    def get_check(number, declaration_ref):
        return jsonify(reports().get_check(number, declaration_ref, actor=g.actor))

    @api.operation("/licences/<path:number>/checks", "GET", summary="Write-off history of a licence, per line",
                   tag="customs", scopes=READ, response=CheckHistory,
                   query={"line_no": "only this line", "cursor": "next_cursor of the previous page",
                          "limit": "1-500"})
    def check_history(number):
        return jsonify(reports().history(number, actor=g.actor, line_no=query_int_or_text("line_no", None),
                                         cursor=request.args.get("cursor"), limit=query_int_or_text("limit", 50)))

    @api.operation("/licences/<path:number>/checks/<declaration_ref>/reversal", "POST",
                   summary="Reverse a write-off (post-clearance invalidation): the balance is restored",
                   tag="customs", scopes=("customs",), body=ReversalInput, response=ReversalAnswer, status=201)
    def reverse_check(number, declaration_ref):
        outcome = desk().reverse(number, declaration_ref, json_body(), actor=g.actor)
        licence_changed(outcome)
        return jsonify(outcome.answer), 201

    @api.operation("/customs/mismatches", "GET", summary="Mismatches per customs office over a period",
                   tag="customs", scopes=READ, response=MismatchReport,
                   query={"from": "first declaration date (default: 30 days before 'to')",
                          "to": "last declaration date (default: today)", "office": "only this customs office"})
    def mismatch_report():
        end = query_date("to", utc_now().date())
        start = query_date("from", end - dt.timedelta(days=30))
        return jsonify(reports().mismatches(actor=g.actor, start=start, end=end, office=request.args.get("office")))

    @api.operation("/licences/verify", "POST", summary="Verify a licence issued by a peer state "
                   "(signed, sealed, answered as the issuer's policy allows)", tag="customs", scopes=("customs",),
                   body=VerifyInput, response=VerifyAnswer)
    def verify_licence():
        rt = runtime()
        body = json_body()
        return jsonify(LicenceVerifier(rt).ask_body(body, actor=g.actor))

    return api.blueprint
