"""``/api/v1/denials``: publish, amend, revoke, read, list and history of denial notifications."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from ..denial_rows import in_shown_order
from ..denials import DenialRegistry
from ..errors import ValidationFailed
from ..oauth import READ_SCOPES
from ..schemas import DenialInput, DenialPage, DenialRecord, DenialRevoke
from .catalogue import ApiCatalogue, json_body, query_int_or_text

LIST_QUERY = {
    "status": "active | revoked | expired",
    "regime": "one of WA-DU, WA-ML, NSG, AG, MTCR, EU-DU, NATIONAL",
    "country": "destination country (ISO 3166-1 alpha-2)",
    "party": "part of any party name, any script, case-insensitive",
    "origin": "node id of the owning state (e.g. DE for records received from Germany)",
    "updated_since": "ISO-8601 date or timestamp",
    "cursor": "next_cursor of the previous page",
    "limit": "page size, 1-500 (default 50)",
}


def registry() -> DenialRegistry:
    runtime = current_app.extensions["cordon"]
    return DenialRegistry(runtime.db(), runtime.node_id, review_years=runtime.settings.review_years)


def if_match_version() -> int | None:
    value = request.headers.get("If-Match")
    if not value:
        return None
    try:
        return int(value.strip('"W/ '))
    except ValueError:
        raise ValidationFailed("If-Match must hold the version number you read",
                               fields={"If-Match": "not a version number"}) from None


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("denials", "/api/v1/denials")

    @api.operation("", "POST", summary="Publish a denial notification", tag="denials", scopes=("publish",),
                   body=DenialInput, response=DenialRecord, status=201)
    def create_denial():
        doc = registry().create(json_body(), actor=g.actor)
        current_app.extensions["cordon_events"].record_changed("denial", doc)
        return jsonify(in_shown_order(doc)), 201, {"Location": f"/api/v1/denials/{doc['uid']}", "ETag": f'"{doc["version"]}"'}

    @api.operation("", "GET", summary="List denials, newest first, with filters and cursor pagination",
                   tag="denials", scopes=READ_SCOPES, response=DenialPage, query=LIST_QUERY)
    def list_denials():
        args = request.args
        items, cursor = registry().list(
            actor=g.actor, status=args.get("status"), regime=args.get("regime"), country=args.get("country"),
            party=args.get("party"), origin=args.get("origin"), updated_since=args.get("updated_since"),
            cursor=args.get("cursor"), limit=query_int_or_text("limit", 50),
        )
        return jsonify({"items": [in_shown_order(doc) for doc in items], "next_cursor": cursor})

    @api.operation("/<uid>", "GET", summary="Read one denial", tag="denials", scopes=READ_SCOPES,
                   response=DenialRecord)
    def get_denial(uid):
        doc = registry().get(uid, actor=g.actor)
        return jsonify(in_shown_order(doc)), 200, {"ETag": f'"{doc["version"]}"'}

    @api.operation("/<uid>", "PATCH", summary="Amend a denial (new version; the old one stays in history). "
                   "Send If-Match: <version> to refuse a stale edit.", tag="denials", scopes=("publish",),
                   body=DenialInput, response=DenialRecord)
    def amend_denial(uid):
        doc = registry().amend(uid, json_body(), actor=g.actor, expected_version=if_match_version())
        current_app.extensions["cordon_events"].record_changed("denial", doc)
        return jsonify(in_shown_order(doc)), 200, {"ETag": f'"{doc["version"]}"'}

    @api.operation("/<uid>/revoke", "POST", summary="Revoke a denial", tag="denials", scopes=("publish",),
                   body=DenialRevoke, response=DenialRecord)
    def revoke_denial(uid):
        body = json_body()
        reason = body.get("reason") if isinstance(body, dict) else None
        doc = registry().revoke(uid, reason, actor=g.actor)
        current_app.extensions["cordon_events"].record_changed("denial", doc)
        return jsonify(in_shown_order(doc)), 200, {"ETag": f'"{doc["version"]}"'}

    @api.operation("/<uid>/history", "GET", summary="Every version of a denial, oldest first", tag="denials",
                   scopes=READ_SCOPES, response=DenialRecord, many=True)
    def denial_history(uid):
        return jsonify({"items": [in_shown_order(doc) for doc in registry().history(uid, actor=g.actor)]})

    @api.operation("/expire", "POST", summary="Mark denials past their review date as expired (the daily job, now)",
                   tag="denials", scopes=("admin",))
    def expire_denials():
        expired = registry().expire_due(actor=g.actor)
        for uid in expired:
            current_app.extensions["cordon_events"].record_changed("denial", {"uid": uid})
        return jsonify({"expired": len(expired), "uids": expired})

    return api.blueprint
