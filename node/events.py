"""In-process notification of record changes, after they are committed.

Subscribers (the push worker, the screening index) must return quickly; a
subscriber that fails is logged and never undoes the change.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("cordon.events")


class ChangeEvents:
    def __init__(self):
        self._subscribers: list[Callable[[str, dict], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[str, dict], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def record_changed(self, record_type: str, doc: dict) -> None:
        for callback in list(self._subscribers):
            try:
                callback(record_type, doc)
            except Exception:  # noqa: BLE001 - a subscriber never breaks the write path
                log.exception("change subscriber failed")
