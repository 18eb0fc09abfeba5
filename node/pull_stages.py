"""The stages of a pull: asking and opening, then verifying, run ahead of storing.

Batches of one pull pass through three stages, each in its own thread:

* the *fetcher* asks the peer for the batch after the last one it received
  and opens it (the cursor of the next batch is inside the seal), then asks
  for the next one once it has handed the opened one on, so the peer builds
  later batches while this node verifies and stores earlier ones;
* the *verifier* verifies each opened batch's items (``RecordIntake.verify``);
* the caller iterates over ``(batch, verified)`` in order and stores each
  with its own cursor.

Fetcher and verifier use a database connection of their own and write
nothing; each batch is opened and verified with the keys and the inbound
policy as they are at that moment (a key rotation announced or a policy
changed during a long pull is seen). Each stage holds at most one batch
ready for the next, so memory stays bounded. Socket reads, decryption and
Ed25519 verification release the interpreter lock, so the stages use a
second core when there is one. The first error of any stage ends the pull and is raised to the caller;
``close`` stops both threads (a request in flight first ends, within the
pull's timeout).
"""

from __future__ import annotations

import queue
import threading

from federation.batch import continues_from

from .database import connect
from .inbound import PeerRequestRefused
from .timestamps import utc_now

_END = object()


class PullStages:
    def __init__(self, exchange, peer, cursor: str | None, max_batches: int):
        self.exchange = exchange
        self.peer = peer
        self.max_batches = max_batches
        self._cursor = cursor
        self._stored = cursor  # the cursor this node has stored; sent with each request
        self._stop = threading.Event()
        self._opened: queue.Queue = queue.Queue(maxsize=1)
        self._verified: queue.Queue = queue.Queue(maxsize=1)
        self._threads = [threading.Thread(target=self._guard, args=(self._fetch, self._opened), daemon=True,
                                          name="cordon-pull-fetch"),
                         threading.Thread(target=self._guard, args=(self._verify, self._verified), daemon=True,
                                          name="cordon-pull-verify")]

    def __enter__(self) -> "PullStages":
        try:
            for thread in self._threads:
                thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __iter__(self):
        while True:
            try:
                got = self._verified.get(timeout=1.0)
            except queue.Empty:
                if any(thread.is_alive() for thread in self._threads):
                    continue
                raise RuntimeError("the pull's fetching and verifying threads ended without a result") from None
            if got is _END:
                return
            if isinstance(got, BaseException):
                raise got
            yield got

    def stored(self, cursor: str) -> None:
        """Tell the stages which cursor is now stored (sent as ``stored`` with later requests)."""
        self._stored = cursor

    def close(self) -> None:
        self._stop.set()
        for stage in (self._opened, self._verified):  # unblock a stage waiting to hand over
            try:
                while True:
                    stage.get_nowait()
            except queue.Empty:
                pass
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join()  # a request in flight ends within the pull's timeout

    # -- stages ------------------------------------------------------------------------------------
    def _guard(self, stage, out: queue.Queue) -> None:
        runtime = self.exchange.runtime
        db = None
        try:
            db = connect(runtime.db_path, autocheckpoint=runtime.autocheckpoint)
            stage(db)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            self._hand(out, exc)
        else:
            self._hand(out, _END)
        finally:
            if db is not None:
                db.conn.close()

    # Each batch gets an intake of its own: the node's keys and inbound policy as they are now.
    def _fetch(self, db) -> None:
        cursor = self._cursor
        for _ in range(self.max_batches):
            envelope = self.exchange.request_changes(self.peer, cursor, self._stored)
            batch = self.exchange.intake(db).open(self.peer.node_id, envelope)
            if not continues_from(batch, cursor):  # an answer replayed from an earlier pull, say
                raise PeerRequestRefused("cursor_mismatch", self.peer.node_id)
            if not self._hand(self._opened, batch) or not batch.more:
                return
            cursor = batch.next_cursor or cursor or "0"

    def _verify(self, db) -> None:
        while True:
            got = self._take(self._opened)
            if got is _END or got is None:
                return
            if isinstance(got, BaseException):
                raise got
            verified = self.exchange.intake(db).verify(self.peer.node_id, got, utc_now())
            if not self._hand(self._verified, (got, verified)):
                return

    def _hand(self, out: queue.Queue, value) -> bool:
        """Put ``value`` for the next stage; False once the pull is stopping."""
        while not self._stop.is_set():
            try:
                out.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, source: queue.Queue):
        while not self._stop.is_set():
            try:
                return source.get(timeout=0.2)
            except queue.Empty:
                continue
        return None


__all__ = ["PullStages"]
