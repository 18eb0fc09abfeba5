"""Background normalisation of newly stored party names (``cordon serve`` only).

Runs in its own thread, in small chunks, so a bulk import or a large pull
becomes searchable within moments without holding up the writers.
"""

from __future__ import annotations

import logging
import threading

from . import party_names
from .runtime import NodeRuntime

log = logging.getLogger("cordon.indexer")


class NameIndexer:
    def __init__(self, runtime: NodeRuntime, interval: float = 1.0, chunk: int = 500):
        self.runtime = runtime
        self.interval = interval
        self.chunk = chunk
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cordon-name-indexer", daemon=True)
        self._thread.start()

    def wake(self, *_args) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = party_names.compute_pending(self.runtime.db(), self.chunk)
            except Exception:  # noqa: BLE001 - keep indexing after a failure; it is logged
                log.exception("normalising party names failed")
                done = 0
            if not done:
                self._wake.wait(self.interval)
                self._wake.clear()
