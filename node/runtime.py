"""The running node's shared state: data directory, settings, and database connections.

One :class:`NodeRuntime` belongs to one Flask app (``app.extensions["cordon"]``)
or one CLI command. Each thread gets its own SQLite connection, opened on
first use and reused afterwards.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlite_utils

from .config import Settings, read_settings
from .database import DB_NAME, connect


class NodeRuntime:
    def __init__(self, data_dir: Path, settings: Settings | None = None):
        self.data_dir = Path(data_dir)
        self.settings = settings or read_settings(self.data_dir)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite_utils.Database] = []

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.db_path)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                try:
                    db.conn.close()
                except Exception:  # noqa: BLE001 - closing best effort at shutdown
                    pass
            self._connections.clear()
        self._local = threading.local()
