"""``/federation/v1/consultations``: consultation events between peers, signed and sealed both ways.

Every request carries an RFC 9421 signature by a trusted peer; its body is a
sealed envelope to this node and the answer is sealed to the peer. A refusal
(bad signature or seal, or a consultation the sharing policy does not allow)
answers 401 / 403 with no detail, and is logged and counted.
"""

from __future__ import annotations


from flask import current_app, jsonify, request

from .. import live_query
from ..consultation_intake import ConsultationIntake
from ..exchange import request_body
from ..inbound import PeerRequestRefused
from ..timestamps import utc_now
from .federation_routes import authenticated_peer, refused_response


def runtime():
    return current_app.extensions["cordon"]


def received() -> tuple[str, dict]:
    """The authenticated peer and the opened body of its sealed request."""
    peer = authenticated_peer()
    return peer, live_query.open_query(runtime(), peer, request_body(request.get_data(cache=True)))


def intake() -> ConsultationIntake:
    rt = runtime()
    return ConsultationIntake(rt.db(), rt.node_id, rt.policies.current())


def sealed(peer: str, answer: dict):
    return jsonify(live_query.seal_answer(runtime(), peer, answer))


def blueprint(catalogue):
    api = catalogue.blueprint("consultation_peers", "/federation/v1/consultations")

    @api.operation("", "POST", summary="A peer opens a consultation about this node's denial(s) (policy-gated)",
                   tag="federation")
    def peer_open_consultation():
        peer, body = received()
        return sealed(peer, intake().receive_open(peer, body, utc_now()))

    @api.operation("/<uid>/messages", "POST", summary="A message of the other party of a consultation",
                   tag="federation")
    def peer_consultation_message(uid):
        peer, body = received()
        return sealed(peer, intake().receive_message(peer, uid, body, utc_now()))

    @api.operation("/<uid>/outcome", "POST", summary="The requesting state's outcome (and post-facto notice)",
                   tag="federation")
    def peer_consultation_outcome(uid):
        peer, body = received()
        return sealed(peer, intake().receive_outcome(peer, uid, body, utc_now()))

    @api.operation("/<uid>/withdraw", "POST", summary="The requesting state withdraws its consultation",
                   tag="federation")
    def peer_consultation_withdraw(uid):
        peer, body = received()
        return sealed(peer, intake().receive_withdraw(peer, uid, body, utc_now()))

    api.blueprint.register_error_handler(PeerRequestRefused, refused_response)

    return api.blueprint
