"""The coordinator's dashboard page, ``GET /coordinator``: server-rendered, no JavaScript.

The page shows the same overview as ``GET /api/v1/federation/health``
(:mod:`node.federation_overview`): on a coordinator every member's status,
the sync-lag matrix, notification timeliness, expiring keys, overdue
consultations, version mismatches and a small inline SVG chart of the last
24 hours; on a member, the node's own state and its peers. It refreshes
itself every poll interval with a ``<meta http-equiv="refresh">``.

Who may look: a signed-in person whose session holds
``session["user"] = {"name": ..., "role": "coordinator"}``, or a client with
a bearer token holding the ``coordinator`` scope.
"""

from __future__ import annotations

import datetime as dt
import functools

from flask import Blueprint, current_app, g, render_template, request, session

from .federation_overview import overview
from .health_printout import duration, moment
from .member_poll import LAG_DEGRADED_SECONDS, POLL_INTERVAL_SECONDS
from .oauth import require_scope
from .timestamps import parse_iso, utc_now

PAGE_ROLE = "coordinator"
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 720, 180, 40


def session_user() -> dict | None:
    user = session.get("user")
    return user if isinstance(user, dict) and isinstance(user.get("role"), str) else None


def coordinator_access(view):
    """The view needs a session user with role ``coordinator`` or a bearer token with that scope."""
    guarded = require_scope(PAGE_ROLE)(view)

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        user = session_user()
        if user and user["role"] == PAGE_ROLE:
            g.actor = "user:" + str(user.get("name", ""))
            return view(*args, **kwargs)
        if user and "Authorization" not in request.headers:
            from .web.access import refusal

            return refusal(403, "Not allowed for your role",
                           f"Your role ({user['role']}) cannot see the federation dashboard; it needs the "
                           f"{PAGE_ROLE} role.")
        return guarded(*args, **kwargs)

    return wrapped


def lag_level(cell: dict) -> str:
    """ok / warn / bad / unknown, for the matrix colours (the text says the same)."""
    lag = cell.get("lag_seconds")
    if lag is None:
        return "unknown"
    if lag > LAG_DEGRADED_SECONDS or cell.get("failures", 0) >= 3:
        return "bad"
    if lag > 2 * POLL_INTERVAL_SECONDS or cell.get("failures", 0):
        return "warn"
    return "ok"


def chart(history: dict) -> dict:
    """Polyline points for the 24-hour chart: longest outbox wait (minutes) and failures, on shared time axis."""
    start, end = parse_iso(history["start"]), parse_iso(history["end"])
    span = max(1.0, (end - start).total_seconds())
    points = history["points"]
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    max_lag = max([p["max_lag_seconds"] / 60 for p in points] + [1.0])
    max_fail = max([p["failures"] for p in points] + [1])

    def place(point, value, top):
        x = CHART_PAD + inner_w * ((parse_iso(point["at"]) - start).total_seconds() / span)
        y = CHART_PAD + inner_h * (1 - value / top)
        return f"{x:.1f},{y:.1f}"

    ticks = []
    for hours_back in (24, 18, 12, 6, 0):
        moment = end - dt.timedelta(hours=hours_back)
        x = CHART_PAD + inner_w * ((moment - start).total_seconds() / span)
        ticks.append({"x": round(x, 1), "label": "now" if hours_back == 0 else f"-{hours_back} h"})
    return {
        "width": CHART_WIDTH, "height": CHART_HEIGHT, "pad": CHART_PAD, "inner_w": inner_w, "inner_h": inner_h,
        "lag": " ".join(place(p, p["max_lag_seconds"] / 60, max_lag) for p in points),
        "failures": " ".join(place(p, p["failures"], max_fail) for p in points),
        "max_lag_minutes": round(max_lag, 1), "max_failures": max_fail, "ticks": ticks, "count": len(points),
    }


def blueprint() -> Blueprint:
    pages = Blueprint("coordinator", __name__)

    @pages.route("/coordinator")
    @coordinator_access
    def dashboard():
        runtime = current_app.extensions["cordon"]
        data = overview(runtime, utc_now(), started_at=current_app.extensions.get("cordon_started"))
        context = {"data": data, "duration": duration, "moment": moment, "lag_level": lag_level, "node": runtime.settings,
                   "refresh_seconds": POLL_INTERVAL_SECONDS}
        if data["role"] == "coordinator":
            return render_template("coordinator/dashboard.html", chart=chart(data["history"]), **context)
        return render_template("coordinator/member.html", **context)

    return pages
