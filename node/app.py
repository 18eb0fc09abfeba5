"""The Flask application factory.

``create_app(data_dir)`` builds one node's app: settings from the data
directory, the OAuth token endpoint, the ``/api/v1`` blueprints, the one
error shape. It starts no threads: the scheduler and push worker belong to
``cordon serve`` (:mod:`node.server`).
"""

from __future__ import annotations

import json
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import Flask, Response, current_app, jsonify

from . import error_responses
from .api import audit_routes, denial_routes, federation_routes, licence_routes, screening_routes
from .api import consultation_peer_routes, consultation_routes
from .api.catalogue import ApiCatalogue
from .api.openapi_document import document_view
from .config import Settings
from .events import ChangeEvents
from .exchange import Exchange, PushWorker
from .indexer import NameIndexer
from .live_query import LiveQuery
from .screening_service import ScreeningService
from .oauth import init_oauth, token_response
from .runtime import NodeRuntime


def software_version() -> str:
    try:
        return version("cordon")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(data_dir: str | Path, settings: Settings | None = None) -> Flask:
    runtime = NodeRuntime(Path(data_dir), settings)
    app = Flask("node", instance_path=str(runtime.data_dir.resolve()))
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["cordon"] = runtime
    app.extensions["cordon_events"] = ChangeEvents()
    app.extensions["cordon_started"] = time.time()
    error_responses.install(app)
    init_oauth(app)

    catalogue = ApiCatalogue()
    app.extensions["cordon_catalogue"] = catalogue
    for module in (denial_routes, licence_routes, audit_routes, screening_routes):
        app.register_blueprint(module.register(catalogue))

    app.register_blueprint(federation_routes.blueprint(catalogue))
    for blueprint in (*consultation_routes.register(catalogue), consultation_peer_routes.blueprint(catalogue)):
        app.register_blueprint(blueprint)
    from .api import customs_routes, verification_routes

    for module in (customs_routes, verification_routes):
        app.register_blueprint(module.register(catalogue))
    indexer = NameIndexer(runtime)
    exchange = Exchange(runtime, on_stored=indexer.wake)
    app.extensions["cordon_exchange"] = exchange
    app.extensions["cordon_live_query"] = LiveQuery(exchange)
    worker = PushWorker(exchange, runtime.settings.push_interval_seconds)
    app.extensions["cordon_events"].subscribe(worker.wake)
    app.extensions["cordon_events"].subscribe(indexer.wake)
    screening = ScreeningService(runtime)
    runtime.extensions["screening"] = screening
    # Started by the first serving process only (see worker_pool); every serving process warms its index.
    app.extensions["cordon_workers"] = [worker.start, indexer.start]
    app.extensions["cordon_stoppers"] = [worker.stop, indexer.stop]
    app.extensions["cordon_wakers"] = [worker.wake, indexer.wake]
    app.extensions["cordon_warm"] = lambda: threading.Thread(target=screening.warm, daemon=True).start()
    runtime.extensions["exchange"] = exchange
    from . import web

    web.install(app)
    from . import coordinator_page, metrics
    from .api import health_routes

    app.register_blueprint(health_routes.peer_blueprint(catalogue))
    app.register_blueprint(health_routes.api_blueprint(catalogue))
    app.register_blueprint(coordinator_page.blueprint())
    node_metrics = metrics.NodeMetrics(runtime, started_at=app.extensions["cordon_started"])
    node_metrics.install(app)
    exchange.on_result = node_metrics.exchange_result

    app.add_url_rule("/api/v1/openapi.json", "openapi", document_view(catalogue, software_version()))
    app.add_url_rule("/oauth/token", "oauth_token", issue_token, methods=["POST"])
    app.add_url_rule("/healthz", "healthz", healthz)
    return app


def issue_token():
    response = token_response()
    if response.status_code >= 400:
        try:
            body = json.loads(response.get_data())
        except ValueError:
            body = {}
        code = body.get("error", "bad_request")
        message = {
            "invalid_client": "unknown client or wrong secret",
            "unsupported_grant_type": "only grant_type=client_credentials is supported",
        }.get(code) or body.get("error_description") or "the token request was refused"
        fixed = jsonify({"error": code, "message": message, "fields": {}})
        fixed.status_code = response.status_code
        for key in ("WWW-Authenticate",):
            if key in response.headers:
                fixed.headers[key] = response.headers[key]
        return fixed
    return response


def healthz():
    runtime = current_app.extensions["cordon"]
    runtime.db().execute("SELECT 1").fetchone()
    return Response('{"status":"ok"}', mimetype="application/json")
