"""The node's record exchange with its peers: push, pull, serving pulls, receiving pushes,
identity announcements, and the background push worker.

One :class:`Exchange` serves one runtime (the served app, or a CLI command).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import logging
import threading

import orjson

from federation.batch import Sender, cursor_position
from federation.canonical import canonical_bytes
from federation.errors import FederationError
from federation.peer_client import PeerClient, PeerRefused, PeerUnavailable

from .database import BulkWork, write_transaction
from .errors import ValidationFailed
from .inbound import PeerRequestRefused, Receipt, RecordIntake
from .outbound import BatchBuilder, push_to
from .peers import PeerRegistry
from .pull_stages import PullStages
from .runtime import NodeRuntime
from .timestamps import parse_iso, to_iso, utc_now

log = logging.getLogger("cordon.exchange")

COORDINATOR = "coordinator"


class Exchange:
    def __init__(self, runtime: NodeRuntime, *, on_stored=None, on_result=None):
        self.runtime = runtime
        self.on_stored = on_stored
        self.on_result = on_result  # on_result("push" | "pull", summary) after each attempt, e.g. for metrics
        self._sessions = threading.local()

    # -- building blocks ----------------------------------------------------
    @property
    def node_id(self) -> str:
        return self.runtime.node_id

    def sender(self) -> Sender:
        keyring = self.runtime.keyring
        sig_kid, sig_key = keyring.signing_key()
        enc_kid, enc_key = keyring.encryption_key()
        return Sender(self.node_id, sig_kid, sig_key, enc_kid, enc_key)

    def registry(self) -> PeerRegistry:
        return PeerRegistry(self.runtime.db(), self.node_id)

    def builder(self) -> BatchBuilder:
        return BatchBuilder(self.runtime.db(), self.node_id, self.sender(), self.runtime.policies.current())

    def intake(self, db=None) -> RecordIntake:
        """Opens, verifies and stores received batches; ``db``: a connection other than this thread's."""
        db = db or self.runtime.db()
        return RecordIntake(db, self.node_id, self.runtime.keyring.encryption_keys(), PeerRegistry(db, self.node_id),
                            self.runtime.policies.current(), on_stored=self.on_stored)

    def client(self, peer, timeout: float | None = None) -> PeerClient:
        import requests

        sessions = getattr(self._sessions, "by_peer", None)
        if sessions is None:
            sessions = self._sessions.by_peer = {}
        session = sessions.get(peer.node_id)
        if session is None:
            session = sessions[peer.node_id] = requests.Session()
        return PeerClient(me=self.node_id, signer=self.runtime.keyring.signing_key, peer_id=peer.node_id,
                          base_url=peer.base_url, timeout=timeout or self.runtime.settings.peer_timeout_seconds,
                          session=session)

    def peers(self, peer_id: str | None = None):
        """The peers this node exchanges records with: members only; a coordinator node exchanges with none."""
        if self.runtime.settings.role == COORDINATOR:
            return []
        registry = self.registry()
        if peer_id:
            peer = registry.require(peer_id)
            if peer.role == COORDINATOR:
                raise ValidationFailed(f"{peer.node_id} is the coordinator; it takes no part in record exchange",
                                       fields={"peer": "the coordinator"})
            return [peer]
        return [peer for peer in registry.active() if peer.role != COORDINATOR]

    def report(self, direction: str, result: dict) -> dict:
        if self.on_result is not None:
            self.on_result(direction, result)
        return result

    def refuse_coordinator(self, peer) -> None:
        """Records move between members only: refuse any exchange with or at a coordinator."""
        if self.runtime.settings.role == COORDINATOR or peer.role == COORDINATOR:
            raise PeerRequestRefused("coordinator_exchange", peer.node_id, status=403)

    # -- outgoing -------------------------------------------------------------
    def push(self, peer_id: str | None = None, *, force: bool = False) -> list[dict]:
        results = []
        db = self.runtime.db()
        states = self.registry().states()
        for peer in self.peers(peer_id):
            due = states.get(peer.node_id, {}).get("next_attempt_at")
            if not force and due and parse_iso(due) > utc_now():
                results.append({"peer": peer.node_id, "ok": False, "skipped": "backing off until " + due})
                continue
            result = self._push(db, peer, retried_on_401=True)
            # Refused with 401: the peer may not know this node's current keys yet; announce, and try once more.
            status = result.pop("status", None)
            if status == 401 and self.announce_to(peer):
                result = self._push(db, peer)
                result.pop("status", None)
            elif status == 401:
                log.warning("push to %s refused with 401, and this node's identity could not be announced to it",
                            peer.node_id)
            results.append(self.report("push", result))
        return results

    def _push(self, db, peer, *, retried_on_401: bool = False) -> dict:
        return push_to(db, self.builder(), peer, self.client(peer), batch_size=self.runtime.settings.sync_batch_size,
                       now_fn=utc_now, max_body_bytes=self.runtime.settings.max_body_bytes,
                       retried_on_401=retried_on_401)

    def pull(self, peer_id: str | None = None, *, max_batches: int = 100000) -> list[dict]:
        results = []
        for peer in self.peers(peer_id):
            results.append(self.report("pull", self.pull_from(peer, max_batches=max_batches)))
        return results

    def pull_from(self, peer, *, max_batches: int = 100000) -> dict:
        """Pull the peer's changes after our cursor.

        An answer sealed with a key we do not know means the peer rotated its keys
        while it could not tell us: learn its identity (accepted only through the
        signed chain from the one we trust) and try once more. A request the peer
        refuses with 401 may be signed by a key it does not know yet (this node
        rotated while the peer could not be told): announce, and try once more.
        """
        result = self._pull(peer, max_batches, retried=True)
        code, status = result.pop("code", None), result.pop("status", None)
        if (code == "unknown_key" and self.learn_identity(peer)) or (status == 401 and self.announce_to(peer)):
            result = self._pull(self.registry().require(peer.node_id), max_batches)
            result.pop("code", None)
            result.pop("status", None)
        elif code == "unknown_key" or status == 401:
            log.warning("pull from %s failed: %s", peer.node_id, result.get("error"))
        return result

    def _pull(self, peer, max_batches: int, *, retried: bool = False) -> dict:
        """Pull batch after batch (``node.pull_stages``: the next batch is asked for and verified while
        this one is stored); each cursor is stored with its own batch only. From the first batch that
        says more follow, the pull holds the bulk-work marker: the name indexer and the licence-flag job
        wait until it ends."""
        db = self.runtime.db()
        totals = Receipt()
        batches = 0
        cursor, epoch = db.execute("SELECT pull_cursor, pull_epoch FROM peer_state WHERE node_id = ?",
                                   [peer.node_id]).fetchone()
        intake = self.intake()
        try:
            with contextlib.ExitStack() as bulk, PullStages(self, peer, cursor, max_batches) as stages:
                for batch, verified in stages:
                    next_cursor = batch.next_cursor or cursor or "0"
                    batches += 1
                    if batch.more and batches == 1:
                        bulk.enter_context(BulkWork(self.runtime.data_dir))
                    receipt = intake.store_verified(peer.node_id, verified, utc_now(), cursor_update=next_cursor,
                                                    cursor_from=(cursor, epoch))
                    stages.stored(next_cursor)
                    totals.stored += receipt.stored
                    totals.unchanged += receipt.unchanged
                    totals.dropped += receipt.dropped
                    totals.refused += receipt.refused
                    cursor = next_cursor
        except (PeerUnavailable, PeerRefused, PeerRequestRefused) as exc:
            with write_transaction(db):
                db.execute("UPDATE peer_state SET pull_failures = pull_failures + 1, last_pull_error = ? "
                           "WHERE node_id = ?", [str(exc), peer.node_id])
            if retried and (exc.code == "unknown_key" or getattr(exc, "status", None) == 401):
                log.info("pull from %s: %s; this node learns or announces identities and tries once more",
                         peer.node_id, exc)
            else:
                log.warning("pull from %s failed: %s", peer.node_id, exc)
            return {"peer": peer.node_id, "ok": False, "error": str(exc), "code": exc.code,
                    "status": exc.status if isinstance(exc, PeerRefused) else None, **totals.to_dict()}
        return {"peer": peer.node_id, "ok": True, "batches": batches, **totals.to_dict()}

    def request_changes(self, peer, cursor, stored) -> dict:
        """POST /changes after ``cursor`` (``stored``: the cursor already stored here); the sealed answer as
        JSON. Uses no database connection: it runs in the pull's fetcher thread."""
        body = {"cursor": cursor, "limit": self.runtime.settings.sync_batch_size}
        if stored != cursor:
            body["stored"] = stored
        answer = self.client(peer, timeout=max(30.0, self.runtime.settings.peer_timeout_seconds)).post_for_body(
            "/federation/v1/changes", body)
        try:
            return orjson.loads(answer)
        except ValueError:
            raise PeerUnavailable(f"{peer.node_id} sent a body that is not JSON") from None

    def sync(self, peer_id: str | None = None) -> list[dict]:
        pushed = self.push(peer_id, force=True)
        pulled = self.pull(peer_id)
        return [{"peer": p["peer"], "push": p, "pull": q} for p, q in zip(pushed, pulled)]

    def announce_to(self, peer) -> bool:
        """Send this node's current signed identity (after a rotation or revocation); when the peer refuses it
        (it missed an identity in between that it needs, such as the one that retired a key revoked since),
        the chain of every identity this node issued, which it follows step by step."""
        client, keyring = self.client(peer), self.runtime.keyring
        try:
            try:
                client.post("/federation/v1/identity", keyring.signed_identity())
            except PeerRefused as exc:
                chain = keyring.chain()
                if exc.status != 401 or len(chain) < 2:
                    raise
                client.post("/federation/v1/identity", {"chain": chain})
            return True
        except (PeerUnavailable, PeerRefused) as exc:
            log.warning("identity announcement to %s failed: %s", peer.node_id, exc)
            return False

    def learn_identity(self, peer) -> bool:
        """Fetch the peer's published chain of identities; accept the newest that chains from the trusted one."""
        try:
            client = self.client(peer)
            try:
                chain = client.get_identity_chain()
            except PeerUnavailable as exc:
                if exc.status != 404:  # a peer of an earlier version publishes its current identity only
                    raise
                chain = [client.get_identity()]
            accepted = self.registry().accept_identity(peer.node_id, chain, actor=f"peer:{peer.node_id}")
        except PeerUnavailable as exc:
            log.warning("could not learn a new identity of %s: %s", peer.node_id, exc)
            return False
        except (FederationError, ValueError) as exc:
            log.warning("could not learn a new identity of %s: %s; if the identity this node trusts is outdated "
                        "(compare the serial in 'cordon peers list' with 'cordon identity' on %s), remove the peer "
                        "and add it again from its current identity document", peer.node_id, exc, peer.node_id)
            return False
        serial = accepted.document["serial"]
        if serial <= peer.document["serial"]:
            return False
        log.info("accepted identity serial %d of %s through its signed chain", serial, peer.node_id)
        return True

    def announce(self) -> dict[str, bool]:
        return {peer.node_id: self.announce_to(peer) for peer in self.registry().active()}

    # -- incoming (called by the federation routes) ------------------------------------
    def serve_changes(self, peer_id: str, body: dict, now: dt.datetime) -> dict:
        """Answer a pull: the sealed batch after ``cursor``. ``stored`` (optional, default ``cursor``) is the
        cursor the requester has stored; a requester that asks ahead while it stores the previous batch sends
        it, and push then skips only what the requester already holds."""
        cursor, limit = body.get("cursor"), body.get("limit", self.runtime.settings.sync_batch_size)
        stored = body.get("stored", cursor)
        try:
            after, held = cursor_position(cursor), cursor_position(stored)
            if type(limit) is not int or not 1 <= limit <= 5000 or not held <= after:
                raise ValueError
        except ValueError:
            raise ValidationFailed("bad pull request", fields={"cursor": "must be a cursor this node issued",
                                                               "stored": "a cursor not after cursor",
                                                               "limit": "1-5000"}) from None
        db = self.runtime.db()
        peer = self.registry().require(peer_id)
        self.refuse_coordinator(peer)
        builder = self.builder()
        out = builder.build(peer, after, limit, now)
        with write_transaction(db):
            builder.record_disclosures(peer_id, out.entries, "pull", now)
            db.execute("UPDATE peer_state SET last_served_pull = ?, push_cursor = max(push_cursor, ?) "
                       "WHERE node_id = ?", [to_iso(now), held, peer_id])
        return out.envelope

    def receive_push(self, peer_id: str, envelope: dict, now: dt.datetime) -> dict:
        self.refuse_coordinator(self.registry().require(peer_id))
        intake = self.intake()
        batch = intake.open(peer_id, envelope)
        return intake.store(peer_id, batch, now, pushed=True).to_dict()

    def receive_identity(self, peer_id: str, chain: list[dict]) -> None:
        try:
            self.registry().accept_identity(peer_id, chain, actor=f"peer:{peer_id}")
        except FederationError as exc:
            raise PeerRequestRefused(exc.code, peer_id) from None


class PushWorker:
    """Background thread: pushes to peers soon after a change, and retries with backoff."""

    def __init__(self, exchange: Exchange, interval: float):
        self.exchange = exchange
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="cordon-push")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cordon-push-worker", daemon=True)
        self._thread.start()

    def wake(self, *_args) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                peers = self.exchange.peers()
                futures = [self._pool.submit(self.exchange.push, peer.node_id) for peer in peers]
                concurrent.futures.wait(futures)
            except Exception:  # noqa: BLE001 - the worker must survive anything and retry later
                log.exception("push round failed")


def request_body(data: bytes) -> dict:
    import json

    try:
        body = json.loads(data)
    except ValueError:
        raise ValidationFailed("the body is not JSON", fields={"body": "not JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
    return body


def echoing_request(body: dict, answer: dict) -> dict:
    """``answer`` with the asker's ``request_id`` when ``body`` carries one (a string of 1-128 characters):
    it binds a sealed answer to its request, so the asker tells an answer replayed from an earlier request
    apart (live queries, health polls)."""
    request_id = body.get("request_id")
    if isinstance(request_id, str) and 0 < len(request_id) <= 128:
        answer["request_id"] = request_id
    return answer


__all__ = ["Exchange", "PushWorker", "request_body", "echoing_request", "canonical_bytes"]
