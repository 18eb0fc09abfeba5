"""This node's health as metadata only: what a trusted peer or the coordinator may ask for.

:func:`node_health` gathers software and protocol version, uptime, key
validity, per-peer exchange state (last success each way, consecutive
failures, next retry, outbox depth and the age of its oldest change),
notification timeliness, overdue consultations and record counts by type
and status. Every value is a node id, a timestamp, a count, a duration in
whole seconds or a fixed code: never a record's content, reference, uid or
party name, and never a peer's error text. Whole numbers only, because the
answer is sealed as canonical JSON (which has no floats).
"""

from __future__ import annotations

import datetime as dt
import statistics

import sqlite_utils

from federation.keys import REVOKED, parse_time

from .peers import PeerRegistry
from .timestamps import parse_iso, to_iso

PROTOCOL_VERSION = "1"
TIMELINESS_WINDOW = dt.timedelta(days=7)
TIMELINESS_SAMPLE = 5000  # the latest versions received in the window; bounds the cost after a bulk sync
REFUSALS_WINDOW = dt.timedelta(hours=24)
COORDINATOR = "coordinator"

# Record tables counted by status: (record type, table, status column).
COUNTED = (("licence", "licences", "status"), ("consultation", "consultations", "status"))


def node_health(runtime, now: dt.datetime, *, started_at: float | None = None) -> dict:
    """The health report of the node behind ``runtime`` at ``now`` (metadata only)."""
    from .app import software_version

    db = runtime.db()
    settings = runtime.settings
    return {
        "node_id": settings.node_id,
        "role": settings.role,
        "software_version": software_version(),
        "protocol_version": PROTOCOL_VERSION,
        "generated_at": to_iso(now),
        "started_at": to_iso(dt.datetime.fromtimestamp(started_at, dt.timezone.utc)) if started_at else None,
        "uptime_seconds": max(0, int(now.timestamp() - started_at)) if started_at else None,
        "keys": key_summary(runtime.keyring.document, now),
        "peers": peer_summary(db, runtime.node_id, now),
        "consultations": consultation_summary(db, now),
        "records": record_counts(db, runtime.node_id),
        "refusals_24h": refusal_counts(db, now - REFUSALS_WINDOW),
    }


def key_summary(document: dict, now: dt.datetime) -> list[dict]:
    """Every key of the identity document that is not revoked: use, status and how long it stays valid."""
    out = []
    for entry in document["keys"]:
        if entry["status"] == REVOKED:
            continue
        not_after = entry.get("not_after")
        days = None
        if not_after:
            days = int((parse_time(not_after) - now).total_seconds() // 86400)
        out.append({"kid": entry["kid"], "use": entry["use"], "status": entry["status"],
                    "not_before": entry["not_before"], "not_after": not_after, "expires_in_days": days})
    return out


def table_columns(db: sqlite_utils.Database, table: str) -> set[str]:
    """Column names of ``table``, or an empty set if the table does not exist (yet)."""
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}


def peer_summary(db: sqlite_utils.Database, node_id: str, now: dt.datetime, *, timeliness: bool = True) -> list[dict]:
    """Exchange state with every active member peer (coordinators take no part in exchange)."""
    registry = PeerRegistry(db, node_id)
    states = registry.states()
    delays = notification_delays(db, now - TIMELINESS_WINDOW) if timeliness else {}
    out = []
    for peer in registry.active():
        if peer.role == COORDINATOR:
            continue
        state = states.get(peer.node_id, {})
        cursor = state.get("push_cursor") or 0
        depth, oldest = db.execute(
            "SELECT count(*), min(at) FROM changes WHERE seq > ?", [cursor]).fetchone()
        out.append({
            "node_id": peer.node_id,
            "last_push_ok": state.get("last_push_ok"),
            "last_served_pull": state.get("last_served_pull"),
            "last_pull_ok": state.get("last_pull_ok"),
            "last_received": state.get("last_received"),
            "push_failures": state.get("failures") or 0,
            "pull_failures": state.get("pull_failures") or 0,
            "next_attempt_at": state.get("next_attempt_at"),
            "outbox_depth": depth,
            "oldest_pending_at": oldest,
            **({"timeliness": delay_summary(delays.get(peer.node_id, []))} if timeliness else {}),
        })
    return out


def notification_delays(db: sqlite_utils.Database, since: dt.datetime) -> dict[str, list[int]]:
    """Per origin: seconds from a record version's ``updated_at`` at its origin to its arrival here.

    Only versions both made and received inside the window count, so a first
    catch-up of old records does not pass for a late notification; of those, the
    latest :data:`TIMELINESS_SAMPLE` received.
    """
    stamp = to_iso(since)
    rows = db.execute(
        "SELECT r.origin, (julianday(r.received_at) - julianday(d.updated_at)) * 86400.0 "
        "FROM received r JOIN denials d ON d.uid = r.uid "
        "WHERE r.kind = 'record' AND r.received_at >= ? AND d.updated_at >= ? "
        "ORDER BY r.rowid DESC LIMIT ?", [stamp, stamp, TIMELINESS_SAMPLE]).fetchall()
    out: dict[str, list[int]] = {}
    for origin, seconds in rows:
        if seconds is not None:
            out.setdefault(origin, []).append(max(0, round(seconds)))
    return out


def delay_summary(delays: list[int]) -> dict:
    if not delays:
        return {"count": 0, "median_seconds": None, "p90_seconds": None, "max_seconds": None}
    ordered = sorted(delays)
    return {"count": len(ordered), "median_seconds": round(statistics.median(ordered)),
            "p90_seconds": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], "max_seconds": ordered[-1]}


def consultation_summary(db: sqlite_utils.Database, now: dt.datetime) -> dict:
    """Open and overdue consultations; ``available`` is false where this node keeps none (yet)."""
    columns = table_columns(db, "consultations")
    if "status" not in columns:
        return {"available": False, "open": 0, "overdue": 0}
    overdue_sql = "status = 'overdue'"
    params: list = []
    if "response_due" in columns:
        overdue_sql += " OR (status = 'open' AND response_due IS NOT NULL AND response_due < ?)"
        params.append(to_iso(now))
    overdue = db.execute(f"SELECT count(*) FROM consultations WHERE {overdue_sql}", params).fetchone()[0]
    still_open = db.execute("SELECT count(*) FROM consultations WHERE status = 'open'").fetchone()[0]
    return {"available": True, "open": still_open, "overdue": overdue}


def record_counts(db: sqlite_utils.Database, node_id: str) -> dict:
    """Counts by record type and status; denials split into this node's own and those received."""
    denials: dict[str, dict[str, int]] = {"own": {}, "received": {}}
    for status, origin, count in db.execute(
            "SELECT status, origin, count(*) FROM denials GROUP BY status, origin").fetchall():
        side = denials["own" if origin == node_id else "received"]
        side[status] = side.get(status, 0) + count
    out: dict = {"denial": denials}
    for record_type, table, column in COUNTED:
        if column in table_columns(db, table):
            rows = db.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY 1").fetchall()
            out[record_type] = {str(status): count for status, count in rows}
    return out


def refusal_counts(db: sqlite_utils.Database, since: dt.datetime) -> dict[str, int]:
    """Refused peer requests and items by refusal code (a fixed vocabulary) since ``since``."""
    rows = db.execute("SELECT code, count(*) FROM refusals WHERE at >= ? GROUP BY code", [to_iso(since)]).fetchall()
    return {code: count for code, count in rows}


def seconds_since(stamp: str | None, now: dt.datetime) -> int | None:
    """Whole seconds from ``stamp`` to ``now`` (never negative); None if there is no readable stamp."""
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return max(0, int((now - parse_iso(stamp)).total_seconds()))
    except ValueError:
        return None
