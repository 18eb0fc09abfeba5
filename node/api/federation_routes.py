"""``/federation/v1``: the peer-to-peer endpoints.

Every request except ``GET /identity`` must carry an RFC 9421 signature by a
trusted peer's key, addressed to this node. A refused request gets a 401
with no detail; the reason is logged and counted here.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import orjson
from flask import Blueprint, current_app, jsonify, request

from federation.errors import FederationError
from federation.http_signature import verify_request
from federation.identity import NODE_ID_RE, document_keys

from ..error_responses import error_response
from .. import live_query
from ..exchange import request_body
from ..inbound import PeerRequestRefused, authenticate, record_refusal
from ..peers import NonceStore, PeerRegistry
from ..timestamps import utc_now

log = logging.getLogger("cordon.federation")


def runtime():
    return current_app.extensions["cordon"]


def exchange():
    return current_app.extensions["cordon_exchange"]


def signed_url() -> str:
    """The target URI as peers sign it (docs/protocol.md): this node's base URL without a trailing slash, then
    the request's path and query exactly as sent, percent-encoding kept."""
    target = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or ""
    if not target.startswith("/"):  # a server that does not pass the raw request target on
        target = quote(request.path, safe="/:@!$&'()*+,;=-._~")
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
    return runtime().settings.base_url.rstrip("/") + target


def refused_response(exc: PeerRequestRefused):
    """The one answer to a refused peer request: logged, recorded and counted here, no detail to the peer."""
    log.warning("refused %s %s from %s: %s", request.method, request.path, exc.peer or claimed_sender(), exc.code)
    record_refusal(current_app.extensions["cordon"].db(), exc.code, request.path, exc.peer, utc_now())
    counter = current_app.extensions.get("cordon_metrics")
    if counter is not None:
        counter.refusal(exc.code)
    return error_response(exc.status, "refused", "the request was refused")


def claimed_sender() -> str:
    """Who a request that could not be attributed to a peer says it comes from (for the log only)."""
    claimed = request.headers.get("Cordon-Sender", "").upper()
    return f"{claimed} (as it claims; not verified)" if NODE_ID_RE.match(claimed) \
        else "an unknown sender"


def authenticated_peer() -> str:
    rt = runtime()
    return authenticate(rt.db(), rt.trust(), node_id=rt.node_id, method=request.method, url=signed_url(),
                        headers=list(request.headers.items()), body=request.get_data(cache=True),
                        window=rt.settings.request_window_seconds, now=utc_now())


def blueprint(catalogue) -> Blueprint:
    api = catalogue.blueprint("federation", "/federation/v1")

    @api.operation("/identity", "GET", summary="This node's signed identity document (public keys only)",
                   tag="federation")
    def identity():
        return jsonify(runtime().keyring.signed_identity())

    @api.operation("/identity/chain", "GET", summary="Every signed identity document this node issued, oldest "
                   "first (what a peer that missed a rotation follows)", tag="federation")
    def identity_chain():
        return jsonify({"chain": runtime().keyring.chain()})

    @api.operation("/identity", "POST", summary="A peer announces its new identity document (key rotation)",
                   tag="federation")
    def announce_identity():
        rt = runtime()
        sender = request.headers.get("Cordon-Sender", "").upper()
        registry = PeerRegistry(rt.db(), rt.node_id)
        peer = registry.get(sender) if sender else None
        if peer is None:
            raise PeerRequestRefused("unknown_peer")
        body = request_body(request.get_data(cache=True))
        chain = body.get("chain") if isinstance(body, dict) and "chain" in body else [body]
        try:
            document = peer.reach(chain)["document"]
            keys = {**peer.keys(), **document_keys(document)}
            verify_request(request.method, signed_url(), list(request.headers.items()), request.get_data(cache=True),
                           key_lookup=lambda kid: keys.get(kid) if kid in keys and keys[kid].status != "revoked" else None,
                           expected_destination=rt.node_id,
                           nonce_registry=NonceStore(rt.db(), rt.settings.request_window_seconds),
                           now=utc_now(), window_seconds=rt.settings.request_window_seconds)
        except FederationError as exc:
            raise PeerRequestRefused(exc.code) from None  # not attributed: the sender is only claimed
        exchange().receive_identity(sender, chain)  # walked again inside the write transaction that stores it
        return jsonify({"accepted": True, "serial": document["serial"]})

    @api.operation("/changes", "POST", summary="Pull: changes after a cursor, as a sealed batch of signed records",
                   tag="federation")
    def changes():
        peer = authenticated_peer()
        envelope = exchange().serve_changes(peer, request_body(request.get_data(cache=True)), utc_now())
        return current_app.response_class(orjson.dumps(envelope), mimetype="application/json")

    @api.operation("/push", "POST", summary="Push: a sealed batch of signed records from their origin",
                   tag="federation")
    def push():
        peer = authenticated_peer()
        receipt = exchange().receive_push(peer, request_body(request.get_data(cache=True)), utc_now())
        return jsonify(receipt)

    @api.operation("/query", "POST", summary="Live query: screen parties against this node's own denials "
                   "(sealed both ways)", tag="federation")
    def query():
        peer = authenticated_peer()
        rt = runtime()
        body = live_query.open_query(rt, peer, request_body(request.get_data(cache=True)))
        answer = live_query.answer_query(rt, peer, body, utc_now())
        return jsonify(live_query.seal_answer(rt, peer, answer))

    api.blueprint.register_error_handler(PeerRequestRefused, refused_response)

    return api.blueprint
