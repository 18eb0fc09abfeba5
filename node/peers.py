"""Peers: the other nodes this node exchanges with, trusted only after an
administrator confirmed their identity fingerprint.

Nothing is trusted on first contact over the network: a peer is added from
its identity document file and the fingerprint its administrator read out.
Later identity changes (key rotation, revocation) are accepted only through
the signed chain (``federation.identity.follow_chain``), step by step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import sqlite_utils

from federation.batch import Recipient
from federation.errors import IdentityInvalid
from federation.identity import (current_key, document_keys, fingerprint, follow_chain, verify_not_older,
                                 verify_self_signed)
from federation.keys import ENC, RETIRED, SIG, KeyInfo, parse_time
from policies.node_ids import node_id_problem

from .audit import AuditLog
from .database import write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .timestamps import to_iso, utc_now


def normalise_fingerprint(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", (text or "").upper())


@dataclasses.dataclass
class Peer:
    node_id: str
    name: str
    base_url: str
    role: str
    signed_identity: dict
    fingerprint: str
    added_at: str
    removed_at: str | None

    @property
    def document(self) -> dict:
        return self.signed_identity["document"]

    def keys(self) -> dict:
        return document_keys(self.document)

    def reach(self, chain: list[dict]) -> dict:
        """The newest signed identity in ``chain`` reached from the trusted one (``follow_chain``): the trusted
        one itself when the chain ends with it. Raises RotationInvalid when none is reached."""
        if isinstance(chain, list) and chain and chain[-1] == self.signed_identity:
            return self.signed_identity
        return follow_chain(self.document, chain)

    def signing_keys(self) -> dict:
        """This peer's signing keys by kid as they may sign anything new (a request, a record item): a retired
        key only until the peer's trusted identity document was issued (the one that retired it, or a later
        one), so what it signed just before a rotation, still in flight, is accepted, and anything it signed
        after is refused (``key_not_valid``)."""
        issued_at = self.document["issued_at"]
        keys = {}
        for kid, info in self.keys().items():
            usable = _new_signing_key(info, issued_at) if info.use == SIG else None
            if usable is not None:
                keys[kid] = usable
        return keys

    def recipient(self) -> Recipient:
        key = current_key(self.document, ENC)
        return Recipient(self.node_id, key.kid, key.public_key())

    def encryption_public(self, kid: str):
        info = self.keys().get(kid)
        if info is None or info.use != ENC or info.status == "revoked":
            return None
        return info.public_key()

    def sealing_key(self, sender: str, kid: str):
        """The public key of an envelope this peer sealed: its encryption key ``kid`` when ``sender`` is this
        peer, else None (the ``sender_public_lookup`` of ``open_json`` and ``open_batch``)."""
        return self.encryption_public(kid) if sender == self.node_id else None


class PeerRegistry:
    def __init__(self, db: sqlite_utils.Database, node_id: str):
        self.db = db
        self.node_id = node_id
        self.audit = AuditLog(db)

    # -- changes ----------------------------------------------------------
    def add(self, signed: dict, expected_fingerprint: str, *, actor: str, now: dt.datetime | None = None) -> Peer:
        now = now or utc_now()
        if len(normalise_fingerprint(expected_fingerprint)) != 20:
            raise ValidationFailed("not a fingerprint: a fingerprint is five groups of four letters and digits, such "
                                   "as RKWP-8G7A-NRGR-4HBC-4B9V, as 'cordon identity' prints it on the peer",
                                   fields={"fingerprint": "not a fingerprint"})
        if isinstance(signed, dict) and "node_id" in signed and "signatures" not in signed:
            raise ValidationFailed("the file holds an identity document without its signatures: use the file "
                                   "'cordon identity -o FILE' writes on the peer",
                                   fields={"identity": "not a signed identity document"})
        try:
            document = verify_self_signed(signed)
        except (IdentityInvalid, KeyError, TypeError) as exc:
            raise ValidationFailed(f"the identity document does not verify: {exc}",
                                   fields={"identity": "not a valid self-signed identity document"}) from None
        problem = node_id_problem(document["node_id"]) if document["role"] != "coordinator" else None
        if problem:
            raise ValidationFailed(f"{document['node_id']} cannot be a member peer: {problem}, so no sharing policy "
                                   "could name it; nothing was added",
                                   fields={"identity": "a member's node id no policy can name"})
        actual = fingerprint(document)
        if normalise_fingerprint(expected_fingerprint) != normalise_fingerprint(actual):
            raise ValidationFailed(
                f"fingerprint mismatch for {document['node_id']}: the document's fingerprint is not the one given; "
                "nothing was added. Confirm the fingerprint with the peer's administrator by phone.",
                fields={"fingerprint": "does not match the identity document"})
        if document["node_id"] == self.node_id:
            raise ValidationFailed("that is this node's own identity", fields={"identity": "own node"})
        with write_transaction(self.db):
            existing = self.get(document["node_id"], include_removed=True)
            if existing and existing.removed_at is None:
                raise Conflict(f"{document['node_id']} is already a peer; remove it first to replace its identity",
                               fields={"node_id": "already a peer"})
            if existing:
                try:
                    verify_not_older(existing.document, document)
                except IdentityInvalid as exc:
                    raise ValidationFailed(
                        f"{document['node_id']}'s identity document would undo the one this node trusted until the "
                        f"peer was removed ({exc}); nothing was added. Ask its administrator for the current "
                        f"document ('cordon identity' on that node).",
                        fields={"identity": "would undo the identity trusted before"}) from None
            self.db.execute(
                "INSERT INTO peers (node_id, name, base_url, role, identity, fingerprint, added_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, "
                "base_url = excluded.base_url, role = excluded.role, identity = excluded.identity, "
                "fingerprint = excluded.fingerprint, updated_at = excluded.updated_at, removed_at = NULL",
                [document["node_id"], document["name"], document["base_url"], document["role"],
                 json.dumps(signed, ensure_ascii=False), actual, to_iso(now), to_iso(now)],
            )
            self.db.execute("INSERT OR IGNORE INTO peer_state (node_id) VALUES (?)", [document["node_id"]])
            self._bump_serial()
            self.audit.append(actor=actor, action="peer.add", target=document["node_id"],
                              detail={"fingerprint": actual, "base_url": document["base_url"]}, at=now)
        return self.get(document["node_id"])

    def remove(self, node_id: str, *, actor: str, now: dt.datetime | None = None) -> Peer:
        now = now or utc_now()
        with write_transaction(self.db):
            peer = self.require(node_id)
            self.db.execute("UPDATE peers SET removed_at = ? WHERE node_id = ?", [to_iso(now), peer.node_id])
            self._bump_serial()
            self.audit.append(actor=actor, action="peer.remove", target=peer.node_id, at=now)
        return self.get(node_id, include_removed=True)

    def accept_identity(self, node_id: str, chain: list[dict], *, actor: str, now: dt.datetime | None = None) -> Peer:
        """Accept the newest of a peer's signed identity documents in ``chain`` that chains from the trusted
        one, step by step (``follow_chain``); the trusted document alone changes nothing."""
        now = now or utc_now()
        with write_transaction(self.db):
            peer = self.require(node_id)
            signed = peer.reach(chain)
            if signed is peer.signed_identity:
                return peer
            document = signed["document"]
            self.db.execute(
                "UPDATE peers SET name = ?, base_url = ?, role = ?, identity = ?, fingerprint = ?, updated_at = ? "
                "WHERE node_id = ?",
                [document["name"], document["base_url"], document["role"], json.dumps(signed, ensure_ascii=False),
                 fingerprint(document), to_iso(now), node_id],
            )
            self._bump_serial()
            self.audit.append(actor=actor, action="peer.identity", target=node_id,
                              detail={"serial": document["serial"], "fingerprint": fingerprint(document)}, at=now)
        return self.get(node_id)

    # -- reads ------------------------------------------------------------
    def get(self, node_id: str, include_removed: bool = False) -> Peer | None:
        row = self.db.execute(
            "SELECT node_id, name, base_url, role, identity, fingerprint, added_at, removed_at FROM peers "
            "WHERE node_id = ?", [node_id.upper()]).fetchone()
        if not row or (row[7] is not None and not include_removed):
            return None
        return Peer(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])

    def require(self, node_id: str) -> Peer:
        peer = self.get(node_id)
        if peer is None and node_id.upper() == self.node_id:
            raise NotFound(f"{self.node_id} is this node; name another node", fields={"peer": "is this node"})
        if peer is None:
            raise NotFound(f"{node_id} is not a peer of this node", fields={"peer": "not a peer"})
        return peer

    def active(self) -> list[Peer]:
        rows = self.db.execute("SELECT node_id FROM peers WHERE removed_at IS NULL ORDER BY node_id").fetchall()
        return [self.get(r[0]) for r in rows]

    def states(self) -> dict[str, dict]:
        rows = self.db.execute("SELECT * FROM peer_state").fetchall()
        columns = [c[0] for c in self.db.execute("SELECT * FROM peer_state LIMIT 0").description]
        return {r[0]: dict(zip(columns, r)) for r in rows}

    def serial(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'peers_serial'").fetchone()
        return int(row[0]) if row else 0

    def _bump_serial(self) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('peers_serial', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")


class TrustIndex:
    """Signing keys of active peers by kid, as they may sign requests (``Peer.signing_keys``), rebuilt
    whenever the peer list changes."""

    def __init__(self):
        self._serial = -1
        self._by_kid: dict[str, tuple[str, object]] = {}
        self._peers: dict[str, Peer] = {}

    def refresh(self, registry: PeerRegistry) -> "TrustIndex":
        serial = registry.serial()
        if serial != self._serial:
            by_kid, peers = {}, {}
            for peer in registry.active():
                peers[peer.node_id] = peer
                for kid, info in peer.signing_keys().items():
                    by_kid[kid] = (peer.node_id, info)
            self._by_kid, self._peers, self._serial = by_kid, peers, serial
        return self

    def peer_for_kid(self, kid: str) -> tuple[str, object] | None:
        return self._by_kid.get(kid)

    def peer(self, node_id: str) -> Peer | None:
        return self._peers.get(node_id)

    def peers(self) -> list[Peer]:
        return list(self._peers.values())


def _new_signing_key(info: KeyInfo, issued_at: str) -> KeyInfo | None:
    """``info`` as it may sign anything new: a retired key's validity ends when ``issued_at`` begins (None: a key
    retired before it was ever valid)."""
    if info.status != RETIRED:
        return info
    retired = parse_time(issued_at)
    if info.not_after is not None and parse_time(info.not_after) <= retired:
        return info
    if retired <= parse_time(info.not_before):
        return None
    return dataclasses.replace(info, not_after=issued_at)


class NonceStore:
    """Nonces seen inside the request window (RFC 9421 ``nonce``); a repeat is a replay."""

    def __init__(self, db: sqlite_utils.Database, window_seconds: int):
        self.db = db
        self.window = window_seconds

    def remember(self, keyid: str, nonce: str, created: int) -> bool:
        with write_transaction(self.db):
            cursor = self.db.execute("INSERT OR IGNORE INTO nonces (keyid, nonce, created) VALUES (?, ?, ?)",
                                     [keyid, nonce, int(created)])
            if created % 64 == 0:
                self.db.execute("DELETE FROM nonces WHERE created < ?", [int(created) - 2 * self.window])
        return cursor.rowcount == 1
