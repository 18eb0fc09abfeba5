"""Test support for federation: several real ``cordon serve`` processes peered with each other,
a recording HTTP proxy between them, and a rogue peer that crafts raw requests with a
node's real keys.

Public API::

    share_policy(members) -> str                   # policy text: share denials, exporter withheld, accept them
    start_federation(root, ids, *, settings=None, proxied=False) -> Federation
        # in-process init of each data dir (settings, keys, identity, policy, an API client), then
        # `cordon peers add FILE --fingerprint FP` both ways for every pair, then `cordon serve` each
    Federation: fed["MT"] -> NodeProcess; fed.api(id) -> requests.Session (read, publish, admin);
        fed.publish(id, **fields) -> doc; fed.revoke(id, uid) -> doc; fed.get(id, uid);
        fed.listed(id, origin) -> {uid: doc};
        fed.wait_visible(id, uid, version); fed.wait_gone(id, uid); fed.start(*ids); fed.stop(*ids);
        fed.fingerprints, fed.documents (identity files), fed.proxies (when proxied); fed.close()
    init_data_dir(data_dir, node_id) -> Keyring     # a node's data directory, never started
    update_settings(data_dir, **changes)            # rewrite cordon.toml before a node starts
    identity_file(node) -> (path, fingerprint)      # `cordon identity --output`
    peer(adder, other, document=None)               # `cordon peers add` with the confirmed fingerprint
    add_peer(data_dir, document)                    # the same in this process (PeerRegistry.add), for many peers
    Federation.peer_star(hub)                       # hub <-> every other node, in-process, fingerprints confirmed
    HungPeer(port)                                  # a socket that accepts connections and never answers
    wait_for(check, timeout, what) -> value         # poll until check() is truthy, never sleep for a schedule
    NodeDB(node)                                    # read-only sqlite3 look at a node's database
    RoguePeer(me, target)                           # speaks as `me` (its real keys) to `target`, byte by byte
    RecordingProxy(target_port)                     # forwards HTTP and keeps every body and status;
                                                    # drop_answers: paths whose answers it loses;
                                                    # replay: paths answered with an earlier answer_to(path)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import http.client
import json
import re
import socket
import sqlite3
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from conftest import EVERY_DENIAL_VERSION, sample_denial
from nodeproc import NodeProcess, free_port

from federation.batch import Recipient, Sender, seal_batch, sign_item
from federation.canonical import canonical_bytes
from federation.http_signature import sign_request
from federation.identity import current_key
from federation.keys import ENC
from node.clients import ClientRegistry
from node.config import Settings, read_settings, write_settings
from node.database import DB_NAME, connect
from node.datadir import initialise
from node.inbound import received_signature
from node.keyring import IDENTITY_NAME, Keyring
from node.peers import PeerRegistry

NAMES = {"MT": "Malta", "DE": "Germany", "TN": "Tunisia", "NL": "Netherlands", "FR": "France"}


def share_policy(members) -> str:
    """Share every denial with ``members``, exporter withheld; accept denials from them."""
    listed = ", ".join(f'"{member}"' for member in members)
    return f"""version: 1
description: test federation, every denial shared among the members without the exporter
groups:
  testnet:
    members: [{listed}]
views:
  no-exporter:
    redact: []
    redact_roles: [exporter]
rules:
  - name: share-denials
    match:
      record_type: denial
      peer_group: testnet
    action: share
    view: no-exporter
inbound:
  - name: denials-in
    peer_group: testnet
    record_types: denial
    max_bytes: 262144
"""


def parallel(*calls):
    """Run the callables at once (each in a thread); return their results, re-raising the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def wait_for(check, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def update_settings(data_dir: Path, **changes) -> None:
    """Rewrite a node's cordon.toml with some settings changed (before the node starts)."""
    settings = dataclasses.replace(read_settings(data_dir), **changes)
    write_settings(data_dir, settings)


def init_data_dir(data_dir: Path, node_id: str, port: int | None = None, **settings) -> Keyring:
    """Initialise a node's data directory in-process (what ``cordon init`` does), without starting it."""
    port = port or free_port()
    config = Settings(node_id=node_id, name=NAMES.get(node_id, node_id), base_url=f"http://127.0.0.1:{port}",
                      **settings)
    return initialise(Path(data_dir), config, dt.datetime.now(dt.timezone.utc))


def identity_file(node: NodeProcess) -> tuple[Path, str]:
    """Write the node's identity document with ``cordon identity -o``; return (file, fingerprint)."""
    path = node.data_dir.parent / f"{node.node_id}-identity-{int(time.time() * 1000)}.json"
    result = node.cli("identity", "--output", str(path))
    match = re.search(r"fingerprint: ([0-9A-Z-]+)", result.stderr)
    assert match, result.stderr
    return path, match.group(1)


def peer(adder: NodeProcess, other: NodeProcess, document: tuple[Path, str] | None = None) -> str:
    """``adder`` adds ``other`` as a peer, confirming the printed fingerprint."""
    path, fp = document or identity_file(other)
    out = adder.cli("peers", "add", str(path), "--fingerprint", fp).stdout
    assert f"added peer {other.node_id}" in out, out
    return fp


def add_peer(data_dir: Path, document: tuple[Path, str], actor: str = "admin") -> str:
    """What ``cordon peers add FILE --fingerprint FP`` does (``PeerRegistry.add``), in this process.

    The node must not be running. For set-ups with many peers, where a CLI process per pair is slow.
    """
    path, fp = document
    signed = json.loads(Path(path).read_text(encoding="utf-8"))
    db = connect(Path(data_dir) / DB_NAME)
    try:
        return PeerRegistry(db, read_settings(data_dir).node_id).add(signed, fp, actor=actor).fingerprint
    finally:
        db.conn.close()


class HungPeer:
    """Accepts connections on a loopback port, reads what is sent and never answers."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.held = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"hung-{port}", daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.held.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.held)

    def close(self):
        self.sock.close()
        with self._lock:
            for conn in self.held:
                conn.close()


class NodeDB:
    """Read-only access to a node's SQLite database, as an administrator with sqlite3 would look."""

    def __init__(self, node):
        self.path = Path(getattr(node, "data_dir", node)) / DB_NAME

    def rows(self, sql: str, params=()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def value(self, sql: str, params=()):
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def signed_item(self, uid: str, node_id: str) -> str | None:
        """The origin's signed item by which the node ``node_id`` holds ``uid`` (``received_signature``)."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return received_signature(conn, node_id, uid)
        finally:
            conn.close()

    def refusals(self, code: str | None = None, path: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM refusals WHERE 1 = 1", []
        if code is not None:
            sql += " AND code = ?"
            args.append(code)
        if path is not None:
            sql += " AND path = ?"
            args.append(path)
        return self.value(sql, args)

    def refusal_codes(self) -> dict[str, int]:
        return dict(self.rows("SELECT code, count(*) FROM refusals GROUP BY code"))

    def holds(self, uid: str) -> dict:
        """Everything this node keeps about one record uid."""
        return {
            "denials": self.rows("SELECT version, status, doc FROM denials WHERE uid = ?", [uid]),
            "versions": self.rows(f"SELECT version FROM {EVERY_DENIAL_VERSION} WHERE uid = ? ORDER BY version", [uid]),
            "received": self.rows("SELECT origin, version, rev, kind, received_at, signature FROM received "
                                  "WHERE uid = ?", [uid]),
        }

    def stored_nothing(self, uid: str) -> bool:
        held = self.holds(uid)
        return not (held["denials"] or held["versions"] or held["received"])

    def peer_state(self, peer_id: str) -> dict:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM peer_state WHERE node_id = ?", [peer_id]).fetchone()
            return dict(row) if row else {}
        finally:
            conn.close()

    def peer_document(self, peer_id: str) -> dict | None:
        text = self.value("SELECT identity FROM peers WHERE node_id = ? AND removed_at IS NULL", [peer_id])
        return json.loads(text)["document"] if text else None


class RecordingProxy:
    """A small forwarding HTTP proxy in front of one node that keeps every request and response body.

    For a path in ``drop_answers`` it forwards the request and keeps the node's answer, then closes the
    connection without passing the answer on: the node acted on a request whose sender saw no answer.
    For a path in ``replay`` it answers, without forwarding, with the answer given there (one it recorded
    before: ``answer_to(path)``), as someone on the network replaying an earlier answer would."""

    def __init__(self, target_port: int, port: int | None = None):
        self.target_port = target_port
        self.port = port or free_port()
        self.drop_answers: set[str] = set()
        self.replay: dict[str, tuple] = {}
        self.exchanges: list[dict] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _forward(self):
                started = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                replayed = proxy.replay.get(self.path)
                if replayed is not None:
                    status, reply_headers, answer = replayed
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        response = conn.getresponse()
                        answer = response.read()
                        status, reply_headers = response.status, response.getheaders()
                    except OSError:
                        status, reply_headers, answer = 502, [], b""
                    finally:
                        conn.close()
                with proxy._lock:
                    proxy.exchanges.append({"method": self.command, "path": self.path, "request": body,
                                            "status": status, "response": answer, "headers": reply_headers,
                                            "started": started, "finished": time.time()})
                if self.path in proxy.drop_answers:
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"proxy-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RecordingProxy":
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer_to(self, path: str) -> tuple:
        """(status, headers, body) of the last answer the node gave to a request for ``path``."""
        with self._lock:
            last = [exchange for exchange in self.exchanges if exchange["path"] == path][-1]
        return last["status"], last["headers"], last["response"]

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [b for exchange in self.exchanges for b in (exchange["request"], exchange["response"])]


class Federation:
    """Several real nodes on loopback, each with its own data directory, keys and share policy.

    ``settings`` maps a node id (or ``"*"`` for all) to Settings fields, e.g.
    ``{"MT": {"push_interval_seconds": 3600}}``. With ``proxied`` every node's base URL is a
    RecordingProxy in front of it, so every body exchanged between nodes is kept.
    """

    def __init__(self, root: Path, ids=("MT", "DE", "TN"), *, settings: dict | None = None, proxied: bool = False,
                 policy_members=None):
        self.root = Path(root)
        self.ids = tuple(ids)
        self.settings = settings or {}
        self.proxied = proxied
        self.policy_members = tuple(policy_members or ids)
        self.nodes: dict[str, NodeProcess] = {}
        self.proxies: dict[str, RecordingProxy] = {}
        self.fingerprints: dict[str, str] = {}
        self.documents: dict[str, Path] = {}
        self._clients: dict[str, tuple[str, str]] = {}
        self._sessions: dict[str, requests.Session] = {}

    def init(self) -> "Federation":
        """Data directories (settings, database, keys, identity), the share policy and an API client each."""
        for node_id in self.ids:
            data_dir = self.root / node_id.lower()
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            if self.proxied:
                base_url = (self.proxies.setdefault(node_id, RecordingProxy(port).start())).url
            overrides = {**self.settings.get("*", {}), **self.settings.get(node_id, {})}
            settings = Settings(node_id=node_id, name=NAMES.get(node_id, node_id), base_url=base_url,
                                listen=f"127.0.0.1:{port}", **overrides)
            keyring = initialise(data_dir, settings, dt.datetime.now(dt.timezone.utc))
            (data_dir / "policy.yaml").write_text(share_policy(self.policy_members), encoding="utf-8")
            db = connect(data_dir / DB_NAME)
            try:
                client, secret = ClientRegistry(db).create(f"fed-{node_id.lower()}", ["read", "publish", "admin"],
                                                           actor="test")
            finally:
                db.conn.close()
            self._clients[node_id] = (client.client_id, secret)
            self.fingerprints[node_id] = keyring.fingerprint()
            self.documents[node_id] = data_dir / IDENTITY_NAME
            self.nodes[node_id] = NodeProcess(data_dir, node_id, NAMES.get(node_id, node_id), port=port)
        return self

    def peer_all(self) -> "Federation":
        """Every node adds every other one with ``cordon peers add FILE --fingerprint FP``.

        Nodes add their peers at the same time, each node one peer after the other (two
        commands on one data directory at once could both try to apply a pending migration).
        """
        def add_all(adder):
            for other in self.ids:
                if other != adder:
                    peer(self.nodes[adder], self.nodes[other], (self.documents[other], self.fingerprints[other]))

        parallel(*[lambda a=a: add_all(a) for a in self.ids])
        return self

    def peer_star(self, hub: str, spokes=None) -> "Federation":
        """``hub`` and each other node (or each of ``spokes``) add each other; spokes do not peer among
        themselves. In-process (``add_peer``), each fingerprint confirmed as with ``cordon peers add``."""
        for spoke in spokes or [node_id for node_id in self.ids if node_id != hub]:
            add_peer(self.nodes[hub].data_dir, (self.documents[spoke], self.fingerprints[spoke]))
            add_peer(self.nodes[spoke].data_dir, (self.documents[hub], self.fingerprints[hub]))
        return self

    def __getitem__(self, node_id: str) -> NodeProcess:
        return self.nodes[node_id]

    def start(self, *ids, timeout: float = 90) -> "Federation":
        parallel(*[lambda n=n: self.nodes[n].start(timeout=timeout) for n in (ids or self.ids)])
        return self

    def stop(self, *ids) -> None:
        parallel(*[lambda n=n: self.nodes[n].stop() for n in (ids or self.ids)])

    def close(self) -> None:
        self.stop()
        for proxy in self.proxies.values():
            proxy.close()

    # -- the local API of each node --------------------------------------------------
    def api(self, node_id: str) -> requests.Session:
        """A session on ``node_id``'s local API with a read, publish and admin token."""
        session = self._sessions.get(node_id)
        if session is None:
            response = requests.post(self.nodes[node_id].url + "/oauth/token",
                                     data={"grant_type": "client_credentials"}, auth=self._clients[node_id],
                                     timeout=30)
            assert response.status_code == 200, response.text
            session = self._sessions[node_id] = requests.Session()
            session.headers["Authorization"] = "Bearer " + response.json()["access_token"]
        return session

    def url(self, node_id: str, path: str) -> str:
        return self.nodes[node_id].url + path

    def publish(self, node_id: str, ref: str | None = None, **overrides) -> dict:
        ref = ref or f"{node_id}/DEN/T/{uuid.uuid4().hex[:10]}"
        response = self.api(node_id).post(self.url(node_id, "/api/v1/denials"), json=sample_denial(ref, **overrides),
                                          timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    def revoke(self, node_id: str, uid: str, reason: str = "Licence later granted on appeal") -> dict:
        response = self.api(node_id).post(self.url(node_id, f"/api/v1/denials/{uid}/revoke"), json={"reason": reason},
                                          timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, node_id: str, uid: str) -> dict | None:
        response = self.api(node_id).get(self.url(node_id, f"/api/v1/denials/{uid}"), timeout=30)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def listed(self, node_id: str, origin: str) -> dict[str, dict]:
        """Every denial of ``origin`` listed by ``node_id``'s API, by uid."""
        found, cursor = {}, None
        while True:
            params = {"origin": origin, "limit": 500, **({"cursor": cursor} if cursor else {})}
            response = self.api(node_id).get(self.url(node_id, "/api/v1/denials"), params=params, timeout=30)
            assert response.status_code == 200, response.text
            body = response.json()
            found.update({item["uid"]: item for item in body["items"]})
            cursor = body["next_cursor"]
            if not cursor:
                return found

    def wait_visible(self, node_id: str, uid: str, version: int = 1, timeout: float = 30.0) -> dict:
        """Poll ``node_id``'s API until it shows ``uid`` at ``version`` (or later)."""
        def check():
            doc = self.get(node_id, uid)
            return doc if doc and doc["version"] >= version else None

        return wait_for(check, timeout, f"{uid} v{version} at {node_id}")

    def wait_gone(self, node_id: str, uid: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.get(node_id, uid) is None, timeout, f"{uid} to disappear at {node_id}")


def start_federation(root: Path, ids=("MT", "DE", "TN"), **options) -> Federation:
    """Init every node, give each the share policy, peer all pairs both ways, start the processes."""
    return Federation(root, ids, **options).init().peer_all().start()


# -- speaking as a peer, byte by byte ------------------------------------------------------


class RoguePeer:
    """Crafts raw peer requests as node ``me`` (its real keys from its data directory) towards ``target``.

    Everything is built with the federation wire primitives, so each test can break
    exactly one thing and leave the rest valid.
    """

    def __init__(self, me: NodeProcess, target: NodeProcess, *, target_url: str | None = None):
        self.me = me
        self.target = target
        keyring = Keyring(me.data_dir)
        self.keyring = keyring
        self.sig_kid, self.sig_key = keyring.signing_key()
        self.enc_kid, self.enc_key = keyring.encryption_key()
        self.sender = Sender(me.node_id, self.sig_kid, self.sig_key, self.enc_kid, self.enc_key)
        target_doc = Keyring(target.data_dir).signed_identity()["document"]
        self.target_url = target_url or target_doc["base_url"]
        self.recipient = self.recipient_for(target_doc)
        self._rev = int(time.time() * 1000) % 10_000_000

    @staticmethod
    def recipient_for(document: dict) -> Recipient:
        key = current_key(document, ENC)
        return Recipient(document["node_id"], key.kid, key.public_key())

    def next_rev(self) -> int:
        self._rev += 1
        return self._rev

    def view(self, uid: str | None = None, *, version: int = 1, origin: str | None = None, **fields) -> dict:
        """A denial view as the origin would send it (exporter withheld)."""
        doc = sample_denial(f"{self.me.node_id}/DEN/R/{uuid.uuid4().hex[:10]}", **fields)
        doc["parties"] = [party for party in doc["parties"] if party["role"] != "exporter"]
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc.update(uid=uid or str(uuid.uuid4()), origin=origin or self.me.node_id, version=version,
                   status="active", sensitivity="restricted", created_at=now, updated_at=now,
                   review_due="2029-03-02")
        return doc

    def item(self, view: dict, *, kind: str = "record", rev: int | None = None, recipient: str | None = None,
             sender: Sender | None = None, now=None) -> str:
        return sign_item(sender or self.sender, kind=kind, record_type="denial",
                         recipient=recipient or self.target.node_id, rev=rev or self.next_rev(), view=view,
                         now=now or dt.datetime.now(dt.timezone.utc))

    def seal(self, items: list[str], *, recipient: Recipient | None = None, next_cursor=None, more=False,
             after=None) -> dict:
        return seal_batch(self.sender, recipient or self.recipient, items, next_cursor, more, after=after)

    def signed(self, path: str, body, *, destination: str | None = None, created=None, nonce: str | None = None,
               key=None, kid: str | None = None, url: str | None = None) -> tuple[str, dict, bytes]:
        """(url, headers, raw body) of a request signed per RFC 9421, as PeerClient signs it."""
        raw = body if isinstance(body, bytes) else canonical_bytes(body)
        url = url or self.target_url + path
        headers = {"Content-Type": "application/json", "Cordon-Sender": self.me.node_id}
        headers.update(sign_request("POST", url, headers, raw, key=key or self.sig_key, keyid=kid or self.sig_kid,
                                    destination=destination or self.target.node_id,
                                    now=created if created is not None else dt.datetime.now(dt.timezone.utc),
                                    nonce=nonce))
        return url, headers, raw

    @staticmethod
    def send(url: str, headers: dict, raw: bytes) -> requests.Response:
        return requests.post(url, data=raw, headers=headers, timeout=30)

    def post(self, path: str, body, **options) -> requests.Response:
        return self.send(*self.signed(path, body, **options))

    def push(self, items: list[str], **options) -> requests.Response:
        return self.post("/federation/v1/push", self.seal(items), **options)

