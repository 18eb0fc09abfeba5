"""The audit trail: an append-only, hash-chained log of every write and disclosure.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the
canonical JSON of the entry itself (at, actor, action, target, detail); the
sequence number is the entry's position, checked against the chain.
Editing, deleting or reordering an entry breaks the chain at that entry, and
:meth:`AuditLog.verify` says which. Entries name records by uid or reference;
they never hold record content. Removing entries from the end of the log
leaves a valid shorter chain, and whoever can write the database can also
rewrite an entry and recompute every hash after it: the chain alone cannot
tell. Kept elsewhere, the head (last seq and hash, shown by ``cordon audit
verify``) tells both: ``verify(anchor=(seq, hash))`` checks that the entry
still has the hash it had when the head was copied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets

import sqlite_utils

from . import json_text
from .record_table import iso
from .timestamps import utc_now

GENESIS = "0" * 64
DIGEST_KEY = "audit_digest_key"  # in ``meta``; an older database's ``sign_in_name_key`` is taken over


def entry_hash(prev_hash: str, at: str, actor: str, action: str, target: str, detail: str) -> str:
    body = json_text.dumps_sorted_utf8(
        {"at": at, "actor": actor, "action": action, "target": target, "detail": detail})
    return hashlib.sha256(prev_hash.encode("utf-8") + body).hexdigest()


@dataclasses.dataclass
class Entry:
    """One audit entry to append: who did what to which record (by uid or reference, never content)."""

    actor: str
    action: str
    target: str = ""
    detail: dict | None = None
    at: object = None


@dataclasses.dataclass
class AuditReport:
    entries: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def digest(self, text: str) -> str:
        """A short digest of ``text`` keyed with this node's own secret, for what an entry must name but not
        hold in clear (a screened party's names, a sign-in name that may be a mistyped password): the same
        text gives the same digest on this node, and a reader of the trail, who never sees the key, cannot
        test guesses against it. Call inside a write transaction (the key is made on first use)."""
        return hmac.new(self._digest_key(), text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def _digest_key(self) -> bytes:
        conn = self.db.conn
        row = conn.execute("SELECT value FROM meta WHERE key = ?", [DIGEST_KEY]).fetchone()
        if row is None:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, coalesce("
                         "(SELECT value FROM meta WHERE key = 'sign_in_name_key'), ?))", [DIGEST_KEY, secrets.token_hex(32)])
            row = conn.execute("SELECT value FROM meta WHERE key = ?", [DIGEST_KEY]).fetchone()
        return bytes.fromhex(row[0])

    def append(self, *, actor: str, action: str, target: str = "", detail: dict | None = None, at=None) -> int:
        """Append one entry. Call inside the write transaction of the change it records."""
        return self.append_many([Entry(actor, action, target, detail, at)])

    def append_many(self, entries: list[Entry]) -> int:
        """Append entries in order, chained to the head read once; returns the last seq.

        Call inside the write transaction of the changes they record."""
        conn = self.db.conn
        row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = row if row else (0, GENESIS)
        rows = []
        for entry in entries:
            seq += 1
            stamp = iso(entry.at or utc_now())
            detail_text = json_text.dumps_sorted_utf8(entry.detail or {}).decode("utf-8")
            digest = entry_hash(prev, stamp, entry.actor, entry.action, entry.target, detail_text)
            rows.append((seq, stamp, entry.actor, entry.action, entry.target, detail_text, prev, digest))
            prev = digest
        conn.executemany(
            "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return seq

    def entries(self, *, after: int = 0, limit: int = 100, action: str | None = None,
                actor: str | None = None, target: str | None = None, latest: bool = False) -> list[dict]:
        """Entries in order: the first ``limit`` after ``after``, or with ``latest`` the last ``limit``."""
        clauses, params = ["seq > ?"], [after]
        for column, value in (("action", action), ("actor", actor), ("target", target)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        params.append(limit)
        rows = self.db.execute(
            "SELECT seq, at, actor, action, target, detail, hash FROM audit_log "
            f"WHERE {' AND '.join(clauses)} ORDER BY seq {'DESC' if latest else ''} LIMIT ?",
            params,
        ).fetchall()
        if latest:
            rows.reverse()
        return [
            {"seq": r[0], "at": r[1], "actor": r[2], "action": r[3], "target": r[4],
             "detail": json.loads(r[5]), "hash": r[6]}
            for r in rows
        ]

    def verify(self, anchor: tuple[int, str] | None = None) -> AuditReport:
        """Check the chain; with ``anchor`` (a seq and its hash, or the hash's first 16 or more characters,
        kept elsewhere), also that the entry is still there with that hash."""
        problems: list[str] = []
        rows = self.db.execute(
            "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq"
        ).fetchall()
        by_hash = {r[7]: r[0] for r in rows}
        expected_seq, expected_prev = 1, GENESIS
        for seq, at, actor, action, target, detail, prev, digest in rows:
            if entry_hash(prev, at, actor, action, target, detail) != digest:
                problems.append(f"entry {seq} was edited: its content does not match its hash")
            elif seq != expected_seq or prev != expected_prev:
                if prev in by_hash and by_hash[prev] != seq - 1:
                    problems.append(
                        f"entry {seq} is out of order: it was written after entry {by_hash[prev]}"
                    )
                elif seq != expected_seq:
                    missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
                    problems.append(f"entry {missing} was deleted: the chain jumps to entry {seq}")
                else:
                    problems.append(f"entry {seq} does not follow entry {seq - 1}: an entry was deleted or replaced")
            expected_seq, expected_prev = seq + 1, digest
        if anchor is not None:
            seq, kept = anchor
            found = [digest for row_seq, *_rest, digest in rows if row_seq == seq]
            if not found:
                problems.append(f"entry {seq}, kept elsewhere, is no longer in the log: it was cut back")
            elif not found[0].startswith(kept.lower()):
                problems.append(f"entry {seq} no longer has the hash kept elsewhere: the log was rewritten at or "
                                "before it")
        return AuditReport(entries=len(rows), problems=problems)
