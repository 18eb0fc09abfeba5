"""``POST /federation/v1/licences/verify``: a peer's customs verifies a licence of this node.

The request is authenticated like every peer request (RFC 9421 signature by a
trusted peer key); the body and the answer are sealed. An unknown number and a
number the policy withholds from that peer get the same 403 refusal.
"""

from __future__ import annotations


from flask import current_app, jsonify, request

from ..exchange import request_body
from ..inbound import PeerRequestRefused
from ..licence_verification import LicenceVerifier
from ..timestamps import utc_now
from .federation_routes import authenticated_peer, refused_response


def register(catalogue):
    api = catalogue.blueprint("licence_verification", "/federation/v1")

    @api.operation("/licences/verify", "POST", summary="Verify one of this node's licences for a peer's customs "
                   "(sealed both ways; unknown and withheld numbers are refused alike)", tag="federation")
    def verify_for_peer():
        peer = authenticated_peer()
        runtime = current_app.extensions["cordon"]
        envelope = request_body(request.get_data(cache=True))
        return jsonify(LicenceVerifier(runtime).answer(peer, envelope, utc_now()))

    api.blueprint.register_error_handler(PeerRequestRefused, refused_response)

    return api.blueprint
