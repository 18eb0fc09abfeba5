"""Scheduled jobs of consultations and undercut flags; each takes the runtime and ``now``."""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger("cordon.jobs")


def mark_overdue_consultations(runtime, now: dt.datetime) -> dict:
    """Mark open consultations past their reply deadline as overdue (inbox and outbox)."""
    from .consultations import ConsultationRegistry

    marked = ConsultationRegistry(runtime.db(), runtime.node_id).mark_overdue(
        now=now, actor="job:mark-overdue-consultations")
    if marked:
        log.info("%d consultation(s) overdue", len(marked))
    return {"overdue": len(marked), "uids": marked}


def deliver_consultations(runtime, now: dt.datetime) -> dict:
    """Send every queued consultation event whose retry time has come."""
    from .consultation_delivery import ConsultationCourier

    return {"peers": ConsultationCourier(runtime).deliver(now=now)}


def flag_licences(runtime, now: dt.datetime) -> dict:
    """Check licences recorded or amended since the last run (imports included) for undercut."""
    from .database import BulkWork
    from .licence_flags import LicenceFlags
    from .screening_service import ScreeningService

    if BulkWork(runtime.data_dir).active():
        return {"deferred": "a pull or an import is storing records; the next run checks"}
    service = runtime.extension("screening") or ScreeningService(runtime)
    return LicenceFlags(runtime.db(), runtime.node_id, service,
                        review_years=runtime.settings.review_years).check_pending(now=now)
