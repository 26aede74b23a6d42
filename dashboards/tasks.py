"""Nightly KPI snapshots. Tasks are thin wrappers around dashboards.snapshots."""

from datetime import date, timedelta

from celery import shared_task

from .snapshots import CHANNELS, compute_snapshots, today

# Cohort figures (resolution, ratings) keep changing for a while after the day itself:
# each night recomputes this many days back, not only yesterday.
RECOMPUTE_DAYS = 7


def snapshot_recent_days(days_back: int = RECOMPUTE_DAYS) -> int:
    """Recompute the snapshots of the last `days_back` days (up to yesterday) for every channel."""
    end = today() - timedelta(days=1)
    start = end - timedelta(days=days_back - 1)
    return sum(compute_snapshots(channel, start, end) for channel in CHANNELS)


@shared_task
def snapshot_kpis_task(days_back: int = RECOMPUTE_DAYS) -> int:
    return snapshot_recent_days(days_back)


@shared_task
def backfill_kpis_task(channel: str, start: str, end: str) -> int:
    return compute_snapshots(channel, date.fromisoformat(start), date.fromisoformat(end))
