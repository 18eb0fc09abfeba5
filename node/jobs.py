"""Scheduled jobs. Each takes the runtime and ``now`` so it can be run on demand
(``cordon jobs run NAME``) or from a test with a chosen time."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from .denials import DenialRegistry
from .runtime import NodeRuntime

log = logging.getLogger("cordon.jobs")


def expire_denials(runtime: NodeRuntime, now: dt.datetime) -> dict:
    registry = DenialRegistry(runtime.db(), runtime.node_id, review_years=runtime.settings.review_years)
    expired = registry.expire_due(now=now, actor="job:expire-denials")
    if expired:
        log.info("expired %d denial(s) past their review date", len(expired))
    return {"expired": len(expired), "uids": expired}


JOBS: dict[str, tuple[Callable[[NodeRuntime, dt.datetime], dict], dict]] = {
    "expire-denials": (expire_denials, {"trigger": "cron", "hour": 2, "minute": 15}),
}
