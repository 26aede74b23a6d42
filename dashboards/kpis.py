"""KPI computation: the definitions of DESIGN.md section 5, computed with pandas.

This is the only module that imports pandas. Every figure is computed in two steps:

1. `*_day_parts`: from the raw tables, the *sufficient statistics* of each local day and account
   (counts, and the sorted list of durations so that medians and percentiles stay exact when days
   are combined). These are what the nightly job stores in KpiSnapshot.
2. `*_figures`: from the parts of any set of days, the published figures.

Period = local dates `start..end` inclusive, in Asia/Shanghai. Rates are fractions 0..1 and
`None` when their denominator is 0; times are in seconds; `{median, p90, mean}` use linear
interpolation between closest ranks, as PostgreSQL's `percentile_cont` does.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Count, Q

from crm.models import Conversation, Interaction, Message

LOCAL = zoneinfo.ZoneInfo(settings.TIME_ZONE)
RESPONSE_WINDOW_SECONDS = 48 * 3600


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


# --- WeChat -------------------------------------------------------------------------------------


def _wechat_conversations(start: date, end: date, account: str | None) -> pd.DataFrame:
    low, high = local_bounds(start, end)
    rows = Conversation.objects.filter(
        channel="wechat", kind=Conversation.Kind.SERVICE, opened_at__gte=low, opened_at__lt=high
    )
    if account:
        rows = rows.filter(account=account)
    frame = pd.DataFrame.from_records(
        rows.values_list(
            "account",
            "opened_at",
            "first_response_at",
            "resolved_at",
            "status",
            "rating",
            "assignee_id",
        ),
        columns=[
            "account",
            "opened_at",
            "first_response_at",
            "resolved_at",
            "status",
            "rating",
            "assignee_id",
        ],
    )
    if frame.empty:
        return frame.assign(day=[], first_response_s=[], resolution_s=[])
    opened = pd.to_datetime(frame["opened_at"], utc=True)
    frame["day"] = opened.dt.tz_convert(LOCAL).dt.date
    frame["first_response_s"] = (
        pd.to_datetime(frame["first_response_at"], utc=True) - opened
    ).dt.total_seconds()
    resolved = frame["status"].eq("resolved")
    frame["resolution_s"] = (
        (pd.to_datetime(frame["resolved_at"], utc=True) - opened).dt.total_seconds().where(resolved)
    )
    return frame


def _message_counts(start: date, end: date, account: str | None) -> pd.DataFrame:
    """Messages in and out per account and local day (events and failed sends excluded)."""
    low, high = local_bounds(start, end)
    rows = (
        Message.objects.filter(channel="wechat", sent_at__gte=low, sent_at__lt=high)
        .exclude(msg_type="event")
        .exclude(delivery_status__in=["failed", "queued"])
    )
    if account:
        rows = rows.filter(account=account)
    frame = pd.DataFrame.from_records(
        rows.values_list("account", "sent_at", "direction"),
        columns=["account", "sent_at", "direction"],
    )
    if frame.empty:
        return pd.DataFrame(columns=["account", "day", "messages_in", "messages_out"])
    frame["day"] = pd.to_datetime(frame["sent_at"], utc=True).dt.tz_convert(LOCAL).dt.date
    counts = frame.pivot_table(
        index=["account", "day"],
        columns="direction",
        values="sent_at",
        aggfunc="count",
        fill_value=0,
    )
    counts = counts.reindex(columns=["in", "out"], fill_value=0)
    return counts.rename(columns={"in": "messages_in", "out": "messages_out"}).reset_index()


def _subscription_counts(start: date, end: date, account: str | None) -> pd.DataFrame:
    """Subscribe and unsubscribe events per account and local day, from the timeline."""
    low, high = local_bounds(start, end)
    rows = Interaction.objects.filter(
        channel="wechat",
        kind__in=["subscribe", "unsubscribe"],
        occurred_at__gte=low,
        occurred_at__lt=high,
    )
    if account:
        rows = rows.filter(data__account=account)
    frame = pd.DataFrame.from_records(
        rows.values_list("data__account", "occurred_at", "kind"),
        columns=["account", "occurred_at", "event"],
    )
    if frame.empty:
        return pd.DataFrame(columns=["account", "day", "subscribed", "unsubscribed"])
    frame["day"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_convert(LOCAL).dt.date
    counts = frame.pivot_table(
        index=["account", "day"],
        columns="event",
        values="occurred_at",
        aggfunc="count",
        fill_value=0,
    )
    counts = counts.reindex(columns=["subscribe", "unsubscribe"], fill_value=0)
    return counts.rename(
        columns={"subscribe": "subscribed", "unsubscribe": "unsubscribed"}
    ).reset_index()


def _empty_wechat_part() -> dict[str, Any]:
    return {
        "conversations": 0,
        "responded_48h": 0,
        "first_response": [],
        "resolved": 0,
        "resolution": [],
        "ratings": [0, 0, 0, 0, 0],
        "messages_in": 0,
        "messages_out": 0,
        "subscribed": 0,
        "unsubscribed": 0,
    }


def wechat_day_parts(
    start: date, end: date, account: str | None = None
) -> dict[tuple[str, date], dict[str, Any]]:
    """Sufficient statistics per (account, local day) for the WeChat KPIs of the period.

    The cohort of a day is the conversations opened that day; `first_response` and `resolution`
    are their sorted durations in seconds; `ratings` counts ratings 1..5.
    """
    parts: dict[tuple[str, date], dict[str, Any]] = {}

    def part(key) -> dict[str, Any]:
        return parts.setdefault(key, _empty_wechat_part())

    conversations = _wechat_conversations(start, end, account)
    for (acc, day), group in conversations.groupby(["account", "day"]):
        p = part((acc, day))
        p["conversations"] = len(group)
        responded = group["first_response_s"].dropna()
        p["responded_48h"] = int((responded <= RESPONSE_WINDOW_SECONDS).sum())
        p["first_response"] = sorted(round(float(s), 3) for s in responded)
        resolution = group["resolution_s"].dropna()
        p["resolved"] = len(resolution)
        p["resolution"] = sorted(round(float(s), 3) for s in resolution)
        rated = group["rating"].dropna().astype(int)
        p["ratings"] = [int((rated == r).sum()) for r in range(1, 6)]
    for frame, fields in (
        (_message_counts(start, end, account), ("messages_in", "messages_out")),
        (_subscription_counts(start, end, account), ("subscribed", "unsubscribed")),
    ):
        for row in frame.itertuples(index=False):
            p = part((row.account, row.day))
            for field in fields:
                p[field] = int(getattr(row, field))
    return parts


def wechat_figures(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The WeChat KPIs of DESIGN.md section 5 from the parts of the period's days.

    - conversations: conversations opened in the period (the cohort).
    - response_rate: cohort conversations whose first human response came within 48 hours of
      opening / conversations.
    - first_response_seconds: {median, p90, mean} of (first human response - opened) over cohort
      conversations that got one.
    - resolution_rate: cohort conversations resolved (at computation time) / conversations;
      resolution_seconds: {median, p90, mean} of (resolved - opened) over those.
    - satisfaction_rate: cohort conversations rated 4 or 5 / cohort conversations rated;
      ratings: how many were rated; average_rating.
    - messages_in, messages_out: messages by their time in the period; subscribed, unsubscribed.
    """
    total = _empty_wechat_part()
    first: list[float] = []
    resolution: list[float] = []
    for p in parts:
        for key in (
            "conversations",
            "responded_48h",
            "resolved",
            "messages_in",
            "messages_out",
            "subscribed",
            "unsubscribed",
        ):
            total[key] += p[key]
        total["ratings"] = [a + b for a, b in zip(total["ratings"], p["ratings"], strict=True)]
        first += p["first_response"]
        resolution += p["resolution"]
    ratings = total["ratings"]
    rated = sum(ratings)
    return {
        "conversations": total["conversations"],
        "response_rate": rate(total["responded_48h"], total["conversations"]),
        "first_response_seconds": seconds_summary(first),
        "resolution_rate": rate(total["resolved"], total["conversations"]),
        "resolution_seconds": seconds_summary(resolution),
        "satisfaction_rate": rate(ratings[3] + ratings[4], rated),
        "ratings": rated,
        "average_rating": (
            None if not rated else _round(sum((i + 1) * n for i, n in enumerate(ratings)) / rated)
        ),
        "messages_in": total["messages_in"],
        "messages_out": total["messages_out"],
        "subscribed": total["subscribed"],
        "unsubscribed": total["unsubscribed"],
    }


def wechat_kpis(start: date, end: date, account: str | None = None) -> dict[str, Any]:
    """The WeChat KPIs for the period, for one official account (appid) or all, from raw data."""
    return wechat_figures(wechat_day_parts(start, end, account).values())


def wechat_agent_table(
    start: date, end: date, account: str | None = None, agent_id: int | None = None
) -> list[dict[str, Any]]:
    """Per agent (the conversation's assignee): cohort conversations, median first response,
    resolution rate and satisfaction rate, over conversations opened in the period."""
    frame = _wechat_conversations(start, end, account)
    if agent_id is not None:
        frame = frame[frame["assignee_id"] == agent_id]
    rows = []
    for assignee, group in frame.groupby(frame["assignee_id"].fillna(0).astype(int)):
        rated = group["rating"].dropna()
        rows.append(
            {
                "agent_id": int(assignee) or None,
                "conversations": len(group),
                "median_first_response_seconds": seconds_summary(
                    group["first_response_s"].dropna()
                )["median"],
                "resolution_rate": rate(int(group["status"].eq("resolved").sum()), len(group)),
                "satisfaction_rate": rate(int((rated >= 4).sum()), len(rated)),
            }
        )
    # Busiest first; the unassigned row last.
    return sorted(
        rows, key=lambda r: (r["agent_id"] is None, -r["conversations"], r["agent_id"] or 0)
    )


def wechat_response_histogram(
    start: date, end: date, account: str | None = None
) -> list[dict[str, Any]]:
    """How many cohort conversations got their first human response within each time bucket."""
    frame = _wechat_conversations(start, end, account)
    edges = [0, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 48 * 3600, math.inf]
    labels = ["<1m", "1-5m", "5-15m", "15-60m", "1-4h", "4-24h", "24-48h", ">48h"]
    values = frame["first_response_s"].dropna() if not frame.empty else pd.Series(dtype=float)
    counts = pd.cut(values, bins=edges, labels=labels, right=False).value_counts()
    result = [{"bucket": label, "conversations": int(counts.get(label, 0))} for label in labels]
    result.append({"bucket": "none", "conversations": int(len(frame) - len(values))})
    return result


def open_conversation_counts() -> dict[str, int]:
    """Right now: conversations waiting for the brand (open) and for the customer (pending)."""
    counts = Conversation.objects.filter(channel="wechat").aggregate(
        open=Count("id", filter=Q(status="open")), pending=Count("id", filter=Q(status="pending"))
    )
    return {k: int(v) for k, v in counts.items()}
