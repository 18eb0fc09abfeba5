"""``/api/v1/licences``: record, amend, suspend, reinstate, revoke, read and list export licences."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from ..licence_flags import check_recorded
from ..licences import LicenceRegistry
from ..schemas import LicenceInput, LicencePage, LicenceRecord, StatusChange
from .catalogue import ApiCatalogue, json_body, query_int_or_text

READ = ("read", "publish", "customs", "admin")


def registry() -> LicenceRegistry:
    runtime = current_app.extensions["cordon"]
    return LicenceRegistry(runtime.db(), runtime.node_id)


def reason() -> str | None:
    body = json_body()
    return body.get("reason") if isinstance(body, dict) else None


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("licences", "/api/v1/licences")

    def changed(doc):
        current_app.extensions["cordon_events"].record_changed("licence", doc)
        return jsonify(doc)

    @api.operation("", "POST", summary="Record an export licence", tag="licences", scopes=("publish",),
                   body=LicenceInput, response=LicenceRecord, status=201)
    def create_licence():
        doc = registry().create(json_body(), actor=g.actor)
        changed(doc)
        return jsonify({**doc, "undercut_flags": check_recorded(current_app.extensions["cordon"], doc)}), 201

    @api.operation("", "GET", summary="List licences, newest first", tag="licences", scopes=READ,
                   response=LicencePage, query={"status": "valid | suspended | revoked | expired | exhausted",
                                                "cursor": "next_cursor of the previous page", "limit": "1-500"})
    def list_licences():
        items, cursor = registry().list(actor=g.actor, status=request.args.get("status"),
                                        cursor=request.args.get("cursor"), limit=query_int_or_text("limit", 50))
        return jsonify({"items": items, "next_cursor": cursor})

    @api.operation("/<path:number>/suspend", "POST", summary="Suspend a licence", tag="licences",
                   scopes=("publish",), body=StatusChange, response=LicenceRecord)
    def suspend_licence(number):
        return changed(registry().set_status(number, "suspended", reason(), actor=g.actor))

    @api.operation("/<path:number>/reinstate", "POST", summary="Reinstate a suspended licence", tag="licences",
                   scopes=("publish",), body=StatusChange, response=LicenceRecord)
    def reinstate_licence(number):
        return changed(registry().set_status(number, "valid", reason(), actor=g.actor))

    @api.operation("/<path:number>/revoke", "POST", summary="Revoke a licence", tag="licences",
                   scopes=("publish",), body=StatusChange, response=LicenceRecord)
    def revoke_licence(number):
        return changed(registry().set_status(number, "revoked", reason(), actor=g.actor))

    @api.operation("/<path:number>/history", "GET", summary="Every version of a licence", tag="licences",
                   scopes=READ, response=LicenceRecord, many=True)
    def licence_history(number):
        return jsonify({"items": registry().history(number, actor=g.actor)})

    @api.operation("/<path:number>", "GET", summary="Read one licence with line balances", tag="licences",
                   scopes=READ, response=LicenceRecord)
    def get_licence(number):
        return jsonify(registry().get(number, actor=g.actor))

    @api.operation("/<path:number>", "PATCH", summary="Amend a licence (new version)", tag="licences",
                   scopes=("publish",), body=LicenceInput, response=LicenceRecord)
    def amend_licence(number):
        return changed(registry().amend(number, json_body(), actor=g.actor))

    return api.blueprint
