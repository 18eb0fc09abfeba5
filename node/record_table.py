"""What denials and licences have in common in storage: current row, version history,
change log, content hashes and keyset pagination.

A record's current version lives in its table (``doc`` holds the JSON); every
earlier version is kept in ``<type>_versions``, moved there when a newer one
replaces it (so a record that was never amended is stored once; its
``recorded_at`` is when it became current); every
change to one of this node's own records is appended to ``changes``, whose
sequence number is commit order (SQLite serialises writers).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import time
import uuid

import sqlite_utils

from . import json_text
from .errors import NotFound, ValidationFailed
from .timestamps import to_iso

SERVER_FIELDS = ("uid", "origin", "version", "status", "created_at", "updated_at")


def content_hash(doc: dict, skip=SERVER_FIELDS) -> str:
    body = {k: v for k, v in doc.items() if k not in skip}
    return hashlib.sha256(json_text.dumps_sorted_utf8(body)).hexdigest()


@functools.lru_cache(maxsize=64)
def iso(moment) -> str:
    """``to_iso`` remembered for the last few moments: one write renders the same ``now`` several times."""
    return to_iso(moment)


def new_uid() -> str:
    """A new record uid: a time-ordered UUID (RFC 9562 version 7: 48-bit milliseconds, 74 random bits).

    New uids sort after older ones, so the uid-keyed tables (the current rows' key, the kept
    versions, the party names) grow at their end instead of at random places."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def dumps(doc: dict) -> str:
    return json_text.dumps(doc)


def encode_cursor(rowid: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"r": rowid}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))["r"]
        if not isinstance(value, int):
            raise ValueError
        return value
    except Exception:  # noqa: BLE001 - any malformed cursor is the same user error
        raise ValidationFailed("invalid cursor", fields={"cursor": "not a cursor this node issued"}) from None


def page_problems(limit, cursor: str | None, *, max_limit: int = 500) -> dict[str, str]:
    """What is wrong with a list's ``limit`` and ``cursor``, to be named with the list's other bad filters."""
    problems = {}
    if type(limit) is not int or not 1 <= limit <= max_limit:
        problems["limit"] = f"must be a whole number between 1 and {max_limit}"
    try:
        decode_cursor(cursor)
    except ValidationFailed as exc:
        problems.update(exc.fields)
    return problems


class RecordTable:
    """Storage operations shared by every record type."""

    def __init__(self, db: sqlite_utils.Database, table: str, record_type: str, key_column: str):
        self.db = db
        self.table = table
        self.versions = f"{record_type}_versions"
        self.record_type = record_type
        self.key_column = key_column

    def find(self, uid: str) -> dict | None:
        row = self.db.execute(f"SELECT doc FROM {self.table} WHERE uid = ?", [uid]).fetchone()
        return json.loads(row[0]) if row else None

    def find_by_key(self, origin: str, key: str) -> dict | None:
        return self.find_many_by_key(origin, [key]).get(key)

    def find_many_by_key(self, origin: str, keys: list[str]) -> dict[str, dict]:
        """``{key: current doc}`` for those of ``keys`` that exist for ``origin``."""
        found: dict[str, dict] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start:start + 500]
            rows = self.db.conn.execute(
                f"SELECT {self.key_column}, doc FROM {self.table} WHERE origin = ? "
                f"AND {self.key_column} IN ({', '.join('?' * len(part))})", [origin, *part]
            ).fetchall()
            found.update((key, json_text.loads(text)) for key, text in rows)
        return found

    def require(self, uid: str) -> dict:
        doc = self.find(uid)
        if doc is None:
            raise NotFound(f"no {self.record_type} with uid {uid}", fields={"uid": "not found"})
        return doc

    def supersede(self, incoming: list[tuple[str, int]]) -> None:
        """Before storing ``(uid, version)`` pairs, keep the current row of each uid whose current
        version is older; ``recorded_at`` is when it became current (its ``updated_at``). A view of
        the same version sent again (a peer's narrowed policy) replaces the current row without being
        kept. Call in the write transaction that stores the newer versions, before storing them."""
        self.db.conn.executemany(
            f"INSERT OR REPLACE INTO {self.versions} (uid, version, recorded_at, doc) "
            f"SELECT uid, version, updated_at, doc FROM {self.table} WHERE uid = ? AND version < ?", incoming)

    def keep_versions(self, versions: list[tuple[str, int, str]], at) -> None:
        """Keep versions that were current only within one write (a record amended twice in one
        batch): ``(uid, version, dumps(doc))``."""
        stamp = iso(at)
        self.db.conn.executemany(
            f"INSERT OR IGNORE INTO {self.versions} (uid, version, recorded_at, doc) VALUES (?, ?, ?, ?)",
            [(uid, version, stamp, text) for uid, version, text in versions],
        )

    def log_change(self, doc: dict, at) -> None:
        self.log_changes([(doc["uid"], doc["version"])], at)

    def log_changes(self, changes: list[tuple[str, int]], at) -> None:
        """Append one change-log entry per ``(uid, version)``, in order."""
        stamp = iso(at)
        self.db.conn.executemany(
            "INSERT INTO changes (record_type, uid, version, at) VALUES (?, ?, ?, ?)",
            [(self.record_type, uid, version, stamp) for uid, version in changes],
        )

    def history(self, uid: str) -> list[dict]:
        """Every version of the record, oldest first; the last is the current one."""
        current = self.require(uid)
        rows = self.db.execute(
            f"SELECT doc FROM {self.versions} WHERE uid = ? AND version < ? ORDER BY version", [uid, current["version"]]
        ).fetchall()
        return [json.loads(r[0]) for r in rows] + [current]

    def page(self, where: list[str], params: list, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        after = decode_cursor(cursor)
        clauses = list(where)
        args = list(params)
        if after is not None:
            clauses.append("rowid < ?")
            args.append(after)
        sql = f"SELECT rowid, doc FROM {self.table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY rowid DESC LIMIT ?"
        args.append(limit + 1)
        rows = self.db.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [json.loads(r[1]) for r in rows]
        return items, (encode_cursor(rows[-1][0]) if more and rows else None)
