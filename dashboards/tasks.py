"""Nightly KPI snapshots. Tasks are thin wrappers around dashboards.snapshots."""

from datetime import timedelta

from celery import shared_task

from .periods import MAX_DAYS
from .snapshots import CHANNELS, compute_snapshots, stale_days, today

# Cohort figures (resolution, ratings) keep changing for a while after the day itself:
# each night recomputes this many days back, not only yesterday.
RECOMPUTE_DAYS = 7


def snapshot_recent_days(days_back: int = RECOMPUTE_DAYS) -> int:
    """Recompute the snapshots of the last `days_back` days (up to yesterday) for every channel,
    and of the days of the last MAX_DAYS stored in an older format (after an upgrade that
    stores more, pages compute such days live until then). Returns the rows written."""
    end = today() - timedelta(days=1)
    start = end - timedelta(days=days_back - 1)
    written = 0
    for channel in CHANNELS:
        written += compute_snapshots(channel, start, end)
        stale = stale_days(channel, end - timedelta(days=MAX_DAYS - 1), start - timedelta(days=1))
        for day in stale:
            written += compute_snapshots(channel, day, day)
    return written


@shared_task
def snapshot_kpis_task(days_back: int = RECOMPUTE_DAYS) -> int:
    return snapshot_recent_days(days_back)


@shared_task
def rebuild_attribution_task() -> dict[str, int]:
    """Nightly, before the KPI snapshots: the stored attribution worked out again from the data
    (`manage.py rebuild_attribution`), so what no action reports (a KOL post ingested after its
    reposts' leads, a campaign made by code, rows written directly) is right by the morning.
    About 9 s over 1M customers and 200k orders (bench/attribution.py, loaded machine)."""
    from channels_weibo.lead_credit import credit_all

    from .kpis.attribution_store import rebuild

    return {"leads_credited": credit_all(), "events_attributed": rebuild()}
