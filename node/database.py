"""SQLite connections and transactions.

Every connection runs in WAL mode with a busy timeout; writers take the
write lock up front with ``BEGIN IMMEDIATE`` so concurrent writers queue
instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

DB_NAME = "cordon.db"
BUSY_TIMEOUT_MS = 30_000

log = logging.getLogger("cordon.database")


def connect(path: Path, *, autocheckpoint: bool = True) -> sqlite_utils.Database:
    """A connection in WAL mode. With ``autocheckpoint=False`` its commits never copy the write-ahead
    log back into the database file; a :class:`Checkpointer` must then do it."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    return sqlite_utils.Database(conn)


class Checkpointer:
    """Copies the write-ahead log back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
    request in a few hundred waits for it (tens of milliseconds, mostly on the disk). ``cordon
    serve`` turns it off for its connections and runs this instead: a passive checkpoint (it never
    waits for readers or writers) every ``interval`` seconds when the log has grown.
    """

    def __init__(self, path: Path, interval: float = 1.0):
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cordon-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, frames in the log, frames copied)."""
        db = connect(self.path)
        try:
            return tuple(db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        finally:
            db.conn.close()

    def _run(self) -> None:
        db = connect(self.path)
        try:
            while not self._stop.wait(self.interval):
                try:
                    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    log.warning("checkpoint failed; retrying in %.0f s", self.interval, exc_info=True)
        finally:
            db.conn.close()


class WriterQueue:
    """A queue for one kind of writer, shared by the threads of a process and by the node's serving
    processes: a thread lock, then an exclusive lock on a file in the data directory.

    A writer waiting here is woken as soon as the one before it is done, where SQLite's busy handler
    would sleep and retry (for up to 100 ms at a time under contention)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self):
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


BULK_MARKER = "bulk.lock"


class BulkWork:
    """A marker that bulk writing (a pull, a large import) is going on in the node's data directory.

    Holding it is a shared ``flock`` on ``bulk.lock``, so several bulk writers may hold it at once and
    a process that dies lets go of it. Background work that can wait (the name indexer) asks
    :meth:`active` and leaves the cores to the bulk writer meanwhile."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / BULK_MARKER
        self._fd: int | None = None

    def __enter__(self):
        if self._fd is not None:
            raise RuntimeError("this bulk-work marker is already held")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the lock

    def active(self) -> bool:
        """Whether some process holds the marker now (two processes asking at the same instant may
        see each other's probe as a holder: they then wait one round for nothing)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


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
