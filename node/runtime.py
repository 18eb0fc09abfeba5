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
        self._keyring = None
        self.extensions: dict = {}
        self._policies = None
        self._trust = None
        # False in ``cordon serve``: its connections leave checkpoints to a Checkpointer thread.
        self.autocheckpoint = True

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @property
    def keyring(self):
        from .keyring import Keyring

        with self._lock:
            if self._keyring is None:
                self._keyring = Keyring(self.data_dir)
            return self._keyring

    @property
    def policies(self):
        from .policy_store import PolicyStore

        with self._lock:
            if self._policies is None:
                self._policies = PolicyStore(self.data_dir)
            return self._policies

    def trust(self):
        """Signing keys of active peers, refreshed when the peer list changed."""
        from .peers import PeerRegistry, TrustIndex

        with self._lock:
            if self._trust is None:
                self._trust = TrustIndex()
            trust = self._trust
        return trust.refresh(PeerRegistry(self.db(), self.node_id))

    def extension(self, name: str):
        """Long-lived services the served app attaches (e.g. its exchange), or None in a CLI command."""
        return self.extensions.get(name)

    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.db_path, autocheckpoint=self.autocheckpoint)
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
