"""Online backup: a consistent copy of the live database (SQLite backup API),
with the settings, keys and identity, into a new directory readable by the owner only."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from .audit import AuditLog
from .config import CONFIG_NAME
from .database import DB_NAME, write_transaction
from .errors import DataDirError
from .keyring import IDENTITY_NAME, KEYS_DIR
from .runtime import NodeRuntime


def make_backup(runtime: NodeRuntime, target: Path, *, actor: str) -> str:
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise DataDirError(f"{target} exists and is not empty; choose a new directory")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.chmod(0o700)
    destination = sqlite3.connect(str(target / DB_NAME))
    try:
        runtime.db().conn.backup(destination, pages=4096)
        check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise DataDirError(f"the copy failed its integrity check: {check}")
        records = destination.execute("SELECT (SELECT count(*) FROM denials), (SELECT count(*) FROM licences)").fetchone()
    finally:
        destination.close()
    (target / DB_NAME).chmod(0o600)
    for name in (CONFIG_NAME, IDENTITY_NAME):
        shutil.copy2(runtime.data_dir / name, target / name)
        (target / name).chmod(0o600)
    shutil.copytree(runtime.data_dir / KEYS_DIR, target / KEYS_DIR)
    (target / KEYS_DIR).chmod(0o700)
    db = runtime.db()
    with write_transaction(db):
        AuditLog(db).append(actor=actor, action="node.backup", detail={"denials": records[0], "licences": records[1]})
    return f"{records[0]} denials, {records[1]} licences, settings, keys and identity"
