"""The peer client against small real HTTP servers: how each kind of failure is reported, and whether the
request may have reached the peer (which decides what a failed push leaves in the ledger)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from federation_support import HungPeer
from nodeproc import free_port

from federation.keys import SIG, key_id, new_signing_key
from federation.peer_client import PeerClient, PeerRefused, PeerUnavailable


class AnsweringPeer:
    """Answers every POST with ``status`` and ``body``; with ``status`` None it reads the request and closes
    the connection without an answer."""

    def __init__(self):
        self.status: int | None = 200
        self.body = b"{}"
        self.requests = 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.requests += 1
                if peer.status is None:
                    self.close_connection = True
                    return
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                self.wfile.write(peer.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def answering():
    peer = AnsweringPeer()
    yield peer
    peer.close()


def client(base_url: str, timeout: float = 10.0) -> PeerClient:
    key = new_signing_key()
    kid = key_id(SIG, bytes(key.verify_key))
    return PeerClient(me="MT", signer=lambda: (kid, key), peer_id="DE", base_url=base_url, timeout=timeout)


@pytest.mark.parametrize("body, code", [(b'{"error": "validation_failed"}', "validation_failed"),
                                        (b"[]", None), (b'"refused"', None), (b'{"error": 7}', None),
                                        (b"not json", None)])
def test_a_refusal_is_reported_whatever_its_body(answering, body, code):
    answering.status, answering.body = 400, body
    with pytest.raises(PeerRefused) as refused:
        client(answering.url).post("/federation/v1/push", {"x": 1})
    assert refused.value.status == 400 and refused.value.error_code == code
    assert f"({code or 'no code'})" in str(refused.value)


@pytest.mark.parametrize("status, arrived", [(503, False), (502, False), (504, True)])
def test_an_answer_saying_the_peer_failed_did_not_take_the_request(answering, status, arrived):
    """503 and 502 (a gateway that could not reach the peer) say the request was not taken; a gateway's 504
    says it passed the request on and gave up waiting, so the peer may have taken it."""
    answering.status, answering.body = status, b'{"error": "unavailable"}'
    with pytest.raises(PeerUnavailable) as failed:
        client(answering.url).post("/federation/v1/push", {"x": 1})
    assert failed.value.status == status and failed.value.may_have_arrived is arrived


def test_no_connection_means_the_request_never_arrived():
    with pytest.raises(PeerUnavailable) as failed:
        client(f"http://127.0.0.1:{free_port()}").post("/federation/v1/push", {"x": 1})
    assert failed.value.status is None and not failed.value.may_have_arrived


def test_a_request_read_but_not_answered_may_have_arrived(answering):
    answering.status = None
    before = answering.requests
    with pytest.raises(PeerUnavailable) as failed:
        client(answering.url).post("/federation/v1/push", {"x": 1})
    assert answering.requests == before + 1
    assert failed.value.may_have_arrived


def test_a_peer_that_never_answers_in_time_may_have_taken_the_request():
    port = free_port()
    hung = HungPeer(port)
    try:
        with pytest.raises(PeerUnavailable) as failed:
            client(f"http://127.0.0.1:{port}", timeout=0.5).post("/federation/v1/push", {"x": 1})
        assert failed.value.may_have_arrived and hung.connections == 1
    finally:
        hung.close()
