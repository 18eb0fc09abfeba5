"""More than one serving process for one node (setting ``server_workers``).

One Python process runs one request's Python code at a time, so a node
answering many short requests (customs checks from many offices) is bound to
one core. With ``server_workers = N`` greater than 1, ``cordon serve`` keeps
N - 1 further processes that answer requests from the same listening socket
(the kernel hands each new connection to whichever process accepts it
first). They share everything through the database and the data directory,
as the node's command line already does while it serves:

- the first process (the one ``cordon serve`` started) alone runs the
  scheduler, the push worker, the name indexer and the WAL checkpointer;
- a change committed in a worker process wakes the first process's push
  worker and name indexer through a pipe (one byte, no record content);
- each process keeps its own screening index, brought up to date from the
  database before every search, as with one process;
- request counters are kept per process in files under ``metrics/`` of the
  data directory and added up by whichever process answers ``/metrics``.

A worker process that dies is started again; ``cordon serve`` stops them all
when it stops, and a worker stops by itself when its parent is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger("cordon.workers")

RESTART_LIMIT = 5          # restarts of one worker within RESTART_WINDOW before it is left stopped
RESTART_WINDOW = 60.0
METRICS_DIR = "metrics"
WAKE = b"w"


def metrics_dir(data_dir: Path) -> Path:
    return Path(data_dir) / METRICS_DIR


def prepare_metrics_dir(data_dir: Path) -> Path:
    """An empty directory for per-process metric files, owner-only; files left by an earlier run are removed."""
    path = metrics_dir(data_dir)
    path.mkdir(mode=0o700, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


class WakeRelay:
    """In the first process: reads the wake pipe and calls ``wakers`` when a worker process changed records."""

    def __init__(self, read_fd: int, wakers: list[Callable[[], None]]):
        self.read_fd = read_fd
        self.wakers = wakers
        self._thread = threading.Thread(target=self._run, name="cordon-wake-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.read_fd, 4096)
            except OSError:
                return
            if not data:
                return
            for wake in self.wakers:
                try:
                    wake()
                except Exception:  # noqa: BLE001 - a waker never stops the relay
                    log.exception("wake-up failed")


def wake_sender(write_fd: int) -> Callable[..., None]:
    """In a worker process: a change subscriber that writes one byte to the wake pipe (never blocks;
    a full pipe already holds a pending wake-up)."""
    os.set_blocking(write_fd, False)

    def send(*_args) -> None:
        try:
            os.write(write_fd, WAKE)
        except BlockingIOError:
            pass
        except OSError:
            log.warning("cannot wake the first serving process", exc_info=True)

    return send


class WorkerPool:
    """In the first process: starts ``count`` worker processes on ``listener`` and keeps them running."""

    def __init__(self, data_dir: Path, listener: socket.socket, count: int, wakers: list[Callable[[], None]]):
        self.data_dir = Path(data_dir)
        self.listener = listener
        self.count = count
        self._read_fd, self._write_fd = os.pipe()
        self._relay = WakeRelay(self._read_fd, wakers)
        self._procs: dict[int, subprocess.Popen] = {}
        self._starts: dict[int, list[float]] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="cordon-worker-watch", daemon=True)

    def start(self) -> None:
        self._relay.start()
        for number in range(2, self.count + 2):
            self._spawn(number)
        self._watcher.start()

    def pids(self) -> list[int]:
        with self._lock:
            return [proc.pid for proc in self._procs.values() if proc.poll() is None]

    def _spawn(self, number: int) -> None:
        fd = self.listener.fileno()
        with self._lock:  # never after stop() has collected the processes to stop
            if self._stopping.is_set():
                return
            proc = subprocess.Popen(
                [sys.executable, "-m", "node.worker_pool", str(self.data_dir), str(fd), str(self._write_fd),
                 str(number), str(os.getpid())],
                pass_fds=(fd, self._write_fd), stdin=subprocess.DEVNULL)
            self._procs[number] = proc
        self._starts.setdefault(number, []).append(time.monotonic())
        log.info("serving process %d started (pid %d)", number, proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                ended = [(number, proc) for number, proc in self._procs.items() if proc.poll() is not None]
            for number, proc in ended:
                if self._stopping.is_set():
                    return
                recent = [t for t in self._starts.get(number, []) if time.monotonic() - t < RESTART_WINDOW]
                self._starts[number] = recent
                if len(recent) >= RESTART_LIMIT:
                    log.error("serving process %d ended (exit %s) %d times within %.0f s; not started again",
                              number, proc.returncode, len(recent), RESTART_WINDOW)
                    with self._lock:
                        self._procs.pop(number, None)
                    continue
                log.warning("serving process %d ended (exit %s); starting it again", number, proc.returncode)
                self._spawn(number)

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(self._write_fd)


def run_worker(data_dir: Path, listen_fd: int, wake_fd: int, number: int, parent: int) -> None:
    """A worker process: the node's app on the inherited listening socket, until SIGTERM or its parent ends."""
    from .config import read_settings
    from .server import configure_logging, make_server, prepare_app

    os.umask(0o077)
    settings = read_settings(data_dir)
    configure_logging(settings, f"{settings.node_id} #{number}")
    listener = socket.socket(fileno=listen_fd)
    app = prepare_app(data_dir, settings)
    app.extensions["cordon_events"].subscribe(wake_sender(wake_fd))
    server = make_server(app, settings, sockets=[listener])
    stopping = threading.Event()

    def stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the first process, which stops this one

    def orphan_watch() -> None:
        while not stopping.wait(1.0):
            if os.getppid() != parent:
                log.warning("the first serving process is gone; stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=orphan_watch, name="cordon-parent-watch", daemon=True).start()
    log.info("serving process %d ready", number)
    try:
        server.run()
    finally:
        server.close()
        app.extensions["cordon"].close()
        log.info("serving process %d stopped", number)


if __name__ == "__main__":
    run_worker(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
