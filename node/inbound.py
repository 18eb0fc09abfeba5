"""What this node accepts from peers: request authentication and storing received records.

Every peer request is checked (RFC 9421 signature by a trusted peer key,
destination, window, digest, nonce) before anything else happens. Received
records are verified one by one: a bad item is refused and counted while the
rest of the batch is stored. A record is applied only if it is newer than
what is held; a tombstone drops the content.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import sqlite3
from typing import NamedTuple

import sqlite_utils

from federation.batch import Batch, cursor_position, item_payload, open_batch, verify_item
from federation.errors import FederationError
from federation.http_signature import verify_request
from federation.record_signature import attached, detached

from . import party_names
from .database import write_transaction
from .denial_rows import StoredDenial, stored_form
from .denials import DenialRegistry
from .peers import NonceStore, PeerRegistry, TrustIndex
from .schemas import PARTY_KINDS, REF_RE, ROLES, SENSITIVITIES, country_codes
from .timestamps import parse_iso, to_iso

log = logging.getLogger("cordon.inbound")


class PeerRequestRefused(Exception):
    """A peer request failed authentication or policy; ``code`` says why (for logs and counters only)."""

    def __init__(self, code: str, peer: str | None = None, status: int = 401):
        super().__init__(code)
        self.code = code
        self.peer = peer
        self.status = status


@dataclasses.dataclass
class Receipt:
    stored: int = 0
    unchanged: int = 0
    dropped: int = 0
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        codes: dict[str, int] = {}
        for _, code in self.refused:
            codes[code] = codes.get(code, 0) + 1
        return {"stored": self.stored, "unchanged": self.unchanged, "dropped": self.dropped,
                "refused": len(self.refused), "refused_by_code": codes}


class Accepted(NamedTuple):
    """An item that passed verification, ready to store: its identity, and for a record the rows storing it
    (:func:`node.denial_rows.stored_form`; a tombstone has none) and the origin's signature."""

    uid: str
    version: int
    rev: int
    kind: str
    type: str
    stored: StoredDenial | None
    signature: str | None


@dataclasses.dataclass
class Verified:
    """A batch's items that passed verification, in order, and (uid or "?", code) of those refused."""

    items: list[Accepted] = dataclasses.field(default_factory=list)
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def record_refusal(db: sqlite_utils.Database, code: str, path: str, peer: str | None, now: dt.datetime) -> None:
    with write_transaction(db):
        db.execute("INSERT INTO refusals (at, peer, code, path) VALUES (?, ?, ?, ?)", [to_iso(now), peer, code, path])


def authenticate(db, trust: TrustIndex, *, node_id: str, method: str, url: str, headers, body: bytes,
                 window: int, now: dt.datetime) -> str:
    """Verify a signed peer request; return the peer's node id or raise PeerRequestRefused."""
    found: dict = {}

    def lookup(kid):
        hit = trust.peer_for_kid(kid)
        if hit is None:
            return None
        found["peer"] = hit[0]
        info = hit[1]
        if info.status == "revoked":
            found["revoked"] = True
            return None
        return info  # a retired key is valid only until it was retired (TrustIndex)

    try:
        verify_request(method, url, headers, body, key_lookup=lookup, expected_destination=node_id,
                       nonce_registry=NonceStore(db, window), now=now, window_seconds=window)
    except FederationError as exc:
        code = "key_revoked" if exc.code == "unknown_key" and found.get("revoked") else exc.code
        raise PeerRequestRefused(code, found.get("peer")) from None
    return found["peer"]


class RecordIntake:
    """Verifies and stores batches of records received from one peer."""

    def __init__(self, db: sqlite_utils.Database, node_id: str, my_keys: dict, registry: PeerRegistry,
                 policy, *, on_stored=None):
        self.db = db
        self.node_id = node_id
        self.my_keys = my_keys
        self.registry = registry
        self.policy = policy
        self.on_stored = on_stored

    def open(self, peer_id: str, envelope: dict) -> Batch:
        peer = self.registry.require(peer_id)
        if not isinstance(envelope, dict) or envelope.get("sender") != peer_id:
            raise PeerRequestRefused("seal_invalid", peer_id)
        try:
            return open_batch(envelope, me=self.node_id, my_keys=self.my_keys,
                              sender_public_lookup=peer.sealing_key)
        except FederationError as exc:
            raise PeerRequestRefused(exc.code, peer_id) from None

    def store(self, peer_id: str, batch: Batch, now: dt.datetime, *, cursor_update: str | None = None,
              pushed: bool = False) -> Receipt:
        """Verify and store a batch. ``pushed``: the peer pushed it; when it continues from this node's pull
        cursor for that peer (its ``after`` at or before the cursor, its ``next_cursor`` beyond), the pull
        cursor moves to its ``next_cursor`` with it, so the next pull does not fetch it again."""
        return self.store_verified(peer_id, self.verify(peer_id, batch, now), now, cursor_update=cursor_update,
                                   covers=_covered(batch) if pushed else None)

    def verify(self, peer_id: str, batch: Batch, now: dt.datetime) -> Verified:
        """Verify every item of an opened batch (signature, canonical form, addressee, origin, inbound
        policy) and prepare the rows of each record; writes nothing, so it may run ahead of storing, with a
        connection of its own. Each record is verified and turned into rows before the next is read (its
        objects stay in the processor's caches); ``now`` stands in for a creation or update time a view
        leaves out."""
        keys = self.registry.require(peer_id).signing_keys()
        stamp = to_iso(now)
        result = Verified()
        for jws in batch.items:
            try:
                item = verify_item(jws, sender=peer_id, me=self.node_id, key_lookup=keys.get)
            except FederationError as exc:
                result.refused.append(("?", exc.code))
                continue
            if item.type != "denial":
                result.refused.append((item.uid, "unsupported_type"))
                continue
            accepted, reason = self.policy.accepts(peer_id, item.type, len(jws))
            if not accepted:
                result.refused.append((item.uid, "inbound_policy"))
                continue
            if item.kind == "tombstone":
                result.items.append(Accepted(item.uid, item.version, item.rev, item.kind, item.type, None, None))
                continue
            try:
                stored, signature = _stored(item, stamp, jws)
            except (TypeError, AttributeError, KeyError, ValueError):  # e.g. parties that are not objects
                result.refused.append((item.uid, "malformed"))
                continue
            result.items.append(Accepted(item.uid, item.version, item.rev, item.kind, item.type, stored, signature))
        return result

    def store_verified(self, peer_id: str, verified: Verified, now: dt.datetime, *,
                       cursor_update: str | None = None, cursor_from: tuple[str | None, int] | None = None,
                       covers: tuple[int, int] | None = None) -> Receipt:
        """Store what ``verify`` passed, in one transaction with ``cursor_update`` (the pull's new cursor) or
        ``covers`` (a pushed batch's change range: the pull cursor moves to its end if it lies inside it);
        count what it refused. ``cursor_from``: (the cursor the pull stored before this batch, the pull epoch
        the pull began in). The new cursor replaces a stored one from that position up to just before its own
        (a push may have moved it on meanwhile), never one already beyond, and only while the epoch lasts:
        ``cordon policy apply`` resets the cursor in a new epoch, and a pull that began before stores its
        records but leaves the reset."""
        receipt = Receipt(refused=list(verified.refused))
        changed: list[str] = []
        with write_transaction(self.db):
            try:
                with write_transaction(self.db):  # a savepoint: the batch's rows written together
                    changed = self._apply(peer_id, verified.items, now, receipt, one_by_one=False)
            except sqlite3.IntegrityError:  # a record clashes with another (its ``ref``): find which
                receipt = Receipt(refused=list(verified.refused))
                changed = self._apply(peer_id, verified.items, now, receipt, one_by_one=True)
            stamp = to_iso(now)
            if cursor_update is not None:
                self.db.execute("UPDATE peer_state SET last_pull_ok = ?, pull_failures = 0, last_pull_error = NULL "
                                "WHERE node_id = ?", [stamp, peer_id])
                if cursor_from is None:
                    self.db.execute("UPDATE peer_state SET pull_cursor = ? WHERE node_id = ?", [cursor_update, peer_id])
                else:
                    began, epoch = cursor_from
                    self.db.execute(
                        "UPDATE peer_state SET pull_cursor = ? WHERE node_id = ? AND pull_epoch = ? "
                        "AND CAST(coalesce(pull_cursor, '0') AS INTEGER) BETWEEN ? AND ?",
                        [cursor_update, peer_id, epoch, cursor_position(began), cursor_position(cursor_update) - 1])
            if covers is not None:
                self.db.execute("UPDATE peer_state SET pull_cursor = ? WHERE node_id = ? "
                                "AND CAST(coalesce(pull_cursor, '0') AS INTEGER) BETWEEN ? AND ?",
                                [str(covers[1]), peer_id, covers[0], covers[1] - 1])
            if verified.items or receipt.refused:  # the batch held items: something was received
                self.db.execute("UPDATE peer_state SET last_received = ? WHERE node_id = ?", [stamp, peer_id])
        if receipt.refused:
            log.warning("refused %d item(s) from %s: %s", len(receipt.refused), peer_id,
                        sorted({code for _, code in receipt.refused}))
            for _uid, code in receipt.refused:
                record_refusal(self.db, code, "batch-item", peer_id, now)
        if self.on_stored:
            for kind in changed:
                self.on_stored(kind)
        return receipt

    def _apply(self, peer_id: str, verified: list[Accepted], now: dt.datetime, receipt: Receipt, *,
               one_by_one: bool) -> list[str]:
        """Write the verified items newer than what is held; count them in ``receipt``; return the kinds
        written. ``one_by_one``: each record in a savepoint of its own, and one whose rows break a
        constraint (its ``ref`` is another record's of the same origin) refused as ``ref_conflict``
        while the rest are stored; else all rows written together."""
        changed = []
        held = self._held([item.uid for item in verified], peer_id)
        rows = _PendingRows(self.db.conn, DenialRegistry(self.db, self.node_id), now)
        for item in verified:
            current = held.get(item.uid)
            if current and current[0] != peer_id:
                receipt.refused.append((item.uid, "origin_conflict"))
                continue
            if current and (item.version, item.rev) <= (current[1], current[2]):
                receipt.unchanged += 1
                continue
            if one_by_one:
                try:
                    with write_transaction(self.db):
                        self._write(item, peer_id, rows, current)
                        rows.flush()
                except sqlite3.IntegrityError as exc:
                    if "denials.origin, denials.ref" not in str(exc):
                        raise
                    receipt.refused.append((item.uid, "ref_conflict"))
                    continue
            else:
                self._write(item, peer_id, rows, current)
            if item.kind == "tombstone":
                receipt.dropped += 1
            else:
                receipt.stored += 1
            held[item.uid] = (peer_id, item.version, item.rev)
            changed.append(item.kind)
        rows.flush()
        return changed

    def _write(self, item: Accepted, peer_id: str, rows: "_PendingRows", current) -> None:
        """Write one item (a tombstone at once; a record's rows with the next flush of ``rows``)."""
        if item.uid in rows.uids:  # the same record twice in one batch: write in order
            rows.flush()
        if item.kind == "tombstone":
            rows.flush()
            self.db.execute("DELETE FROM denials WHERE uid = ?", [item.uid])
            self.db.execute("DELETE FROM denial_versions WHERE uid = ?", [item.uid])
            party_names.drop(self.db, item.uid)
        else:
            rows.denial(item.stored, stored_before=current is not None)
        rows.received(item, peer_id)

    def _held(self, uids: list[str], peer_id: str) -> dict[str, tuple]:
        """What this node holds of these uids: (origin, version, rev) of received ones; (origin, None, None) of others'."""
        held = {}
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.conn.execute(
                    f"SELECT uid, origin, version, rev FROM received WHERE uid IN ({marks})", chunk):
                held[row[0]] = (row[1], row[2], row[3])
            for row in self.db.conn.execute(f"SELECT uid, origin FROM denials WHERE uid IN ({marks})", chunk):
                if row[1] != peer_id:
                    held[row[0]] = (row[1], None, None)
        return held


def _covered(batch: Batch) -> tuple[int, int] | None:
    """The change-log range (after, next) a batch says it holds all of, when both are cursors Cordon issues."""
    if not batch.after or not batch.next_cursor:
        return None
    try:
        after, upto = cursor_position(batch.after), cursor_position(batch.next_cursor)
    except ValueError:
        return None
    return (after, upto) if after < upto else None


def _stored(item, stamp: str, jws: str) -> tuple[StoredDenial, str]:
    """The rows storing a received record, and the signature to keep. A view carrying ``status`` is stored
    as the canonical JSON its origin signed, and its hash is the row's content hash; when the signed payload
    is exactly the item's frame around those bytes, the signature is kept in detached form
    (``received_signature`` puts the two together again), else whole. Another view is stored with status
    ``active`` and the whole signed item is kept."""
    view, view_bytes = item.record, item.record_bytes
    _check_view(view)
    if "status" in view and view_bytes is not None:
        stored = stored_form(view, view_bytes.decode("utf-8"), stamp, hashlib.sha256(view_bytes).hexdigest())
        return _bindable(stored), detached(jws) if item.framed else jws
    return _bindable(stored_form({**view, "status": view.get("status", "active")}, None, stamp)), jws


_COLUMN_TYPES = frozenset((str, int, type(None)))
_SENSITIVITIES = frozenset(SENSITIVITIES)
_ROLES = frozenset(ROLES)
_PARTY_KINDS = frozenset(PARTY_KINDS)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_view(view: dict) -> None:
    """Raise ValueError unless the fields of a received denial view that this node indexes, filters on or
    shows as structure hold what a denial holds there (each may be left out by the origin's policy): status
    ``active`` (revocation and expiry travel as tombstones), a national reference, a known sensitivity, an
    ISO 3166-1 country, a list of regimes as text, ISO 8601 dates and times, parties with a known role."""
    get = view.get
    status, ref, sensitivity, country = get("status"), get("ref"), get("sensitivity"), get("destination_country")
    if status is not None and status != "active":
        raise ValueError("status")
    if ref is not None and not (type(ref) is str and REF_RE.match(ref)):
        raise ValueError("ref")
    if sensitivity is not None and sensitivity not in _SENSITIVITIES:
        raise ValueError("sensitivity")
    if country is not None and country not in country_codes():
        raise ValueError("destination_country")
    regimes = get("regimes")
    if regimes is not None and not (type(regimes) is list and all(type(regime) is str for regime in regimes)):
        raise ValueError("regimes")
    for name in ("denied_on", "review_due"):
        day = get(name)
        if day is not None:
            if not (type(day) is str and len(day) == 10 and _DATE.match(day)):
                raise ValueError(name)
            dt.date.fromisoformat(day)
    for name in ("created_at", "updated_at"):
        moment = get(name)
        if moment is not None:
            if type(moment) is not str or "T" not in moment:
                raise ValueError(name)
            parse_iso(moment)
    for party in get("parties") or ():
        role, kind = party.get("role"), party.get("kind")
        if role is not None and role not in _ROLES:
            raise ValueError("parties.role")
        if kind is not None and kind not in _PARTY_KINDS:
            raise ValueError("parties.kind")


def _bindable(stored: StoredDenial) -> StoredDenial:
    """``stored``, if every value its rows bind to a column is text, an integer or null (a view with, say, a
    list where a country belongs is refused alone, not left to fail the whole batch's write)."""
    if _COLUMN_TYPES.issuperset(map(type, stored.row)) and all(
            type(role) is str and type(text) is str for _uid, _index, role, text in stored.names):
        return stored
    raise ValueError("a field the rows index holds neither text nor an integer")


def received_signature(db: sqlite_utils.Database, node_id: str, uid: str) -> str | None:
    """The signed item (compact JWS) by which this node holds the peer's record ``uid``: None for a
    tombstone or a record not received."""
    row = db.execute("SELECT r.signature, r.kind, r.rev, r.record_type, d.doc FROM received r "
                     "LEFT JOIN denials d ON d.uid = r.uid WHERE r.uid = ?", [uid]).fetchone()
    if row is None or row[0] is None:
        return None
    signature, kind, rev, record_type, doc = row
    if signature.split(".")[1]:
        return signature
    return attached(signature, item_payload(kind, node_id, rev, record_type, doc.encode("utf-8")))


class _PendingRows:
    """Rows of received records written together at the end of a batch or before a tombstone."""

    def __init__(self, conn, registry: DenialRegistry, now: dt.datetime):
        self.conn = conn
        self.registry = registry
        self.now = now
        self.stamp = to_iso(now)
        self.uids: set[str] = set()
        self.stored: list = []
        self.unseen: set[str] = set()
        self.receipts: list[tuple] = []

    def denial(self, stored: StoredDenial, *, stored_before: bool) -> None:
        self.stored.append(stored)
        if not stored_before:
            self.unseen.add(stored.uid)
        self.uids.add(stored.uid)

    def received(self, item: Accepted, peer_id: str) -> None:
        self.receipts.append((item.uid, peer_id, item.type, item.version, item.rev, item.kind, self.stamp,
                              item.signature))
        self.uids.add(item.uid)

    def flush(self) -> None:
        """Write the pending rows; they are gone afterwards, written or not (a failed write is rolled back
        by the caller's savepoint)."""
        try:
            if self.stored:  # the origin is checked before: it never changes
                self.registry.write_stored(self.stored, self.now, unseen=self.unseen)
            if self.receipts:
                self.conn.executemany(
                    "INSERT INTO received (uid, origin, record_type, version, rev, kind, received_at, signature) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET version = excluded.version, "
                    "rev = excluded.rev, kind = excluded.kind, received_at = excluded.received_at, "
                    "signature = excluded.signature", self.receipts)
        finally:
            self.uids.clear()
            self.unseen.clear()
            self.stored, self.receipts = [], []
