"""SQLite connections and transactions.

Every connection runs in WAL mode with a busy timeout; writers take the
write lock up front with ``BEGIN IMMEDIATE`` so concurrent writers queue
instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import sqlite_utils

DB_NAME = "cordon.db"
BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database):
    """One atomic write: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

    Nested use joins the outer transaction (a savepoint keeps the inner part atomic).
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"sp_{id(object())}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
