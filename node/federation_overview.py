"""The federation at a glance, as the coordinator's dashboard, its JSON and ``cordon health`` show it.

On a coordinator, :func:`coordinator_overview` reads the latest poll of every
member (``health_samples``) and derives:

- each member's status: ``up``, ``degraded``, ``down``, or ``unknown`` (never
  polled), with the reasons, and ``stale`` when the latest poll is older than
  three poll intervals;
- the sync-lag matrix: for each origin and receiver, how long the receiver has
  been behind the origin. From the origin's report: 0 when its outbox to the
  receiver is empty, else the age of the oldest change still waiting. When the
  origin did not answer, from the receiver's report instead: the time since it
  last pulled from or received from the origin (``basis`` says which);
- notification timeliness: per origin and receiver, how long record versions
  took from their origin to the receiver, as the receiver measured it;
- keys expiring within 30 days (members' and the coordinator's own),
  overdue consultations, protocol version mismatches;
- a 24-hour history in 15-minute buckets: the longest outbox wait and the
  number of failures (members not answering plus failing links).

On a member, :func:`member_overview` is the node's own health report with the
lag towards each peer worked out. Nothing here holds record content: the
inputs are the metadata reports of :mod:`node.health_report`.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics

from .health_report import PROTOCOL_VERSION, key_summary, node_health, seconds_since
from .member_poll import KEY_WARNING_DAYS, POLL_INTERVAL_SECONDS, MemberPoller
from .timestamps import parse_iso, to_iso

CHART_HOURS = 24
BUCKET_MINUTES = 15


def coordinator_overview(runtime, now: dt.datetime) -> dict:
    db = runtime.db()
    members = MemberPoller(runtime).members()
    latest = latest_samples(db)
    rows, reports = [], {}
    for peer in members:
        sample = latest.get(peer.node_id)
        report = sample["report"] if sample else None
        if report is not None:
            reports[peer.node_id] = report
        rows.append(member_row(peer, sample, report, now))
    ids = [peer.node_id for peer in members]
    up = {row["node_id"] for row in rows if row["status"] in ("up", "degraded")}
    summary = {status: sum(1 for row in rows if row["status"] == status)
               for status in ("up", "degraded", "down", "unknown")}
    own_keys = [dict(key, node_id=runtime.node_id) for key in key_summary(runtime.keyring.document, now)]
    return {
        "role": "coordinator",
        "node_id": runtime.node_id,
        "generated_at": to_iso(now),
        "protocol_version": PROTOCOL_VERSION,
        "poll_interval_seconds": POLL_INTERVAL_SECONDS,
        "last_poll_at": max((row["polled_at"] for row in rows if row["polled_at"]), default=None),
        "summary": summary,
        "members": rows,
        "lag": lag_matrix(ids, reports, up, latest, now),
        "timeliness": timeliness(ids, reports),
        "keys_expiring": expiring_keys(own_keys + [dict(key, node_id=node) for node, report in reports.items()
                                                   for key in report["keys"]]),
        "consultations": consultations(ids, reports),
        "version_mismatches": [{"node_id": row["node_id"], "protocol_version": row["protocol_version"],
                                "software_version": row["software_version"]}
                               for row in rows if row["protocol_version"] not in (None, PROTOCOL_VERSION)],
        "software_versions": software_versions(rows),
        "history": history(db, now),
    }


def latest_samples(db) -> dict[str, dict]:
    """Each member's latest sample, with the last report it sent (which may be from an earlier poll)."""
    columns = ("id", "member", "polled_at", "status", "reasons", "elapsed_ms", "error")
    rows = db.execute(
        f"SELECT {', '.join(columns)} FROM health_samples "
        "WHERE id IN (SELECT max(id) FROM health_samples GROUP BY member)").fetchall()
    out = {}
    for row in rows:
        sample = dict(zip(columns, row))
        sample["reasons"] = json.loads(sample["reasons"])
        out[sample["member"]] = sample
    for member, report, polled_at in db.execute(
            "SELECT member, report, polled_at FROM health_samples WHERE report IS NOT NULL").fetchall():
        if member in out:
            out[member]["report"] = json.loads(report)
            out[member]["report_polled_at"] = polled_at
    for sample in out.values():
        sample.setdefault("report", None)
        sample.setdefault("report_polled_at", None)
    return out


def member_row(peer, sample: dict | None, report: dict | None, now: dt.datetime) -> dict:
    age = seconds_since(sample["polled_at"], now) if sample else None
    consult = (report or {}).get("consultations", {})
    return {
        "node_id": peer.node_id,
        "name": peer.name,
        "status": sample["status"] if sample else "unknown",
        "reasons": sample["reasons"] if sample else [],
        "polled_at": sample["polled_at"] if sample else None,
        "stale": age is None or age > 3 * POLL_INTERVAL_SECONDS,
        "elapsed_ms": sample["elapsed_ms"] if sample else None,
        "error": sample["error"] if sample else None,
        "report_at": (report or {}).get("generated_at"),
        "software_version": (report or {}).get("software_version"),
        "protocol_version": (report or {}).get("protocol_version"),
        "uptime_seconds": (report or {}).get("uptime_seconds"),
        "overdue_consultations": consult.get("overdue") if consult.get("available") else None,
        "records": (report or {}).get("records", {}),
        "refusals_24h": (report or {}).get("refusals_24h", {}),
    }


def peer_entry(report: dict | None, peer_id: str) -> dict | None:
    for entry in (report or {}).get("peers", []):
        if entry.get("node_id") == peer_id:
            return entry
    return None


def latest_stamp(*stamps) -> str | None:
    readable = []
    for stamp in stamps:
        try:
            if isinstance(stamp, str) and stamp:
                readable.append((parse_iso(stamp), stamp))
        except ValueError:
            continue
    return max(readable)[1] if readable else None


def lag_cell(origin_report: dict | None, origin_up: bool, receiver_report: dict | None, origin: str,
             receiver: str, report_time: dt.datetime | None, now: dt.datetime) -> dict:
    sent = peer_entry(origin_report, receiver) if origin_up else None
    got = peer_entry(receiver_report, origin)
    failures = ((sent or {}).get("push_failures") or 0) + ((got or {}).get("pull_failures") or 0)
    if sent is not None:
        depth = sent.get("outbox_depth") or 0
        lag = 0 if depth == 0 else seconds_since(sent.get("oldest_pending_at"), report_time or now)
        last = latest_stamp(sent.get("last_push_ok"), sent.get("last_served_pull"))
        return {"lag_seconds": lag, "basis": "outbox", "outbox_depth": depth, "failures": failures,
                "last_exchange": last}
    if got is not None:
        last = latest_stamp(got.get("last_pull_ok"), got.get("last_received"))
        return {"lag_seconds": seconds_since(last, now), "basis": "receiver", "outbox_depth": None,
                "failures": failures, "last_exchange": last}
    return {"lag_seconds": None, "basis": "unknown", "outbox_depth": None, "failures": failures,
            "last_exchange": None}


def lag_matrix(ids: list[str], reports: dict, up: set[str], latest: dict, now: dt.datetime) -> dict:
    rows = {}
    for origin in ids:
        stamp = (latest.get(origin) or {}).get("report_polled_at")
        report_time = parse_iso(stamp) if stamp else None
        rows[origin] = {receiver: lag_cell(reports.get(origin), origin in up, reports.get(receiver), origin,
                                           receiver, report_time, now)
                        for receiver in ids if receiver != origin}
    return {"nodes": ids, "rows": rows}


def timeliness(ids: list[str], reports: dict) -> dict:
    pairs = []
    for receiver in ids:
        for entry in (reports.get(receiver) or {}).get("peers", []):
            measured = entry.get("timeliness") or {}
            if measured.get("count"):
                pairs.append({"origin": entry["node_id"], "receiver": receiver, **measured})
    medians = [pair["median_seconds"] for pair in pairs if isinstance(pair.get("median_seconds"), int)]
    return {"window_days": 7, "pairs": sorted(pairs, key=lambda p: (p["origin"], p["receiver"])),
            "records": sum(pair["count"] for pair in pairs),
            "median_seconds": round(statistics.median(medians)) if medians else None,
            "worst_seconds": max((pair.get("max_seconds") or 0 for pair in pairs), default=None)}


def expiring_keys(keys: list[dict]) -> list[dict]:
    soon = [key for key in keys if key.get("status") == "active" and isinstance(key.get("expires_in_days"), int)
            and key["expires_in_days"] <= KEY_WARNING_DAYS]
    return sorted(soon, key=lambda key: (key["expires_in_days"], key["node_id"]))


def consultations(ids: list[str], reports: dict) -> dict:
    by_member, unavailable = {}, []
    for node in ids:
        summary = (reports.get(node) or {}).get("consultations") or {}
        if summary.get("available"):
            by_member[node] = summary.get("overdue", 0)
        else:
            unavailable.append(node)
    return {"overdue": sum(by_member.values()), "by_member": by_member, "not_reported": unavailable}


def software_versions(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["software_version"]:
            out.setdefault(row["software_version"], []).append(row["node_id"])
    return out


def history(db, now: dt.datetime) -> dict:
    """Per 15-minute bucket of the last 24 hours: the longest outbox wait and the failures seen."""
    start = now - dt.timedelta(hours=CHART_HOURS)
    rows = db.execute(
        "SELECT polled_at, status, max_lag_seconds, failing_links FROM health_samples WHERE polled_at >= ? "
        "ORDER BY polled_at", [to_iso(start)]).fetchall()
    rounds: dict[str, dict] = {}
    for polled_at, status, lag, links in rows:
        current = rounds.setdefault(polled_at, {"lag": 0, "failures": 0, "down": 0})
        current["lag"] = max(current["lag"], lag or 0)
        current["failures"] += (links or 0) + (1 if status == "down" else 0)
        current["down"] += 1 if status == "down" else 0
    buckets: dict[int, dict] = {}
    width = BUCKET_MINUTES * 60
    for polled_at, values in rounds.items():
        index = int((parse_iso(polled_at) - start).total_seconds() // width)
        bucket = buckets.setdefault(index, {"max_lag_seconds": 0, "failures": 0, "down": 0, "polls": 0})
        bucket["max_lag_seconds"] = max(bucket["max_lag_seconds"], values["lag"])
        bucket["failures"] = max(bucket["failures"], values["failures"])
        bucket["down"] = max(bucket["down"], values["down"])
        bucket["polls"] += 1
    points = [{"at": to_iso(start + dt.timedelta(seconds=index * width)), **buckets[index]}
              for index in sorted(buckets)]
    return {"hours": CHART_HOURS, "bucket_minutes": BUCKET_MINUTES, "start": to_iso(start), "end": to_iso(now),
            "points": points}


def member_overview(runtime, now: dt.datetime, *, started_at: float | None = None) -> dict:
    """A member's own view: its health report, and the lag towards each peer worked out."""
    report = node_health(runtime, now, started_at=started_at)
    for entry in report["peers"]:
        depth = entry["outbox_depth"]
        entry["lag_seconds"] = 0 if depth == 0 else seconds_since(entry["oldest_pending_at"], now)
        entry["last_exchange"] = latest_stamp(entry["last_push_ok"], entry["last_served_pull"],
                                              entry["last_pull_ok"], entry["last_received"])
    report["keys_expiring"] = expiring_keys([dict(key, node_id=runtime.node_id) for key in report["keys"]])
    return report


def overview(runtime, now: dt.datetime, *, started_at: float | None = None) -> dict:
    """The coordinator's overview on a coordinator, the node's own view on a member."""
    if runtime.settings.role == "coordinator":
        return coordinator_overview(runtime, now)
    return member_overview(runtime, now, started_at=started_at)
