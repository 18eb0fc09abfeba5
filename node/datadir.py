"""Creating a node's data directory: settings, database, keys, identity.

``initialise`` refuses a directory that already holds a node and, if any
step fails, removes what it created, so a failed or repeated ``cordon init``
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from .config import CONFIG_NAME, Settings, write_settings
from .database import DB_NAME, connect
from .errors import DataDirError, ValidationFailed
from .keyring import IDENTITY_NAME, KEYS_DIR, Keyring
from .policy_store import POLICY_NAME, install_default
from .schema import migrate

NODE_FILES = (CONFIG_NAME, DB_NAME, KEYS_DIR, IDENTITY_NAME, POLICY_NAME)


def initialise(data_dir: Path, settings: Settings, now: dt.datetime) -> Keyring:
    data_dir = Path(data_dir)
    problem = settings.member_id_problem()
    if problem:
        raise ValidationFailed("invalid settings", fields={"node_id": problem})
    if data_dir.exists():
        present = [name for name in NODE_FILES if (data_dir / name).exists()]
        if present:
            raise DataDirError(
                f"{data_dir} already holds a Cordon node ({', '.join(present)}); nothing was changed"
            )
        created_dir = False
    else:
        data_dir.mkdir(parents=True, mode=0o700)
        created_dir = True
    os.chmod(data_dir, 0o700)
    try:
        write_settings(data_dir, settings)
        db = connect(data_dir / DB_NAME)
        try:
            migrate(db)
        finally:
            db.conn.close()
        for suffix in ("", "-wal", "-shm"):
            path = data_dir / (DB_NAME + suffix)
            if path.exists():
                os.chmod(path, 0o600)
        install_default(data_dir)
        return Keyring.create(data_dir, settings, now)
    except BaseException:
        if created_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for name in NODE_FILES + (DB_NAME + "-wal", DB_NAME + "-shm"):
                path = data_dir / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()
        raise
