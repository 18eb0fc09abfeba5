"""Federation health over HTTP.

- ``POST /federation/v1/health``: a trusted peer (a member or the coordinator)
  asks for this node's health with a signed request; the metadata-only report
  of :mod:`node.health_report` comes back sealed to the asker.
- ``GET /api/v1/federation/health`` (scope ``coordinator``): on a coordinator
  the whole federation from the latest poll, on a member its own state and
  its peers (:mod:`node.federation_overview`).
"""

from __future__ import annotations

import json

from flask import current_app, jsonify, request
from marshmallow import Schema, fields

from federation.batch import seal_json

from ..exchange import echoing_request, request_body
from ..federation_overview import overview
from ..health_report import node_health
from ..inbound import PeerRequestRefused
from ..timestamps import utc_now
from .federation_routes import authenticated_peer, refused_response


class FederationHealth(Schema):
    role = fields.String(metadata={"description": "coordinator: the federation; member: this node and its peers"})
    node_id = fields.String()
    generated_at = fields.String()
    summary = fields.Dict(metadata={"description": "coordinator: members by status (up, degraded, down, unknown)"})
    members = fields.List(fields.Dict(), metadata={"description": "coordinator: each member's status and reasons"})
    lag = fields.Dict(metadata={"description": "coordinator: sync lag matrix, rows[origin][receiver]"})
    timeliness = fields.Dict(metadata={"description": "coordinator: origin-to-receiver delays of record versions"})
    keys_expiring = fields.List(fields.Dict(), metadata={"description": "active keys ending within 30 days"})
    consultations = fields.Dict(metadata={"description": "overdue consultations"})
    version_mismatches = fields.List(fields.Dict())
    history = fields.Dict(metadata={"description": "coordinator: 24 h of lag and failures in 15-minute buckets"})
    peers = fields.List(fields.Dict(), metadata={"description": "member: exchange state with each peer"})


def runtime():
    return current_app.extensions["cordon"]


def started_at() -> float | None:
    return current_app.extensions.get("cordon_started")


def peer_blueprint(catalogue):
    api = catalogue.blueprint("federation_health", "/federation/v1")

    @api.operation("/health", "POST", summary="Health metadata of this node, sealed to the asking peer "
                   "(no record content)", tag="federation")
    def peer_health():
        peer_id = authenticated_peer()
        body = request_body(request.get_data(cache=True))
        rt = runtime()
        peer = rt.trust().peer(peer_id)
        report = echoing_request(body, node_health(rt, utc_now(), started_at=started_at()))
        envelope = seal_json(current_app.extensions["cordon_exchange"].sender(), peer.recipient(), report)
        return current_app.response_class(json.dumps(envelope), mimetype="application/json")

    api.blueprint.register_error_handler(PeerRequestRefused, refused_response)

    return api.blueprint


def api_blueprint(catalogue):
    api = catalogue.blueprint("federation_overview", "/api/v1")

    @api.operation("/federation/health", "GET", summary="Federation health: members up / degraded / down, sync "
                   "lag, timeliness, expiring keys (metadata only)", tag="health", scopes=("coordinator",),
                   response=FederationHealth)
    def federation_health():
        return jsonify(overview(runtime(), utc_now(), started_at=started_at()))

    return api.blueprint
