"""The node's background scheduler (APScheduler), started by ``cordon serve`` only."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from .runtime import NodeRuntime
from .timestamps import utc_now

log = logging.getLogger("cordon.scheduler")


def build_scheduler(runtime: NodeRuntime, jobs: dict, triggers: dict) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                 "misfire_grace_time": 300})

    def runner(name, function):
        def run():
            try:
                function(runtime, utc_now())
            except Exception:  # noqa: BLE001 - one failed run must not stop the schedule
                log.exception("job %s failed", name)
        return run

    for name, trigger in triggers.items():
        scheduler.add_job(runner(name, jobs[name]), id=name, name=name, **trigger)
    return scheduler
