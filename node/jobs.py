"""Scheduled jobs. Each takes the runtime and ``now`` so it can be run on demand
(``cordon jobs run NAME``) or from a test with a chosen time."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from .config import Settings
from .consultation_jobs import deliver_consultations, flag_licences, mark_overdue_consultations
from .database import write_transaction
from .denials import DenialRegistry
from .runtime import NodeRuntime

log = logging.getLogger("cordon.jobs")


def expire_denials(runtime: NodeRuntime, now: dt.datetime) -> dict:
    registry = DenialRegistry(runtime.db(), runtime.node_id, review_years=runtime.settings.review_years)
    expired = registry.expire_due(now=now, actor="job:expire-denials")
    if expired:
        log.info("expired %d denial(s) past their review date", len(expired))
    return {"expired": len(expired), "uids": expired}


def expire_licences(runtime: NodeRuntime, now: dt.datetime) -> dict:
    """Mark this node's licences whose validity has ended as expired."""
    from .licences import LicenceRegistry

    expired = LicenceRegistry(runtime.db(), runtime.node_id).expire_due(now=now, actor="job:expire-licences")
    if expired:
        log.info("expired %d licence(s) past their validity", len(expired))
    return {"expired": len(expired), "numbers": expired}


def pull_peers(runtime: NodeRuntime, now: dt.datetime) -> dict:
    """Anti-entropy: pull every peer's changes after our cursor (heals anything push missed)."""
    from .exchange import Exchange

    exchange = runtime.extension("exchange") or Exchange(runtime)
    results = exchange.pull()
    return {"peers": results}


def push_peers(runtime: NodeRuntime, now: dt.datetime) -> dict:
    """Deliver every peer's outbox now, ignoring backoff."""
    from .exchange import Exchange

    exchange = runtime.extension("exchange") or Exchange(runtime)
    return {"peers": exchange.push(force=True)}


def purge_nonces(runtime: NodeRuntime, now: dt.datetime) -> dict:
    db = runtime.db()
    horizon = int(now.timestamp()) - 2 * runtime.settings.request_window_seconds
    with write_transaction(db):
        removed = db.execute("DELETE FROM nonces WHERE created < ?", [horizon]).rowcount
    return {"removed": removed}


def index_names(runtime: NodeRuntime, now: dt.datetime) -> dict:
    """Normalise every stored party name that has no forms yet, then recompute forms of an older version."""
    from . import party_names

    total = refreshed = 0
    while True:
        done = party_names.compute_pending(runtime.db(), 2000)
        total += done
        if not done:
            break
    after: int | None = 0
    while after is not None:
        before = after
        after = party_names.refresh_stale(runtime.db(), after, 2000)
        if after is not None:
            refreshed += runtime.db().execute(
                "SELECT count(*) FROM party_names WHERE id > ? AND id <= ?", [before, after]).fetchone()[0]
    return {"normalised": total, "refreshed": refreshed}


def poll_members(runtime: NodeRuntime, now: dt.datetime) -> dict:
    """Coordinator only: ask every member for its health and keep the sample (see node.member_poll)."""
    from .member_poll import poll_members as poll

    return poll(runtime, now)


Job = Callable[[NodeRuntime, dt.datetime], dict]

JOBS: dict[str, Job] = {
    "expire-denials": expire_denials,
    "expire-licences": expire_licences,
    "pull-peers": pull_peers,
    "push-peers": push_peers,
    "purge-nonces": purge_nonces,
    "index-names": index_names,
    "poll-members": poll_members,
    "mark-overdue-consultations": mark_overdue_consultations,
    "deliver-consultations": deliver_consultations,
    "flag-licences": flag_licences,
}


def triggers(settings: Settings) -> dict[str, dict]:
    """When each job runs in ``cordon serve`` (APScheduler trigger arguments)."""
    return {
        "expire-denials": {"trigger": "cron", "hour": 2, "minute": 15},
        "expire-licences": {"trigger": "cron", "hour": 2, "minute": 20},
        "pull-peers": {"trigger": "interval", "seconds": settings.sync_interval_seconds},
        "purge-nonces": {"trigger": "interval", "minutes": 10},
        **({"poll-members": {"trigger": "interval", "seconds": 60}} if settings.role == "coordinator" else {}),
        "mark-overdue-consultations": {"trigger": "cron", "minute": 5},
        "deliver-consultations": {"trigger": "interval", "seconds": 30},
        "flag-licences": {"trigger": "interval", "seconds": 60},
    }
