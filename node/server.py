"""``cordon serve``: the node on waitress (a production WSGI server with HTTP/1.1
keep-alive) and its scheduler, stopped cleanly on SIGINT/SIGTERM.

With ``server_workers`` above 1, further serving processes answer requests
from the same socket (see :mod:`node.worker_pool`); the scheduler and the
background workers run in the first process only."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from flask import request
from waitress.server import create_server

from .app import create_app
from .collector import settle, tune
from .config import read_settings
from .database import Checkpointer
from .jobs import JOBS, triggers
from .scheduler import build_scheduler
from .worker_pool import WorkerPool, prepare_metrics_dir

log = logging.getLogger("cordon.server")


ROUTE_KEY = "cordon.route"


class AccessLog:
    """WSGI middleware logging method, route, status and duration. The route is the pattern the request
    matched (``/api/v1/licences/<path:number>``), never the path itself, which may carry a licence number,
    a declaration reference or a denial's reference, nor the query string; a request that matched no
    route is logged as ``(no route)``."""

    def __init__(self, app):
        self.app = app
        app.before_request_funcs.setdefault(None, []).insert(0, _note_route)  # before any that may answer

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status_holder = {}

        def recording_start(status, headers, exc_info=None):
            status_holder["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start)
        finally:
            log.info("%s %s %s %.1fms", environ.get("REQUEST_METHOD"), environ.get(ROUTE_KEY) or "(no route)",
                     status_holder.get("status", "-"), (time.perf_counter() - started) * 1000)


def _note_route() -> None:
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else None


def configure_logging(settings, tag: str | None = None) -> None:
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s [" + (tag or settings.node_id) + "] %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def prepare_app(data_dir, settings):
    """The node's app, ready to answer: checkpoints left to the Checkpointer, screening name data
    loaded when ``screening_warm_start`` is set, the screening index built in the background, the
    garbage collector tuned (``node.collector``)."""
    app = create_app(data_dir)
    app.extensions["cordon"].autocheckpoint = False  # connections opened from now on: see Checkpointer
    if settings.screening_warm_start:
        started = time.monotonic()
        log.info("loading the name data screening needs before listening ...")
        app.extensions["cordon"].extension("screening").load_name_data()
        log.info("name data loaded in %.1f s", time.monotonic() - started)
    app.extensions["cordon_warm"]()
    tune()
    settle()  # the app and the name data stay for the life of the process
    return app


ANSWER_IN_MEMORY = 4 * 1_048_576


def make_server(app, settings, *, host: str | None = None, port: int | None = None, sockets=None):
    where = {"sockets": sockets} if sockets else {
        "host": host or settings.listen_host, "port": port or settings.listen_port}
    # A request body up to the node's limit, and an answer up to ANSWER_IN_MEMORY (a pull's batch of 500
    # records is about 1.7 MB), are buffered in memory; waitress's defaults (512 KB, 1 MB) wrote them to a
    # temporary file first and read them back. Forwarding headers reach the application as sent: nothing
    # trusts them, and a request carrying one is not taken as local (the unauthenticated /metrics on loopback).
    return create_server(
        AccessLog(app), threads=settings.server_threads, channel_timeout=120, connection_limit=1000,
        ident="cordon", clear_untrusted_proxy_headers=False, inbuf_overflow=max(524_288, settings.max_body_bytes),
        outbuf_overflow=ANSWER_IN_MEMORY, **where,
    )


def serve(data_dir, *, host: str | None = None, port: int | None = None, ready=None) -> None:
    settings = read_settings(data_dir)
    if settings.server_workers > 1:
        # Request counters are kept in per-process files, added up at /metrics; this must be set
        # before the metrics library is first imported.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prepare_metrics_dir(data_dir))
    app = prepare_app(data_dir, settings)
    runtime = app.extensions["cordon"]
    checkpointer = Checkpointer(runtime.db_path)
    scheduler = build_scheduler(runtime, JOBS, triggers(settings))
    server = make_server(app, settings, host=host, port=port)
    pool = None
    if settings.server_workers > 1:
        listener = getattr(server, "socket", None)
        if listener is None:
            server.close()
            raise SystemExit(f"server_workers = {settings.server_workers} needs one listening address; "
                             f"{settings.listen_host} has several: set 'listen' to one of them")
        pool = WorkerPool(data_dir, listener, settings.server_workers - 1, app.extensions["cordon_wakers"])
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
    if pool:
        pool.start()
    log.info("node %s (%s) listening on http://%s:%s with %d serving process%s", settings.node_id, settings.name,
             server.effective_host, server.effective_port, settings.server_workers,
             "es" if settings.server_workers > 1 else "")
    if ready:
        ready(server)
    try:
        server.run()
    finally:
        if pool:
            pool.stop()
        server.close()
        for stopper in app.extensions.get("cordon_stoppers", []):
            stopper()
        scheduler.shutdown(wait=False)
        runtime.close()
        checkpointer.stop()
        log.info("stopped")
