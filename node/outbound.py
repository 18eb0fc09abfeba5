"""What leaves this node for a peer: batches built from the change log through the policy,
the disclosure ledger, push with backoff, and pull.

A peer's *outbox* is the part of this node's change log after that peer's
push cursor (``peer_state.push_cursor``): durable by construction, and a
restart loses nothing. Each change is reconciled against the policy and the
ledger of what the peer already holds: a shared record goes out as its
policy view; a revoked or expired record, or one the peer may no longer
see, goes out as a tombstone if the peer ever received it; otherwise
nothing leaves. Only this node's own records are ever sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging

import sqlite_utils

from federation.backoff import next_attempt
from federation.batch import Sender, encode_item, seal_batch, tombstone_view
from federation.canonical import canonical_bytes
from federation.keys import unix_seconds
from federation.peer_client import PeerRefused, PeerUnavailable

from . import json_text
from .database import write_transaction
from .peers import Peer
from .timestamps import to_iso

log = logging.getLogger("cordon.outbound")

SYNCED_TYPES = ("denial",)


@dataclasses.dataclass
class Outgoing:
    envelope: dict
    last_seq: int
    more: bool
    entries: list[tuple]  # (record_type, uid, version, rev, kind, view_hash)
    size: int = 0  # bytes of the signed items


def push_budget(max_body_bytes: int) -> int:
    """Bytes of signed items that fit a push body of ``max_body_bytes`` once batched, sealed and base64url-encoded."""
    return max(1, (max_body_bytes - 4096) * 3 // 4)


def view_hash(view: dict) -> str:
    return hashlib.sha256(canonical_bytes(view)).hexdigest()


class BatchBuilder:
    def __init__(self, db: sqlite_utils.Database, node_id: str, sender: Sender, policy):
        self.db = db
        self.node_id = node_id
        self.sender = sender
        self.policy = policy

    def max_seq(self) -> int:
        return self.db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]

    def build(self, peer: Peer, after: int, limit: int, now: dt.datetime, *, max_bytes: int | None = None) -> Outgoing:
        """The next batch for ``peer`` after change ``after``: at most ``limit`` changes and, when ``max_bytes``
        is given, signed items of at most that many bytes (always at least one item)."""
        rows = self.db.execute(
            "SELECT seq, record_type, uid FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", [after, limit]
        ).fetchall()
        last_seq = rows[-1][0] if rows else after
        more = bool(rows) and self.db.execute("SELECT 1 FROM changes WHERE seq > ? LIMIT 1", [last_seq]).fetchone() is not None
        latest: dict[str, tuple[int, str]] = {}
        for seq, record_type, uid in rows:
            if record_type in SYNCED_TYPES:
                latest[uid] = (seq, record_type)
        texts, holdings = self._load(peer.node_id, list(latest))
        items, entries, size = [], [], 0
        signed_at = unix_seconds(now)  # every item of the batch is signed at the same second
        for uid, (seq, record_type) in sorted(latest.items(), key=lambda kv: kv[1][0]):
            text = texts.get(uid)
            if text is None:
                continue
            # Each document is read, decided, encoded and signed before the next is read: one document's
            # objects at a time stay in the processor's caches, and the collector has little to walk.
            doc = json_text.loads(text)
            if doc["origin"] != self.node_id:
                continue
            held = holdings.get(uid)
            peer_holds = held is not None and held[0] == "record"
            if doc["status"] in ("revoked", "expired"):
                if not peer_holds:
                    continue
                kind, view = "tombstone", tombstone_view(doc, doc["status"])
            else:
                decision = self.policy.decide(doc, record_type, peer.node_id)
                if decision.action == "share":
                    kind, view = "record", decision.view(doc, copy=False)  # encoded at once; doc is not kept
                elif peer_holds:
                    kind, view = "tombstone", tombstone_view(doc, "withdrawn")
                else:
                    continue
            jws, view_bytes = encode_item(self.sender, kind=kind, record_type=record_type, recipient=peer.node_id,
                                          rev=seq, view=view, now=signed_at, parsed=True)
            if max_bytes is not None and items and size + len(jws) + 3 > max_bytes:
                # Full: end the batch before this change. Every earlier change is in it or superseded by a
                # later change of the same record, which a following batch carries.
                last_seq, more = seq - 1, True
                break
            items.append(jws)
            size += len(jws) + 3
            entries.append((record_type, uid, doc["version"], seq, kind, hashlib.sha256(view_bytes).hexdigest()))
        envelope = seal_batch(self.sender, peer.recipient(), items, str(last_seq), more, after=str(after))
        return Outgoing(envelope, last_seq, more, entries, size)

    def _load(self, peer_id: str, uids: list[str]) -> tuple[dict[str, str], dict[str, tuple]]:
        """The stored JSON text of these denials, and what the peer holds of them."""
        texts, holdings = {}, {}
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            texts.update(self.db.execute(f"SELECT uid, doc FROM denials WHERE uid IN ({marks})", chunk))
            for uid, kind, version in self.db.execute(
                    f"SELECT uid, kind, version FROM holdings WHERE peer = ? AND uid IN ({marks})", [peer_id, *chunk]):
                holdings[uid] = (kind, version)
        return texts, holdings

    def record_disclosures(self, peer_id: str, entries: list[tuple], channel: str, now: dt.datetime, *,
                           holdings: bool = True) -> None:
        """The ledger: what each peer was sent, which version, when (``holdings``: and what it holds now, unless
        written before the sending). Call inside a write transaction."""
        if holdings:
            self.record_holdings(peer_id, entries, now)
        stamp = to_iso(now)
        self.db.conn.executemany(
            "INSERT INTO disclosures (peer, record_type, uid, version, kind, view_hash, channel, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(peer_id, rtype, uid, version, kind, vhash, channel, stamp) for rtype, uid, version, _, kind, vhash in entries])

    def record_holdings(self, peer_id: str, entries: list[tuple], now: dt.datetime) -> None:
        """What the peer holds (or may hold) of these records now. Call inside a write transaction."""
        stamp = to_iso(now)
        self.db.conn.executemany(
            "INSERT INTO holdings (peer, uid, record_type, version, rev, kind, view_hash, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (peer, uid) DO UPDATE SET version = excluded.version, rev = excluded.rev, "
            "kind = excluded.kind, view_hash = excluded.view_hash, at = excluded.at",
            [(peer_id, uid, rtype, version, rev, kind, vhash, stamp) for rtype, uid, version, rev, kind, vhash in entries])


def push_to(db: sqlite_utils.Database, builder: BatchBuilder, peer: Peer, client, *, batch_size: int,
            now_fn, max_batches: int = 1000, max_body_bytes: int = 1_048_576, retried_on_401: bool = False) -> dict:
    """Send this peer everything after its push cursor. Returns a summary; failures set backoff state.

    Each push body stays within ``max_body_bytes`` (this node's own request limit, which peers are expected
    to share); a peer that still answers 413 gets the same changes again in halves. ``retried_on_401``: the
    caller tries once more at once if the peer answers 401, so that answer is logged as a step, not a failure.
    """
    sent = batches = requests = 0  # requests: pushes actually made (a round with nothing to send makes none)
    refused: dict[str, int] = {}  # items the peer refused, by its refusal code (its receipts)
    unanswered = None  # the batch sent when no answer came
    budget = push_budget(max_body_bytes)
    cursor, failing = db.execute("SELECT push_cursor, failures FROM peer_state WHERE node_id = ?",
                                 [peer.node_id]).fetchone()
    failed_before = failing
    try:
        while batches < max_batches and cursor < builder.max_seq():
            now = now_fn()
            out = builder.build(peer, cursor, batch_size, now, max_bytes=budget)
            # A batch with nothing for this peer is sent only while pushes to it are failing: its answer
            # is what shows the peer is back.
            contact = bool(out.entries) or bool(failing)
            records = [entry for entry in out.entries if entry[4] == "record"]
            tombstones = [entry for entry in out.entries if entry[4] != "record"]
            if records:
                # Possibly held from now on: a push whose answer is lost may have been stored (and the peer's
                # pull cursor moved past it), so a later revocation or withdrawal of these records must still
                # be sent to the peer as a tombstone. A tombstone counts as held only once the peer answered.
                with write_transaction(db):
                    builder.record_holdings(peer.node_id, records, now)
            if contact:
                requests += 1
                try:
                    _count_refused(client.post("/federation/v1/push", out.envelope), refused)
                except PeerRefused as exc:
                    if exc.status != 413 or len(out.entries) < 2:
                        raise
                    budget = max(1, out.size // 2)
                    continue
                except PeerUnavailable as exc:
                    if exc.may_have_arrived and out.entries:
                        unanswered = out
                    raise
            with write_transaction(db):
                if out.entries:  # the records' holdings were written before the sending
                    builder.record_holdings(peer.node_id, tombstones, now)
                    builder.record_disclosures(peer.node_id, out.entries, "push", now, holdings=False)
                if contact:
                    db.execute("UPDATE peer_state SET push_cursor = max(push_cursor, ?), last_push_ok = ?, "
                               "failures = 0, next_attempt_at = NULL, last_error = NULL WHERE node_id = ?",
                               [out.last_seq, to_iso(now), peer.node_id])
                    failing = 0
                else:  # nothing of these changes is for this peer: no request was made, nothing is known of it
                    db.execute("UPDATE peer_state SET push_cursor = max(push_cursor, ?) WHERE node_id = ?",
                               [out.last_seq, peer.node_id])
            cursor = out.last_seq
            sent += len(out.entries)
            batches += 1
    except (PeerUnavailable, PeerRefused) as exc:
        now = now_fn()
        with write_transaction(db):
            if unanswered is not None:  # sent, and perhaps stored, though no answer came: the ledger says so
                builder.record_disclosures(peer.node_id, unanswered.entries, "push-unanswered", now, holdings=False)
            failures = db.execute("SELECT failures FROM peer_state WHERE node_id = ?", [peer.node_id]).fetchone()[0] + 1
            retry = next_attempt(failures, now, status=getattr(exc, "status", None),
                                 retry_after=getattr(exc, "retry_after", None))
            db.execute("UPDATE peer_state SET failures = ?, next_attempt_at = ?, last_error = ? WHERE node_id = ?",
                       [failures, to_iso(retry), str(exc), peer.node_id])
        if retried_on_401 and getattr(exc, "status", None) == 401:
            log.info("push to %s refused with 401: this node announces its identity and tries once more",
                     peer.node_id)
        else:
            log.warning("push to %s failed (%s); retry after %s", peer.node_id, exc, to_iso(retry))
        return {"peer": peer.node_id, "sent": sent, "ok": False, "error": str(exc), "retry_at": to_iso(retry),
                "status": getattr(exc, "status", None), "requests": requests, "refused_by_peer": refused}
    if failed_before and requests:
        log.info("push to %s went through after %d failed attempt(s)", peer.node_id, failed_before)
    if refused:
        log.warning("push to %s: the peer refused %d item(s) (%s; its log and refusal counts say more)",
                    peer.node_id, sum(refused.values()), ", ".join(f"{code} {n}" for code, n in sorted(refused.items())))
    return {"peer": peer.node_id, "sent": sent, "ok": True, "requests": requests, "refused_by_peer": refused}


def _count_refused(response, refused: dict[str, int]) -> None:
    """Add the refusal counts of a push receipt (``refused_by_code``) to ``refused``; an answer that holds
    none (or is no receipt) adds nothing."""
    try:
        codes = response.json().get("refused_by_code")
    except (ValueError, AttributeError):
        return
    if isinstance(codes, dict):
        for code, count in codes.items():
            if isinstance(code, str) and type(count) is int and count > 0:
                refused[code[:40]] = refused.get(code[:40], 0) + count
