"""Retry policy for peer deliveries.

5xx answers and network errors are retried with exponential backoff and full
jitter, capped at about an hour; 429 and 503 honour ``Retry-After``; other
4xx answers are permanent (the peer refuses what we send) and wait for an
administrator, retried only at the cap so a fixed peer recovers by itself.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random

BASE_SECONDS = 2.0
CAP_SECONDS = 3600.0


def classify(status: int | None) -> str:
    """'ok', 'retry' (transient) or 'permanent' for an HTTP status (None = network error)."""
    if status is None or status >= 500 or status in (408, 425, 429):
        return "retry"
    if 200 <= status < 300:
        return "ok"
    return "permanent"


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def next_attempt(failures: int, now: dt.datetime, *, status: int | None = None, retry_after: str | None = None,
                 rng: random.Random | None = None) -> dt.datetime:
    """When to try again after ``failures`` consecutive failures (failures >= 1)."""
    if classify(status) == "permanent":
        return now + dt.timedelta(seconds=CAP_SECONDS)
    hinted = retry_after_seconds(retry_after, now) if status in (429, 503) else None
    if hinted is not None:
        return now + dt.timedelta(seconds=min(hinted, CAP_SECONDS))
    ceiling = min(CAP_SECONDS, BASE_SECONDS * (2 ** min(failures - 1, 20)))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    return now + dt.timedelta(seconds=delay)
