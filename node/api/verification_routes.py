"""``POST /federation/v1/licences/verify``: a peer's customs verifies a licence of this node.

The request is authenticated like every peer request (RFC 9421 signature by a
trusted peer key); the body and the answer are sealed. An unknown number and a
number the policy withholds from that peer get the same 403 refusal.
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from ..error_responses import error_response
from ..exchange import request_body
from ..inbound import PeerRequestRefused, record_refusal
from ..licence_verification import LicenceVerifier
from ..timestamps import utc_now
from .federation_routes import authenticated_peer

log = logging.getLogger("cordon.federation")


def register(catalogue):
    api = catalogue.blueprint("licence_verification", "/federation/v1")

    @api.operation("/licences/verify", "POST", summary="Verify one of this node's licences for a peer's customs "
                   "(sealed both ways; unknown and withheld numbers are refused alike)", tag="federation")
    def verify_for_peer():
        peer = authenticated_peer()
        runtime = current_app.extensions["cordon"]
        envelope = request_body(request.get_data(cache=True))
        return jsonify(LicenceVerifier(runtime).answer(peer, envelope, utc_now()))

    @api.blueprint.errorhandler(PeerRequestRefused)
    def refused(exc: PeerRequestRefused):
        runtime = current_app.extensions["cordon"]
        log.warning("refused %s %s from %s: %s", request.method, request.path, exc.peer or "unknown", exc.code)
        record_refusal(runtime.db(), exc.code, request.path, exc.peer, utc_now())
        counter = current_app.extensions.get("cordon_metrics")
        if counter is not None:
            counter.refusal(exc.code)
        return error_response(exc.status, "refused", "the request was refused")

    return api.blueprint
