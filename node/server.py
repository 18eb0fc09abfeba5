"""``cordon serve``: the node on waitress (a production WSGI server with HTTP/1.1
keep-alive) and its scheduler, in one process, stopped cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
import time

from waitress.server import create_server

from .app import create_app
from .database import Checkpointer
from .jobs import JOBS, triggers
from .scheduler import build_scheduler

log = logging.getLogger("cordon.server")


class AccessLog:
    """WSGI middleware logging method, path (never the query string), status and duration."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status_holder = {}

        def recording_start(status, headers, exc_info=None):
            status_holder["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start)
        finally:
            log.info("%s %s %s %.1fms", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                     status_holder.get("status", "-"), (time.perf_counter() - started) * 1000)


def serve(data_dir, *, host: str | None = None, port: int | None = None, ready=None) -> None:
    app = create_app(data_dir)
    runtime = app.extensions["cordon"]
    settings = runtime.settings
    runtime.autocheckpoint = False  # connections opened from now on: see Checkpointer
    checkpointer = Checkpointer(runtime.db_path)
    scheduler = build_scheduler(runtime, JOBS, triggers(settings))
    if settings.screening_warm_start:
        started = time.monotonic()
        log.info("loading the name data screening needs before listening ...")
        runtime.extension("screening").load_name_data()
        log.info("name data loaded in %.1f s", time.monotonic() - started)
    server = create_server(
        AccessLog(app), host=host or settings.listen_host, port=port or settings.listen_port,
        threads=settings.server_threads, channel_timeout=120, connection_limit=1000, ident="cordon",
        clear_untrusted_proxy_headers=True,
    )
    stopping = threading.Event()

    def stop(signum, frame):
        # waitress leaves its loop on SystemExit and finishes the requests in flight.
        if not stopping.is_set():
            stopping.set()
            log.info("stopping (signal %s)", signum)
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    checkpointer.start()
    for starter in app.extensions.get("cordon_workers", []):
        starter()
    log.info("node %s (%s) listening on http://%s:%s", settings.node_id, settings.name,
             server.effective_host, server.effective_port)
    if ready:
        ready(server)
    try:
        server.run()
    finally:
        server.close()
        for stopper in app.extensions.get("cordon_stoppers", []):
            stopper()
        scheduler.shutdown(wait=False)
        runtime.close()
        checkpointer.stop()
        log.info("stopped")
