"""Party names of stored denials, and their normalised forms for screening.

Every store of a denial (own or received) rewrites that record's rows in
``party_names`` and appends the uid to ``index_feed``; dropping a record
deletes its rows and appends it too. The normalised forms (transliteration,
legal forms, name symbols: ``node.screening.normalise_name``) are computed
once per stored name by :func:`compute_pending`, run by the node's indexer
right after the write, never at query time. When normalisation changes
(``FORMS_VERSION``), :func:`refresh_stale` recomputes forms of an older
version in the background; until then the older forms stay in the index, so
screening never loses a name.
"""

from __future__ import annotations

import json
import sqlite3

import sqlite_utils

from .database import write_transaction
from .screening import FORMS_VERSION, normalise_name


def rows_of(doc: dict) -> list[tuple]:
    """The ``party_names`` rows of one denial: (uid, party index, role, text)."""
    uid = doc["uid"]
    return [(uid, index, party.get("role", ""), name["text"])
            for index, party in enumerate(doc.get("parties") or [])
            for name in party.get("names") or [] if name.get("text")]


def write_rows(conn: sqlite3.Connection, uids: list[str], rows: list[tuple], *, unseen=frozenset()) -> None:
    """Replace the party-name rows of the denials ``uids`` with ``rows`` (from :func:`rows_of`).

    ``unseen``: those of the uids that were never stored, so have no rows to delete."""
    keys = [(uid,) for uid in uids]
    stored = [key for key in keys if key[0] not in unseen] if unseen else keys
    if stored:
        conn.executemany("DELETE FROM party_names WHERE uid = ?", stored)
    if rows:
        conn.executemany("INSERT INTO party_names (uid, party, role, text) VALUES (?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO index_feed (uid) VALUES (?)", keys)


def drop(db: sqlite_utils.Database, uid: str) -> None:
    db.execute("DELETE FROM party_names WHERE uid = ?", [uid])
    db.execute("INSERT INTO index_feed (uid) VALUES (?)", [uid])


def pending(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM party_names WHERE forms IS NULL").fetchone()[0]


def compute_pending(db: sqlite_utils.Database, limit: int = 2000) -> int:
    """Normalise up to ``limit`` names that have no forms yet; returns how many were done."""
    rows = db.execute("SELECT id, uid, text FROM party_names WHERE forms IS NULL LIMIT ?", [limit]).fetchall()
    if not rows:
        return 0
    computed = [(json.dumps(normalise_name(text).to_dict(), ensure_ascii=False), row_id) for row_id, _, text in rows]
    with write_transaction(db):
        db.conn.executemany("UPDATE party_names SET forms = ? WHERE id = ? AND forms IS NULL", computed)
        db.conn.executemany("INSERT INTO index_feed (uid) VALUES (?)", [(uid,) for uid in sorted({r[1] for r in rows})])
    return len(rows)


def refresh_stale(db: sqlite_utils.Database, after_id: int, limit: int = 200) -> int | None:
    """Recompute up to ``limit`` stored forms of an older ``FORMS_VERSION`` with ids above ``after_id``.

    Returns the last id looked at (pass it back next time), or None when no stale forms remain.
    """
    rows = db.execute(
        "SELECT id, uid, text FROM party_names WHERE id > ? AND forms IS NOT NULL "
        "AND json_extract(forms, '$.version') IS NOT ? ORDER BY id LIMIT ?",
        [after_id, FORMS_VERSION, limit]).fetchall()
    if not rows:
        return None
    computed = [(json.dumps(normalise_name(text).to_dict(), ensure_ascii=False), row_id) for row_id, _, text in rows]
    with write_transaction(db):
        db.conn.executemany("UPDATE party_names SET forms = ? WHERE id = ?", computed)
        db.conn.executemany("INSERT INTO index_feed (uid) VALUES (?)", [(uid,) for uid in sorted({r[1] for r in rows})])
    return rows[-1][0]
