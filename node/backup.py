"""Online backup: a consistent copy of the live database (SQLite backup API) with every
other file of the data directory (settings, keys, identity, policy, ...), into a new directory
readable by the owner only. The node may go on serving and writing meanwhile."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from .audit import AuditLog
from .database import DB_NAME, write_transaction
from .errors import DataDirError
from .runtime import NodeRuntime


def make_backup(runtime: NodeRuntime, target: Path, *, actor: str) -> str:
    target = Path(target)
    data_dir = runtime.data_dir.resolve()
    if target.resolve() == data_dir or data_dir in target.resolve().parents:
        raise DataDirError(f"{target} is inside the data directory {runtime.data_dir}; a backup is kept "
                           "elsewhere (it would be copied into itself, and into every later backup)")
    if target.exists() and not target.is_dir():
        raise DataDirError(f"{target} exists and is not a directory; choose a new directory")
    if target.exists() and any(target.iterdir()):
        raise DataDirError(f"{target} exists and is not empty; choose a new directory")
    existed = target.exists()
    created = target  # the first directory of the path this backup makes
    while not created.parent.exists():
        created = created.parent
    try:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(f"cannot create {target}: {exc.strerror or exc}") from None
    try:
        records = _copy(runtime, target)
    except BaseException as exc:
        # No half-written backup is left to be taken for a whole one later.
        if existed:
            for left in target.iterdir():
                if left.is_dir() and not left.is_symlink():
                    shutil.rmtree(left)
                else:
                    left.unlink()
        else:
            shutil.rmtree(created, ignore_errors=True)
        if isinstance(exc, (OSError, sqlite3.Error, DataDirError)):
            reason = exc.message if isinstance(exc, DataDirError) else getattr(exc, "strerror", None) or exc
            raise DataDirError(f"the backup into {target} failed and was removed: {reason}") from None
        raise
    db = runtime.db()
    with write_transaction(db):
        AuditLog(db).append(actor=actor, action="node.backup", detail={"denials": records[0], "licences": records[1]})
    return f"{records[0]} denials, {records[1]} licences, settings, keys, identity and policy"


def _copy(runtime: NodeRuntime, target: Path) -> tuple[int, int]:
    """Copy the database and every other file of the data directory into ``target``; return the counts of
    denials and licences copied."""
    target.chmod(0o700)
    destination = sqlite3.connect(str(target / DB_NAME))
    try:
        # One step: the whole copy is read from one snapshot. In steps, every write the node
        # commits between two steps would restart the copy, and a busy node would never finish.
        runtime.db().conn.backup(destination, pages=-1)
        check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise DataDirError(f"the copy failed its integrity check: {check}")
        records = destination.execute("SELECT (SELECT count(*) FROM denials), (SELECT count(*) FROM licences)").fetchone()
    finally:
        destination.close()
    (target / DB_NAME).chmod(0o600)
    skip = {DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal"}
    for source_path in sorted(runtime.data_dir.iterdir()):
        name = source_path.name
        if name in skip:
            continue
        if source_path.is_dir():
            shutil.copytree(source_path, target / name)
            (target / name).chmod(0o700)
            for inner in (target / name).rglob("*"):
                inner.chmod(0o700 if inner.is_dir() else 0o600)
        elif source_path.is_file():
            shutil.copy2(source_path, target / name)
            (target / name).chmod(0o600)
    return records
