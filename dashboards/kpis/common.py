"""What the KPI families share: local-day period bounds, and rates and duration summaries
with the rounding of DESIGN.md section 5."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import numpy as np
from django.conf import settings

LOCAL = zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the project time zone, as aware datetimes."""
    return (
        datetime.combine(start, time(), LOCAL),
        datetime.combine(end + timedelta(days=1), time(), LOCAL),
    )


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def seconds_summary(values: Iterable[float]) -> dict[str, float | None]:
    """`{median, p90, mean}` of durations in seconds; all None for no values.

    p90 by linear interpolation between closest ranks (PostgreSQL `percentile_cont(0.9)`).
    """
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        return {"median": None, "p90": None, "mean": None}
    return {
        "median": _round(np.percentile(array, 50, method="linear")),
        "p90": _round(np.percentile(array, 90, method="linear")),
        "mean": _round(array.mean()),
    }


def _round(value: float) -> float:
    return round(float(value), 3)


def rate(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    return None if not denominator else numerator / denominator
