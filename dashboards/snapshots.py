"""Writing and reading KPI snapshots: past days from the table, today computed live."""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import kpis
from .models import KpiSnapshot

COMPUTED = "computed"


@dataclass(frozen=True)
class Source:
    """How a channel's snapshots are made and read.

    - parts: the parts of days per (account, day) from raw data;
    - figures: the KPIs from the parts of a period (also given start, end, account: Weibo reads
      its live parts, counters of brand posts, lead conversions, follower snapshots, there);
    - series: the KPIs of each day from the parts per day (same arguments);
    - breakdowns: metrics only the dashboard's tables use, not read for the figures alone;
    - version: the format of the stored parts. The `computed` row of a day holds the version it
      was written with; a day written with another one is computed live until it is recomputed
      (rows from before versions were introduced hold `true`, i.e. version 1).
    """

    parts: Callable[..., dict[tuple[str, date], dict[str, Any]]]
    figures: Callable[..., dict[str, Any]]
    series: Callable[..., list[dict[str, Any]]]
    version: int
    breakdowns: tuple[str, ...] = ()


def _wechat_series(parts_by_day, start: date, end: date, _account) -> list[dict[str, Any]]:
    return [
        {"day": day.isoformat(), **kpis.wechat_figures(parts_by_day.get(day, []))}
        for day in kpis.days(start, end)
    ]


CHANNELS: dict[str, Source] = {
    # WeChat version 2: parts hold the first-response histogram and the per-agent figures.
    "wechat": Source(
        kpis.wechat_day_parts,
        lambda parts, *_period: kpis.wechat_figures(parts),
        _wechat_series,
        version=2,
        breakdowns=("agents", "histogram"),
    ),
    "weibo": Source(kpis.weibo_day_parts, kpis.weibo_figures, kpis.weibo_series, version=1),
}


def today() -> date:
    return timezone.localdate()


def compute_snapshots(channel: str, start: date, end: date, progress=None) -> int:
    """Recompute and store the snapshots of every day start..end for the channel, one day per
    transaction (a day is replaced whole). Returns the number of rows written."""
    source = CHANNELS[channel]
    written = 0
    for day in kpis.days(start, end):
        parts = source.parts(day, day)
        rows = [
            KpiSnapshot(channel=channel, account="", day=day, metric=COMPUTED, value=source.version)
        ]
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


def stale_days(channel: str, start: date, end: date) -> list[date]:
    """Days start..end stored in an older format than the channel's current one."""
    markers = KpiSnapshot.objects.filter(
        channel=channel, metric=COMPUTED, day__gte=start, day__lte=end
    ).values_list("day", "value")
    return sorted(day for day, value in markers if value != CHANNELS[channel].version)


def period_parts(
    channel: str,
    start: date,
    end: date,
    account: str | None = None,
    skip: Collection[str] = (),
) -> dict[tuple[str, date], dict[str, Any]]:
    """The parts of every day of the period: stored snapshots for computed past days, computed
    live for today, for days never computed and for days stored in an older format. Stored
    metrics named in `skip` are not read."""
    source = CHANNELS[channel]
    last_stored = min(end, today() - timedelta(days=1))
    stored: dict[tuple[str, date], dict[str, Any]] = {}
    computed: set[date] = set()
    if start <= last_stored:
        rows = KpiSnapshot.objects.filter(channel=channel, day__gte=start, day__lte=last_stored)
        if account:
            rows = rows.filter(account__in=[account, ""])
        if skip:
            rows = rows.exclude(metric__in=skip)
        for account_key, day, metric, value in rows.values_list(
            "account", "day", "metric", "value"
        ):
            if metric == COMPUTED:
                # `true` (written before versions) == 1 in Python, as intended.
                if value == source.version:
                    computed.add(day)
            else:
                stored.setdefault((account_key, day), {})[metric] = value
    parts = {key: part for key, part in stored.items() if key[1] in computed}
    missing = [d for d in kpis.days(start, end) if d not in computed]
    for run_start, run_end in _runs(missing):
        parts.update(source.parts(run_start, run_end, account))
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


def figures(
    channel: str,
    start: date,
    end: date,
    account: str | None = None,
    parts: dict[tuple[str, date], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The channel's KPIs for the period (from `parts` when the caller already read them)."""
    if parts is None:
        parts = period_parts(channel, start, end, account, CHANNELS[channel].breakdowns)
    return CHANNELS[channel].figures(parts.values(), start, end, account)


def series(
    channel: str,
    start: date,
    end: date,
    account: str | None = None,
    parts: dict[tuple[str, date], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The channel's KPIs of each day of the period: `[{"day": "2026-11-01", ...}, ...]`."""
    if parts is None:
        parts = period_parts(channel, start, end, account, CHANNELS[channel].breakdowns)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for (_account, day), part in parts.items():
        by_day.setdefault(day, []).append(part)
    return CHANNELS[channel].series(by_day, start, end, account)
