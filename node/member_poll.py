"""The coordinator's poll of its members: ask each for its health, judge it, keep a short history.

A coordinator node (``role = "coordinator"``) asks every active member peer
``POST /federation/v1/health`` (a signed request; the answer comes sealed to
the coordinator), all members in parallel with the peer timeout. Each answer
becomes one row of ``health_samples``: the member, when, its status
(``up`` / ``degraded`` / ``down``), the reasons, how long the answer took and
two figures for the history chart (the longest wait in its outboxes, the
number of failing links). The full metadata report is kept for each member's
latest answer only, so 48 hours of one-minute polls stay small; samples older
than :data:`HISTORY` are dropped at every poll. A member that does not answer
properly is ``down`` with a fixed error code; a peer's own error text is
never kept.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import time
import uuid

from federation.batch import open_json
from federation.errors import FederationError
from federation.peer_client import PeerClient, PeerRefused, PeerUnavailable

from .database import write_transaction
from .health_report import COORDINATOR, PROTOCOL_VERSION, seconds_since
from .peers import PeerRegistry
from .timestamps import to_iso

log = logging.getLogger("cordon.health")

HEALTH_PATH = "/federation/v1/health"
POLL_INTERVAL_SECONDS = 60
HISTORY = dt.timedelta(hours=48)
FAILURES_DEGRADED = 3          # consecutive push or pull failures towards one peer
LAG_DEGRADED_SECONDS = 900     # oldest change still waiting in an outbox
KEY_DEGRADED_DAYS = 7          # a current key this close to its end
KEY_WARNING_DAYS = 30          # listed on the dashboard

STATUSES = ("up", "degraded", "down")


def judge(report: dict, now: dt.datetime) -> tuple[str, list[str]]:
    """``up`` or ``degraded`` for a member that answered, with the reasons (fixed codes and node ids)."""
    reasons = []
    if report.get("protocol_version") != PROTOCOL_VERSION:
        reasons.append("protocol_mismatch")
    for key in report.get("keys", []):
        days = key.get("expires_in_days")
        if key.get("status") == "active" and days is not None:
            if days < 0:
                reasons.append(f"key_expired:{key['use']}")
            elif days <= KEY_DEGRADED_DAYS:
                reasons.append(f"key_expiring:{key['use']}")
    for peer in report.get("peers", []):
        node = peer.get("node_id")
        if (peer.get("push_failures") or 0) >= FAILURES_DEGRADED:
            reasons.append(f"push_failing:{node}")
        if (peer.get("pull_failures") or 0) >= FAILURES_DEGRADED:
            reasons.append(f"pull_failing:{node}")
        if peer.get("outbox_depth"):
            waiting = seconds_since(peer.get("oldest_pending_at"), now)
            if waiting is not None and waiting > LAG_DEGRADED_SECONDS:
                reasons.append(f"outbox_lag:{node}")
    return ("degraded" if reasons else "up"), reasons


def well_formed(report: dict) -> bool:
    """The answer has the shape of a health report (a member is trusted, but not to be tidy)."""
    lists_of_dicts = all(isinstance(report.get(name), list) and all(isinstance(x, dict) for x in report[name])
                         for name in ("keys", "peers"))
    dicts = all(isinstance(report.get(name), dict) for name in ("records", "consultations", "refusals_24h"))
    return lists_of_dicts and dicts and all(isinstance(p.get("node_id"), str) for p in report["peers"])


def max_outbox_wait(report: dict, now: dt.datetime) -> int:
    """Seconds the oldest change still waiting in any of the member's outboxes has waited (0: all delivered)."""
    waits = [seconds_since(peer.get("oldest_pending_at"), now) or 0
             for peer in report["peers"] if peer.get("outbox_depth")]
    return max(waits, default=0)


def failing_links(report: dict) -> int:
    """Peers the member currently fails to push to or pull from."""
    return sum(1 for peer in report["peers"] if (peer.get("push_failures") or 0) or (peer.get("pull_failures") or 0))


class MemberPoller:
    def __init__(self, runtime, *, timeout: float | None = None):
        self.runtime = runtime
        self.timeout = timeout or runtime.settings.peer_timeout_seconds

    def members(self) -> list:
        registry = PeerRegistry(self.runtime.db(), self.runtime.node_id)
        return [peer for peer in registry.active() if peer.role != COORDINATOR]

    def poll(self, now: dt.datetime) -> list[dict]:
        """Ask every member now; store one sample each; return the samples (without the reports)."""
        members = self.members()
        sig_kid, sig_key = self.runtime.keyring.signing_key()
        my_keys = self.runtime.keyring.encryption_keys()
        samples = []
        if members:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(members)),
                                                       thread_name_prefix="cordon-poll") as pool:
                futures = [pool.submit(self.ask, peer, sig_kid, sig_key, my_keys, now) for peer in members]
                samples = [future.result() for future in futures]
        self.store(samples, now)
        return [{key: value for key, value in sample.items() if key != "report"} for sample in samples]

    def store(self, samples: list[dict], now: dt.datetime) -> None:
        """Keep one poll's samples (see :func:`sample`); drop what is older than :data:`HISTORY`."""
        db = self.runtime.db()
        stamp = to_iso(now)
        with write_transaction(db):
            for sample in samples:
                report = sample["report"]
                if report is not None:
                    db.execute("UPDATE health_samples SET report = NULL WHERE member = ? AND report IS NOT NULL",
                               [sample["member"]])
                db.execute(
                    "INSERT INTO health_samples (member, polled_at, status, reasons, elapsed_ms, error, "
                    "max_lag_seconds, failing_links, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [sample["member"], stamp, sample["status"], json.dumps(sample["reasons"]), sample["elapsed_ms"],
                     sample["error"], sample["max_lag_seconds"], sample["failing_links"],
                     json.dumps(report, ensure_ascii=False) if report is not None else None])
            db.execute("DELETE FROM health_samples WHERE polled_at < ?", [to_iso(now - HISTORY)])

    def ask(self, peer, sig_kid, sig_key, my_keys, now: dt.datetime) -> dict:
        started = time.monotonic()
        report, error = None, None
        client = PeerClient(me=self.runtime.node_id, signer=lambda: (sig_kid, sig_key), peer_id=peer.node_id,
                            base_url=peer.base_url, timeout=self.timeout)
        try:
            request_id = uuid.uuid4().hex
            response = client.post(HEALTH_PATH, {"asked_at": to_iso(now), "request_id": request_id})
            report = open_json(response.json(), me=self.runtime.node_id, my_keys=my_keys,
                               sender_public_lookup=peer.sealing_key)
            if report.get("node_id") != peer.node_id:
                report, error = None, "wrong_node"
            elif report.pop("request_id", None) != request_id or not well_formed(report):
                # An answer to an earlier poll, replayed, would show a stopped member as up.
                report, error = None, "bad_answer"
        except PeerRefused as exc:
            error = f"refused_{exc.status}"
        except PeerUnavailable as exc:
            error = "timeout" if "Timeout" in str(exc) else (f"http_{exc.status}" if exc.status else "unreachable")
        except (FederationError, ValueError):
            error = "bad_answer"
        finally:
            client.session.close()
        if error:
            log.warning("health poll of %s failed: %s", peer.node_id, error)
        return sample(peer.node_id, report, error, round((time.monotonic() - started) * 1000), now)


def sample(member: str, report: dict | None, error: str | None, elapsed_ms: int | None, now: dt.datetime) -> dict:
    """One poll's outcome for one member: ``down`` with the error code, or judged from its report."""
    if report is None:
        return {"member": member, "status": "down", "reasons": [error or "no_answer"], "elapsed_ms": elapsed_ms,
                "error": error or "no_answer", "max_lag_seconds": None, "failing_links": None, "report": None}
    status, reasons = judge(report, now)
    return {"member": member, "status": status, "reasons": reasons, "elapsed_ms": elapsed_ms, "error": None,
            "max_lag_seconds": max_outbox_wait(report, now), "failing_links": failing_links(report), "report": report}


def poll_members(runtime, now: dt.datetime) -> dict:
    """Scheduled job ``poll-members``: a coordinator asks every member for its health."""
    if runtime.settings.role != COORDINATOR:
        return {"polled": 0, "skipped": f"this node is a {runtime.settings.role}, not a coordinator"}
    samples = MemberPoller(runtime).poll(now)
    return {"polled": len(samples), "at": to_iso(now),
            "members": {sample["member"]: sample["status"] for sample in samples}}
