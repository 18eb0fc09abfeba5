"""Normalisation of newly stored party names, in a worker process of ``cordon serve``.

Normalising a name (transliteration, legal forms, name symbols) is CPU work
in Python; doing it in the serving process would hold up requests while a
bulk import or a large pull is being indexed. ``cordon serve`` therefore
starts one worker process (``python -m node.indexer DATA_DIR``) that
normalises pending names in small transactions and exits with its parent.
Each stored name is normalised once; queries never normalise stored names.
It runs at a lower CPU priority (nice 10) and waits while bulk writing is
going on (a pull or a large import holds :class:`node.database.BulkWork`):
the records of a large pull are stored first and their names normalised
right after, instead of both sharing the cores. When idle, it also
recomputes forms stored by an older version of the normalisation
(``party_names.refresh_stale``), a batch at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import party_names
from .database import BulkWork

log = logging.getLogger("cordon.indexer")


class NameIndexer:
    """Starts and stops the worker process; ``wake`` is a no-op kept for the change events."""

    def __init__(self, runtime, interval: float = 0.5):
        self.runtime = runtime
        self.interval = interval
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "node.indexer", str(self.runtime.data_dir), str(self.interval)],
                stdin=subprocess.DEVNULL)

    def wake(self, *_args) -> None:
        """The worker polls; nothing to do here."""

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def work(data_dir: Path, interval: float) -> None:
    from .runtime import NodeRuntime

    os.umask(0o077)
    try:
        os.nice(10)  # background work: requests, sync and imports of the serving process come first
    except OSError:
        pass
    parent = os.getppid()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime = NodeRuntime(data_dir)
    step = IndexerStep(runtime.db(), BulkWork(data_dir))
    while not stopping.is_set() and os.getppid() == parent:
        try:
            done = step.run()
        except Exception:  # noqa: BLE001 - keep going after a failure; it is logged
            log.exception("normalising party names failed")
            done = 0
        if not done:
            time.sleep(interval)
    runtime.close()


class IndexerStep:
    """One round of the worker: normalise a batch of pending names, or else refresh a batch of stale
    forms; nothing while bulk writing is going on."""

    def __init__(self, db, bulk: BulkWork, batch: int = 200):
        self.db = db
        self.bulk = bulk
        self.batch = batch
        self.stale_after: int | None = 0

    def run(self) -> int:
        """Names normalised (0: nothing to do now)."""
        if self.bulk.active():
            return 0
        done = party_names.compute_pending(self.db, self.batch)
        if not done and self.stale_after is not None:
            self.stale_after = party_names.refresh_stale(self.db, self.stale_after)
            done = self.batch if self.stale_after is not None else 0
        return done


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    work(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
