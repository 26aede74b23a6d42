"""Writing and reading KPI snapshots: past days from the table, today computed live."""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import kpis
from .models import KpiSnapshot

COMPUTED = "computed"
# channel -> (parts of days per (account, day), figures from the parts of a period).
# Figures also get (start, end, account): Weibo reads its live parts (counters of brand posts,
# lead conversions, follower snapshots) there.
CHANNELS: dict[str, tuple[Callable, Callable]] = {
    "wechat": (kpis.wechat_day_parts, lambda parts, *_period: kpis.wechat_figures(parts)),
    "weibo": (kpis.weibo_day_parts, kpis.weibo_figures),
}


def today() -> date:
    return timezone.localdate()


def compute_snapshots(channel: str, start: date, end: date, progress=None) -> int:
    """Recompute and store the snapshots of every day start..end for the channel, one day per
    transaction (a day is replaced whole). Returns the number of rows written."""
    parts_of, _figures = CHANNELS[channel]
    written = 0
    for day in kpis.days(start, end):
        parts = parts_of(day, day)
        rows = [KpiSnapshot(channel=channel, account="", day=day, metric=COMPUTED, value=True)]
        for (account, _day), part in parts.items():
            rows += [
                KpiSnapshot(channel=channel, account=account, day=day, metric=metric, value=value)
                for metric, value in part.items()
            ]
        with transaction.atomic():
            KpiSnapshot.objects.filter(channel=channel, day=day).delete()
            KpiSnapshot.objects.bulk_create(rows)
        written += len(rows)
        if progress:
            progress(day)
    return written


def period_parts(
    channel: str, start: date, end: date, account: str | None = None
) -> dict[tuple[str, date], dict[str, Any]]:
    """The parts of every day of the period: stored snapshots for computed past days, computed
    live for today and for days never computed."""
    parts_of, _figures = CHANNELS[channel]
    last_stored = min(end, today() - timedelta(days=1))
    parts: dict[tuple[str, date], dict[str, Any]] = {}
    computed: set[date] = set()
    if start <= last_stored:
        rows = KpiSnapshot.objects.filter(channel=channel, day__gte=start, day__lte=last_stored)
        if account:
            rows = rows.filter(account__in=[account, ""])
        for account_key, day, metric, value in rows.values_list(
            "account", "day", "metric", "value"
        ):
            if metric == COMPUTED:
                computed.add(day)
            else:
                parts.setdefault((account_key, day), {})[metric] = value
    missing = [d for d in kpis.days(start, end) if d not in computed]
    for run_start, run_end in _runs(missing):
        parts.update(parts_of(run_start, run_end, account))
    return parts


def _runs(sorted_days: list[date]) -> list[tuple[date, date]]:
    """Consecutive runs of days, so live computation needs one query per run."""
    runs: list[tuple[date, date]] = []
    for day in sorted_days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def figures(channel: str, start: date, end: date, account: str | None = None) -> dict[str, Any]:
    """The channel's KPIs for the period."""
    _parts_of, figures_of = CHANNELS[channel]
    parts = period_parts(channel, start, end, account)
    return figures_of(parts.values(), start, end, account)


def series(
    channel: str, start: date, end: date, account: str | None = None
) -> list[dict[str, Any]]:
    """The channel's KPIs of each day of the period: `[{"day": "2026-11-01", ...}, ...]`."""
    _parts_of, figures_of = CHANNELS[channel]
    parts = period_parts(channel, start, end, account)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for (_account, day), part in parts.items():
        by_day.setdefault(day, []).append(part)
    return [
        {"day": day.isoformat(), **figures_of(by_day.get(day, []), day, day, account)}
        for day in kpis.days(start, end)
    ]
