"""Prometheus metrics for one node app, in the app's own registry (never the process-global one).

Exposed at ``GET /metrics`` in the Prometheus text format:

- ``cordon_http_requests_total{method, route, status}``: the route is the URL
  rule (``/api/v1/denials/<uid>``), never the concrete path, so no uid,
  reference or name reaches a label;
- ``cordon_federation_refusals_total{kind, code}``: refused peer requests,
  ``kind`` one of signature, replay, seal, identity, policy, other;
- ``cordon_screening_seconds``: histogram of ``POST /api/v1/screen`` times;
- ``cordon_exchanges_total{peer, direction, outcome}`` and
  ``cordon_exchange_records_total{peer, direction}``: pushes and pulls this
  node made and the records they carried;
- read from the database at scrape time: ``cordon_peer_sync_lag_seconds``
  (seconds since the last successful exchange either way),
  ``cordon_peer_outbox_depth``, ``cordon_peer_outbox_oldest_seconds``,
  ``cordon_peer_consecutive_failures{direction}``, ``cordon_key_expiry_seconds``,
  ``cordon_node_info`` and, on a coordinator, ``cordon_member_up`` /
  ``cordon_member_status``.

Labels hold node ids, routes, methods, status codes and fixed codes only.

With several serving processes (setting ``server_workers``) the counters and
the histogram live in per-process files (the client library's multiprocess
mode) and whichever process answers ``/metrics`` adds them all up.

Access: a request from the loopback interface that was not relayed by a
proxy (no ``Forwarded`` / ``X-Forwarded-For`` header) is served as is, for a
Prometheus or node exporter on the same host; any other request needs a
bearer token with the ``admin`` or ``coordinator`` scope.
"""

from __future__ import annotations

import ipaddress
import os
import time

from flask import Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from federation.keys import parse_time

from .health_report import COORDINATOR, PROTOCOL_VERSION, peer_summary, seconds_since
from .oauth import require_scope
from .timestamps import utc_now

METRICS_SCOPES = ("admin", "coordinator")
SCREEN_ENDPOINT = "screening.screen"

REFUSAL_KINDS = {
    "signature": ("bad_signature", "signature_missing", "unknown_key", "key_revoked", "key_not_valid",
                  "digest_mismatch", "wrong_destination", "not_canonical", "malformed"),
    "replay": ("replay", "stale_request"),
    "seal": ("seal_invalid",),
    "identity": ("identity_invalid", "rotation_invalid", "unknown_peer"),
    "policy": ("query_not_allowed", "inbound_policy", "relay_refused", "origin_conflict", "ref_conflict",
               "unsupported_type", "coordinator_exchange", "licence_not_disclosed", "consultation_not_allowed"),
}
KIND_OF = {code: kind for kind, codes in REFUSAL_KINDS.items() for code in codes}


def refusal_kind(code: str) -> tuple[str, str]:
    """(kind, code) for a refusal code; codes outside the known set are counted as ("other", "other")."""
    kind = KIND_OF.get(code)
    return (kind, code) if kind else ("other", "other")


class NodeMetrics:
    def __init__(self, runtime, *, started_at: float | None = None):
        self.runtime = runtime
        self.started_at = started_at or time.time()
        self.registry = CollectorRegistry()
        self.requests = Counter("cordon_http_requests", "HTTP requests answered, by method, URL rule and status",
                                ["method", "route", "status"], registry=self.registry)
        self.refusals = Counter("cordon_federation_refusals", "Refused peer requests, by kind and refusal code",
                                ["kind", "code"], registry=self.registry)
        self.screening = Histogram("cordon_screening_seconds", "Time to answer POST /api/v1/screen",
                                   buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
                                   registry=self.registry)
        self.exchanges = Counter("cordon_exchanges", "Pushes and pulls this node made, by peer and outcome",
                                 ["peer", "direction", "outcome"], registry=self.registry)
        self.records = Counter("cordon_exchange_records", "Records sent by push or stored from pulls, by peer",
                               ["peer", "direction"], registry=self.registry)
        self.state = StateCollector(runtime, self.started_at)
        self.registry.register(self.state)
        # Request counters by (method, route, status): a handful of keys, looked up once each.
        self._request_counters: dict[tuple[str, str, str], Counter] = {}

    # -- events ---------------------------------------------------------------
    def refusal(self, code: str) -> None:
        kind, code = refusal_kind(code)
        self.refusals.labels(kind=kind, code=code).inc()

    def exchange_result(self, direction: str, result: dict) -> None:
        """Called by the exchange after each push or pull attempt (``direction`` "push" or "pull")."""
        if result.get("skipped") or (direction == "push" and result.get("requests") == 0):
            return  # no attempt was made: backing off, or nothing to send
        peer = result.get("peer") or "unknown"
        self.exchanges.labels(peer=peer, direction=direction, outcome="ok" if result.get("ok") else "failed").inc()
        moved = result.get("sent", 0) if direction == "push" else result.get("stored", 0)
        if moved:
            self.records.labels(peer=peer, direction=direction).inc(moved)

    # -- the Flask side ----------------------------------------------------------
    def install(self, app) -> None:
        app.extensions["cordon_metrics"] = self
        app.before_request(self._started)
        app.after_request(self._finished)
        def exposition():
            return self.exposition()

        guarded = require_scope(*METRICS_SCOPES)(exposition)

        def metrics():
            return exposition() if from_loopback() else guarded()

        app.add_url_rule("/metrics", "metrics", metrics)

    def _started(self):
        g.cordon_metrics_started = time.perf_counter()

    def _finished(self, response):
        started = g.get("cordon_metrics_started")
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        key = (request.method, route, str(response.status_code))
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.requests.labels(method=key[0], route=key[1], status=key[2])
        counter.inc()
        if started is not None and request.endpoint == SCREEN_ENDPOINT:
            self.screening.observe(time.perf_counter() - started)
        return response

    def exposition(self):
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several serving processes (server_workers): add up every process's counters.
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            registry.register(self.state)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def from_loopback() -> bool:
    if any(name in request.headers for name in ("Forwarded", "X-Forwarded-For", "X-Real-IP")):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


class StateCollector:
    """Gauges read from the node's database at each scrape."""

    def __init__(self, runtime, started_at: float):
        self.runtime = runtime
        self.started_at = started_at

    def describe(self):
        return []

    def collect(self):
        runtime = self.runtime
        now = utc_now()
        db = runtime.db()
        from .app import software_version

        info = GaugeMetricFamily("cordon_node_info", "This node: id, role, software and protocol version",
                                 labels=["node_id", "role", "version", "protocol"])
        info.add_metric([runtime.node_id, runtime.settings.role, software_version(), PROTOCOL_VERSION], 1)
        yield info
        yield GaugeMetricFamily("cordon_node_start_time_seconds", "When this node process started (unix time)",
                                value=self.started_at)
        lag = GaugeMetricFamily("cordon_peer_sync_lag_seconds",
                                "Seconds since the last successful exchange with the peer, either way",
                                labels=["peer"])
        depth = GaugeMetricFamily("cordon_peer_outbox_depth", "Changes after the peer's push cursor",
                                  labels=["peer"])
        oldest = GaugeMetricFamily("cordon_peer_outbox_oldest_seconds",
                                   "Age of the oldest change still waiting for the peer (0: outbox empty)",
                                   labels=["peer"])
        failures = GaugeMetricFamily("cordon_peer_consecutive_failures", "Consecutive failed pushes or pulls",
                                     labels=["peer", "direction"])
        for peer in peer_summary(db, runtime.node_id, now, timeliness=False):
            node = peer["node_id"]
            ages = [seconds_since(peer[name], now) for name in
                    ("last_push_ok", "last_served_pull", "last_pull_ok", "last_received")]
            known = [age for age in ages if age is not None]
            if known:
                lag.add_metric([node], min(known))
            depth.add_metric([node], peer["outbox_depth"])
            waiting = seconds_since(peer["oldest_pending_at"], now) if peer["outbox_depth"] else 0
            oldest.add_metric([node], waiting or 0)
            failures.add_metric([node, "push"], peer["push_failures"])
            failures.add_metric([node, "pull"], peer["pull_failures"])
        yield from (lag, depth, oldest, failures)
        expiry = GaugeMetricFamily("cordon_key_expiry_seconds", "Seconds until this node's active key ends",
                                   labels=["use", "kid"])
        for key in runtime.keyring.document["keys"]:
            if key["status"] == "active" and key.get("not_after"):
                expiry.add_metric([key["use"], key["kid"]], (parse_time(key["not_after"]) - now).total_seconds())
        yield expiry
        if runtime.settings.role == COORDINATOR:
            yield from member_gauges(db)


def member_gauges(db):
    up = GaugeMetricFamily("cordon_member_up", "1 if the member answered the latest health poll", labels=["member"])
    status = GaugeMetricFamily("cordon_member_status", "The member's status at the latest health poll",
                               labels=["member", "status"])
    rows = db.execute("SELECT member, status FROM health_samples "
                      "WHERE id IN (SELECT max(id) FROM health_samples GROUP BY member)").fetchall()
    for member, state in rows:
        up.add_metric([member], 0 if state == "down" else 1)
        status.add_metric([member, state], 1)
    yield up
    yield status
