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
from django.db import connections, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, TruncDate
from django.db.models.lookups import IsNull

from crm.models import Conversation, Customer, Interaction, Lead, LeadStatus, Message, Stage

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


def wechat_conversation_frame(
    start: date, end: date, account: str | None, assignee_id: int | None = None
) -> pd.DataFrame:
    """The cohort: service conversations opened in the period, one row each, with their local
    opening day and first-response and resolution durations in seconds."""
    low, high = local_bounds(start, end)
    rows = Conversation.objects.filter(
        channel="wechat", kind=Conversation.Kind.SERVICE, opened_at__gte=low, opened_at__lt=high
    )
    if account:
        rows = rows.filter(account=account)
    if assignee_id is not None:
        rows = rows.filter(assignee_id=assignee_id)
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


def _counted_messages(start: date, end: date, account: str | None, assignee_id: int | None):
    """The messages the KPIs count: by their time in the period; no events, failed or queued."""
    low, high = local_bounds(start, end)
    rows = (
        Message.objects.filter(channel="wechat", sent_at__gte=low, sent_at__lt=high)
        .exclude(msg_type="event")
        .exclude(delivery_status__in=["failed", "queued"])
    )
    if account:
        rows = rows.filter(account=account)
    if assignee_id is not None:
        rows = rows.filter(conversation__assignee_id=assignee_id)
    return rows


def _subscriptions(start: date, end: date, account: str | None):
    low, high = local_bounds(start, end)
    rows = Interaction.objects.filter(
        channel="wechat",
        kind__in=["subscribe", "unsubscribe"],
        occurred_at__gte=low,
        occurred_at__lt=high,
    )
    if account:
        rows = rows.filter(data__account=account)
    return rows


def _message_counts(
    start: date, end: date, account: str | None, assignee_id: int | None = None
) -> pd.DataFrame:
    """Messages in and out per account and local day (events and failed sends excluded)."""
    rows = _counted_messages(start, end, account, assignee_id)
    # Counted by the database per local day: a month holds millions of messages.
    grouped = (
        rows.annotate(day=TruncDate("sent_at", tzinfo=LOCAL))
        .values("account", "day", "direction")
        .annotate(n=Count("id"))
        .order_by()
    )
    frame = pd.DataFrame.from_records(
        grouped.values_list("account", "day", "direction", "n"),
        columns=["account", "day", "direction", "n"],
    )
    if frame.empty:
        return pd.DataFrame(columns=["account", "day", "messages_in", "messages_out"])
    counts = frame.pivot_table(
        index=["account", "day"], columns="direction", values="n", aggfunc="sum", fill_value=0
    )
    counts = counts.reindex(columns=["in", "out"], fill_value=0)
    return counts.rename(columns={"in": "messages_in", "out": "messages_out"}).reset_index()


def _subscription_counts(start: date, end: date, account: str | None) -> pd.DataFrame:
    """Subscribe and unsubscribe events per account and local day, from the timeline."""
    rows = _subscriptions(start, end, account)
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
        "histogram": [0] * (len(HISTOGRAM_LABELS) + 1),
        "agents": {},
    }


# First-response buckets [from, to) in seconds; the histogram's last count is "none" (no response).
HISTOGRAM_EDGES = [0, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 48 * 3600, math.inf]
HISTOGRAM_LABELS = ["<1m", "1-5m", "5-15m", "15-60m", "1-4h", "4-24h", "24-48h", ">48h"]


def _group_key(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _histogram_parts(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, list[int]]:
    """Per group of `keys`: how many conversations got their first human response within each
    bucket of HISTOGRAM_EDGES, then how many got none."""
    values = frame["first_response_s"]
    bucket = pd.Series(
        pd.cut(values, bins=HISTOGRAM_EDGES, labels=False, right=False), index=frame.index
    )
    bucket = bucket.mask(values.isna(), len(HISTOGRAM_LABELS)).dropna().astype(int)
    counts = pd.crosstab([frame.loc[bucket.index, k] for k in keys], bucket).reindex(
        columns=range(len(HISTOGRAM_LABELS) + 1), fill_value=0
    )
    return {
        _group_key(key): [int(n) for n in row]
        for key, row in zip(counts.index, counts.values, strict=True)
    }


def _agent_parts(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, dict[str, dict[str, Any]]]:
    """Per group of `keys`, per agent (the assignee's user id as a string, "" for unassigned):
    conversations, resolved, rated, satisfied (rated 4 or 5) and the sorted first-response
    durations in seconds, so that an agent's median over any days is exact."""
    agent = pd.to_numeric(frame["assignee_id"]).fillna(0).astype(int).rename("agent")
    by = [frame[k] for k in keys] + [agent]
    counts = pd.DataFrame(
        {
            "conversations": agent.groupby(by).size(),
            "resolved": frame["status"].eq("resolved").groupby(by).sum(),
            "rated": frame["rating"].notna().groupby(by).sum(),
            "satisfied": frame["rating"].ge(4).groupby(by).sum(),
        }
    )
    answered = frame["first_response_s"].notna()
    first = (
        frame.loc[answered, "first_response_s"]
        .round(3)
        .sort_values()
        .groupby([b[answered] for b in by])
        .agg(list)
    )
    parts: dict[tuple, dict[str, dict[str, Any]]] = {}
    for key, row in zip(counts.index, counts.itertuples(index=False), strict=True):
        *group, agent_id = _group_key(key)
        parts.setdefault(tuple(group), {})[str(agent_id) if agent_id else ""] = {
            "conversations": int(row.conversations),
            "resolved": int(row.resolved),
            "rated": int(row.rated),
            "satisfied": int(row.satisfied),
            "first_response": [float(v) for v in first.get(key, [])],
        }
    return parts


def wechat_day_parts(
    start: date, end: date, account: str | None = None, assignee_id: int | None = None
) -> dict[tuple[str, date], dict[str, Any]]:
    """Sufficient statistics per (account, local day) for the WeChat KPIs of the period.

    The cohort of a day is the conversations opened that day; `first_response` and `resolution`
    are their sorted durations in seconds; `ratings` counts ratings 1..5; `histogram` counts
    them by first-response bucket (HISTOGRAM_LABELS, then none); `agents` holds the same per
    agent for the per-agent table (see _agent_parts). With `assignee_id`,
    only that agent's conversations and their messages count (an agent's own figures), and
    subscriptions, which belong to no agent, are left out.
    """
    parts: dict[tuple[str, date], dict[str, Any]] = {}

    def part(key) -> dict[str, Any]:
        return parts.setdefault(key, _empty_wechat_part())

    conversations = wechat_conversation_frame(start, end, account, assignee_id)
    if not conversations.empty:
        # Whole-column operations, then one dict per day: the cost grows with rows, not days.
        keys = ["account", "day"]
        grouped = conversations.groupby(keys)
        size = grouped.size()
        responded = (
            conversations["first_response_s"]
            .le(RESPONSE_WINDOW_SECONDS)
            .groupby([conversations["account"], conversations["day"]])
            .sum()
        )

        def sorted_lists(column: str) -> pd.Series:
            values = conversations[keys + [column]].dropna(subset=[column])
            values[column] = values[column].round(3)
            return values.sort_values(column).groupby(keys)[column].agg(list)

        first = sorted_lists("first_response_s")
        resolution = sorted_lists("resolution_s")
        rated = conversations.dropna(subset=["rating"])
        ratings = (
            pd.crosstab([rated["account"], rated["day"]], rated["rating"].astype(int)).reindex(
                columns=range(1, 6), fill_value=0
            )
            if not rated.empty
            else None
        )
        for key, count in size.items():
            p = part(key)
            p["conversations"] = int(count)
            p["responded_48h"] = int(responded.get(key, 0))
            p["first_response"] = [float(v) for v in first.get(key, [])]
            p["resolution"] = [float(v) for v in resolution.get(key, [])]
            p["resolved"] = len(p["resolution"])
            if ratings is not None and key in ratings.index:
                p["ratings"] = [int(v) for v in ratings.loc[key]]
        for key, histogram in _histogram_parts(conversations, keys).items():
            parts[key]["histogram"] = histogram
        for key, agents in _agent_parts(conversations, keys).items():
            parts[key]["agents"] = agents
    counts = [(_message_counts(start, end, account, assignee_id), ("messages_in", "messages_out"))]
    if assignee_id is None:
        counts.append((_subscription_counts(start, end, account), ("subscribed", "unsubscribed")))
    for frame, fields in counts:
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


def wechat_kpis(
    start: date, end: date, account: str | None = None, assignee_id: int | None = None
) -> dict[str, Any]:
    """The WeChat KPIs for the period, for one official account (appid) or all, from raw data;
    with `assignee_id`, one agent's own figures.

    The same figures as combining the period's day parts (wechat_day_parts), computed as one
    part: no grouping by day, and the messages counted by one aggregate.
    """
    part = _empty_wechat_part()
    frame = wechat_conversation_frame(start, end, account, assignee_id)
    if not frame.empty:
        part["conversations"] = len(frame)
        part["responded_48h"] = int(frame["first_response_s"].le(RESPONSE_WINDOW_SECONDS).sum())
        part["first_response"] = frame["first_response_s"].dropna().round(3).tolist()
        part["resolution"] = frame["resolution_s"].dropna().round(3).tolist()
        part["resolved"] = len(part["resolution"])
        rated = frame["rating"].dropna().astype(int)
        part["ratings"] = [int(rated.eq(r).sum()) for r in range(1, 6)]
    part.update(
        _counted_messages(start, end, account, assignee_id).aggregate(
            messages_in=Count("id", filter=Q(direction="in")),
            messages_out=Count("id", filter=Q(direction="out")),
        )
    )
    if assignee_id is None:  # subscriptions belong to no agent
        part.update(
            _subscriptions(start, end, account).aggregate(
                subscribed=Count("id", filter=Q(kind="subscribe")),
                unsubscribed=Count("id", filter=Q(kind="unsubscribe")),
            )
        )
    return wechat_figures([part])


def wechat_agent_rows(parts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-agent table from the parts of the period's days (their `agents`): per agent (the
    conversation's assignee), over cohort conversations, conversations, median first response in
    seconds, resolution rate and satisfaction rate. Busiest first; the unassigned row last."""
    merged: dict[str, dict[str, Any]] = {}
    for p in parts:
        for agent, figures in p["agents"].items():
            total = merged.setdefault(
                agent,
                {"conversations": 0, "resolved": 0, "rated": 0, "satisfied": 0, "first": []},
            )
            for key in ("conversations", "resolved", "rated", "satisfied"):
                total[key] += figures[key]
            total["first"] += figures["first_response"]
    rows = [
        {
            "agent_id": int(agent) if agent else None,
            "conversations": total["conversations"],
            "median_first_response_seconds": seconds_summary(total["first"])["median"],
            "resolution_rate": rate(total["resolved"], total["conversations"]),
            "satisfaction_rate": rate(total["satisfied"], total["rated"]),
        }
        for agent, total in merged.items()
    ]
    return sorted(
        rows, key=lambda r: (r["agent_id"] is None, -r["conversations"], r["agent_id"] or 0)
    )


def wechat_histogram_rows(parts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many cohort conversations got their first human response within each time bucket,
    then how many got none, from the parts of the period's days (their `histogram`)."""
    counts = [0] * (len(HISTOGRAM_LABELS) + 1)
    for p in parts:
        counts = [a + b for a, b in zip(counts, p["histogram"], strict=True)]
    return [
        {"bucket": label, "conversations": n}
        for label, n in zip([*HISTOGRAM_LABELS, "none"], counts, strict=True)
    ]


def _period_part(frame: pd.DataFrame, build) -> list[Any]:
    """`build(frame, keys)` over the whole frame as one group (the period computed live)."""
    if frame.empty:
        return []
    return list(build(frame.assign(period=0), ["period"]).values())


def wechat_agent_table(
    start: date,
    end: date,
    account: str | None = None,
    agent_id: int | None = None,
    frame: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The per-agent table (see wechat_agent_rows) of the period, computed live."""
    if frame is None:
        frame = wechat_conversation_frame(start, end, account, agent_id)
    return wechat_agent_rows({"agents": agents} for agents in _period_part(frame, _agent_parts))


def wechat_response_histogram(
    start: date,
    end: date,
    account: str | None = None,
    assignee_id: int | None = None,
    frame: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The first-response histogram (see wechat_histogram_rows) of the period, computed live."""
    if frame is None:
        frame = wechat_conversation_frame(start, end, account, assignee_id)
    return wechat_histogram_rows(
        {"histogram": counts} for counts in _period_part(frame, _histogram_parts)
    )


def open_conversation_counts() -> dict[str, int]:
    """Right now: conversations waiting for the brand (open) and for the customer (pending)."""
    counts = Conversation.objects.filter(channel="wechat").aggregate(
        open=Count("id", filter=Q(status="open")), pending=Count("id", filter=Q(status="pending"))
    )
    return {k: int(v) for k, v in counts.items()}


# --- Weibo --------------------------------------------------------------------------------------
# Mentions are immutable once created, so their daily counts are snapshotted. Counters of brand
# posts ("latest known"), lead conversions ("at computation time") and follower snapshots change
# or live in their own daily table, so they are read live: they are small (a brand publishes
# dozens of posts a month) and indexed.

SENTIMENTS = ("positive", "neutral", "negative")


def _weibo_models():
    from channels_weibo import models

    return models


def _empty_weibo_part() -> dict[str, int]:
    return {"mentions": 0, "positive": 0, "neutral": 0, "negative": 0}


def _mention_rows(model, start: date, end: date, account: str | None):
    """Posts or comments by others that mention the brand account or matched one of its keyword
    rules, created in the period: (account uid, created_at, sentiment label)."""
    low, high = local_bounds(start, end)
    rows = model.objects.filter(
        created_at__gte=low, created_at__lt=high, account__isnull=False
    ).filter(Q(mentions_brand=True) | ~Q(keywords=[]))
    if model is _weibo_models().WeiboPost:
        rows = rows.filter(is_brand_post=False)
    rows = rows.exclude(author__uid=F("account__uid"))
    if account:
        rows = rows.filter(account__uid=account)
    return rows.values_list("account__uid", "created_at", "sentiment_label")


def weibo_day_parts(
    start: date, end: date, account: str | None = None
) -> dict[tuple[str, date], dict[str, Any]]:
    """Per (brand account uid, local day): mentions (posts and comments by others that mention
    the account or match one of its keyword rules) and how many were positive, neutral, negative.
    """
    m = _weibo_models()
    frames = [
        pd.DataFrame.from_records(
            list(_mention_rows(model, start, end, account)),
            columns=["account", "created_at", "sentiment"],
        )
        for model in (m.WeiboPost, m.WeiboComment)
    ]
    frame = (
        pd.concat([f for f in frames if not f.empty]) if any(not f.empty for f in frames) else None
    )
    parts: dict[tuple[str, date], dict[str, Any]] = {}
    if frame is None:
        return parts
    frame["day"] = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(LOCAL).dt.date
    for (acc, day), group in frame.groupby(["account", "day"]):
        counts = group["sentiment"].value_counts()
        parts[(acc, day)] = {
            "mentions": len(group),
            **{label: int(counts.get(label, 0)) for label in SENTIMENTS},
        }
    return parts


def _followers(start: date, end: date, account: str | None) -> tuple[int | None, int | None]:
    """(follower_count, follower_growth) summed over the accounts: each account's latest snapshot
    on or before `end`, minus its latest snapshot before `start` (None if no account has one)."""
    m = _weibo_models()
    snapshots = m.FollowerSnapshot.objects.all()
    if account:
        snapshots = snapshots.filter(account__uid=account)
    latest: dict[str, int] = {}
    before: dict[str, int] = {}
    for uid, day, count in (
        snapshots.filter(day__lte=end)
        .order_by("day")
        .values_list("account__uid", "day", "followers_count")
    ):
        latest[uid] = count
        if day < start:
            before[uid] = count
    if not latest:
        return None, None
    count = sum(latest.values())
    if not before:
        return count, None
    return count, sum(latest[uid] - before[uid] for uid in before)


def _brand_post_rows(start: date, end: date, account: str | None):
    """The brand's own original posts published in the period."""
    m = _weibo_models()
    low, high = local_bounds(start, end)
    rows = m.WeiboPost.objects.filter(
        is_brand_post=True, root__isnull=True, created_at__gte=low, created_at__lt=high
    )
    if account:
        rows = rows.filter(account__uid=account)
    return rows


POST_SUMS = {
    "posts": Count("id"),
    "reposts": Sum("reposts_count"),
    "comments": Sum("comments_count"),
    "likes": Sum("attitudes_count"),
}


def _brand_posts(start: date, end: date, account: str | None) -> dict[str, int]:
    """The brand's own original posts published in the period and the sums of their latest
    known counters."""
    sums = _brand_post_rows(start, end, account).aggregate(**POST_SUMS)
    return {key: int(value or 0) for key, value in sums.items()}


def _weibo_lead_rows(start: date, end: date, account: str | None):
    """Leads with Weibo as their source created in the period. For one account: leads whose
    source post or comment concerns it."""
    from django.contrib.contenttypes.models import ContentType

    low, high = local_bounds(start, end)
    leads = Lead.objects.filter(source_channel="weibo", created_at__gte=low, created_at__lt=high)
    if account:
        m = _weibo_models()
        of_account = Q(pk__in=[])
        for model in (m.WeiboPost, m.WeiboComment):
            ids = (
                model.objects.filter(account__uid=account)
                .annotate(key=Cast("pk", CharField()))
                .values("key")
            )
            of_account |= Q(source_type=ContentType.objects.get_for_model(model), source_id__in=ids)
        leads = leads.filter(of_account)
    return leads


LEAD_COUNTS = {
    "leads": Count("id"),
    "converted": Count("id", filter=Q(status=LeadStatus.CONVERTED)),
}


def _weibo_leads(start: date, end: date, account: str | None) -> tuple[int, int]:
    """(leads, leads_converted): leads with Weibo as their source created in the period, and
    those of them converted now."""
    counts = _weibo_lead_rows(start, end, account).aggregate(**LEAD_COUNTS)
    return int(counts["leads"]), int(counts["converted"])


def influence(posts: int, reposts: int, comments: int, likes: int) -> float:
    """BCI-style influence v1: W1 = ln(posts + 1); W2 = 0.4 ln(reposts + 1) + 0.4 ln(comments + 1)
    + 0.2 ln(likes + 1); influence = (0.2 W1 + 0.8 W2) x 160, rounded to 2 decimals."""
    w1 = math.log(posts + 1)
    w2 = 0.4 * math.log(reposts + 1) + 0.4 * math.log(comments + 1) + 0.2 * math.log(likes + 1)
    return round((0.2 * w1 + 0.8 * w2) * 160, 2)


def weibo_figures(
    parts: Iterable[dict[str, Any]], start: date, end: date, account: str | None = None
) -> dict[str, Any]:
    """The Weibo KPIs of DESIGN.md section 5 for the period (one brand account uid, or all).

    - follower_count: the latest follower snapshot on or before `end`; follower_growth: that minus
      the latest snapshot before `start` (None if none). Summed over accounts when all are asked.
    - posts: the brand's own original posts published in the period; reposts, comments, likes:
      sums of their latest known counters; reposts_comments = reposts + comments (转评数).
    - influence: (0.2 W1 + 0.8 W2) x 160 with W1 = ln(posts + 1) and W2 = 0.4 ln(reposts + 1)
      + 0.4 ln(comments + 1) + 0.2 ln(likes + 1), rounded to 2 decimals.
    - mentions: posts and comments by others mentioning the account or matching one of its
      keyword rules, created in the period; sentiment: {positive, neutral, negative} shares.
    - leads: leads with Weibo as source created in the period; leads_converted: those converted
      (at computation time); conversion_rate = leads_converted / leads.
    """
    return _weibo_result(
        parts,
        _followers(start, end, account),
        _brand_posts(start, end, account),
        _weibo_leads(start, end, account),
    )


def _weibo_result(
    parts: Iterable[dict[str, Any]],
    followers: tuple[int | None, int | None],
    posts: dict[str, int],
    lead_counts: tuple[int, int],
) -> dict[str, Any]:
    """The Weibo KPIs from the mention parts and the live reads (see weibo_figures)."""
    mentions = _empty_weibo_part()
    for p in parts:
        for key in mentions:
            mentions[key] += p[key]
    follower_count, follower_growth = followers
    leads, converted = lead_counts
    return {
        "follower_count": follower_count,
        "follower_growth": follower_growth,
        **posts,
        "reposts_comments": posts["reposts"] + posts["comments"],
        "influence": influence(posts["posts"], posts["reposts"], posts["comments"], posts["likes"]),
        "mentions": mentions["mentions"],
        "sentiment": {label: rate(mentions[label], mentions["mentions"]) for label in SENTIMENTS},
        "leads": leads,
        "leads_converted": converted,
        "conversion_rate": rate(converted, leads),
    }


def weibo_kpis(start: date, end: date, account: str | None = None) -> dict[str, Any]:
    """The Weibo KPIs for the period, for one brand account (uid) or all, from raw data."""
    return weibo_figures(weibo_day_parts(start, end, account).values(), start, end, account)


def _by_local_day(rows, field: str, aggregates: dict[str, Any]) -> dict[date, dict[str, int]]:
    """The aggregates of rows per local day of their `field`, in one query."""
    grouped = (
        rows.annotate(local_day=TruncDate(field, tzinfo=LOCAL))
        .values("local_day")
        .annotate(**aggregates)
        .order_by()
    )
    return {
        row.pop("local_day"): {key: int(value or 0) for key, value in row.items()}
        for row in grouped
    }


def _followers_by_day(
    start: date, end: date, account: str | None
) -> dict[date, tuple[int | None, int | None]]:
    """_followers of each single day of the period, from one read of the snapshots."""
    m = _weibo_models()
    snapshots = m.FollowerSnapshot.objects.filter(day__lte=end)
    if account:
        snapshots = snapshots.filter(account__uid=account)
    latest: dict[str, int] = {}
    on_day: dict[date, list[tuple[str, int]]] = {}
    for uid, day, count in snapshots.order_by("day").values_list(
        "account__uid", "day", "followers_count"
    ):
        if day < start:
            latest[uid] = count
        else:
            on_day.setdefault(day, []).append((uid, count))
    result: dict[date, tuple[int | None, int | None]] = {}
    for day in days(start, end):
        before = dict(latest)
        latest.update(on_day.get(day, []))
        if not latest:
            result[day] = (None, None)
        elif not before:
            result[day] = (sum(latest.values()), None)
        else:
            growth = sum(latest[uid] - before[uid] for uid in before)
            result[day] = (sum(latest.values()), growth)
    return result


def weibo_series(
    parts_by_day: dict[date, list[dict[str, Any]]],
    start: date,
    end: date,
    account: str | None = None,
) -> list[dict[str, Any]]:
    """weibo_figures of each day of the period (`{"day": "2026-11-01", ...}`), with the live
    reads (followers, brand posts, leads) grouped by day in one query each rather than per day."""
    followers = _followers_by_day(start, end, account)
    posts = _by_local_day(_brand_post_rows(start, end, account), "created_at", POST_SUMS)
    leads = _by_local_day(_weibo_lead_rows(start, end, account), "created_at", LEAD_COUNTS)
    no_posts = dict.fromkeys(POST_SUMS, 0)
    no_leads = dict.fromkeys(LEAD_COUNTS, 0)
    series = []
    for day in days(start, end):
        lead_counts = leads.get(day, no_leads)
        figures = _weibo_result(
            parts_by_day.get(day, []),
            followers[day],
            posts.get(day, no_posts),
            (lead_counts["leads"], lead_counts["converted"]),
        )
        series.append({"day": day.isoformat(), **figures})
    return series


def weibo_period_figures(
    parts: Iterable[dict[str, Any]],
    series: list[dict[str, Any]],
    start: date,
    end: date,
    account: str | None = None,
) -> dict[str, Any]:
    """weibo_figures of the period, given its daily series (weibo_series): brand-post counters
    and leads are sums and counts by local day, so they are summed from the series rather than
    read again; followers are read for the period."""
    posts = {key: sum(day[key] for day in series) for key in POST_SUMS}
    leads = sum(day["leads"] for day in series), sum(day["leads_converted"] for day in series)
    return _weibo_result(parts, _followers(start, end, account), posts, leads)


def weibo_top_posts(
    start: date, end: date, account: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """The brand's original posts of the period with the most reposts + comments."""
    m = _weibo_models()
    low, high = local_bounds(start, end)
    rows = m.WeiboPost.objects.filter(
        is_brand_post=True, root__isnull=True, created_at__gte=low, created_at__lt=high
    )
    if account:
        rows = rows.filter(account__uid=account)
    rows = rows.annotate(engagement=F("reposts_count") + F("comments_count")).order_by(
        "-engagement", "-created_at"
    )[:limit]
    return [
        {
            "idstr": post.idstr,
            "created_at": post.created_at,
            "text": post.text,
            "reposts": post.reposts_count,
            "comments": post.comments_count,
            "likes": post.attitudes_count,
            "reposts_comments": post.engagement,
        }
        for post in rows
    ]


def weibo_top_kols(
    start: date, end: date, account: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """Authors of the period's mentions by reach: their mentions, the reposts + comments those
    got, and their follower count (verified accounts and KOLs first among equals)."""
    m = _weibo_models()
    low, high = local_bounds(start, end)
    rows = (
        m.WeiboPost.objects.filter(
            is_brand_post=False, created_at__gte=low, created_at__lt=high, account__isnull=False
        )
        .filter(Q(mentions_brand=True) | ~Q(keywords=[]))
        .exclude(author__uid=F("account__uid"))
    )
    if account:
        rows = rows.filter(account__uid=account)
    # Grouped by the author's id (an integer), then the names of the few on top looked up.
    grouped = list(
        rows.values("author_id", "author__followers_count")
        .annotate(
            mentions=Count("id"),
            reposts=Sum("reposts_count"),
            comments=Sum("comments_count"),
        )
        .order_by("-author__followers_count", "-mentions")[:limit]
    )
    names = {
        pk: (uid, name)
        for pk, uid, name in m.WeiboUser.objects.filter(
            pk__in=[row["author_id"] for row in grouped]
        ).values_list("pk", "uid", "screen_name")
    }
    return [
        {
            "uid": names[row["author_id"]][0],
            "screen_name": names[row["author_id"]][1],
            "followers": row["author__followers_count"],
            "mentions": row["mentions"],
            "reposts_comments": int(row["reposts"] or 0) + int(row["comments"] or 0),
        }
        for row in grouped
    ]


def follower_series(start: date, end: date, account: str | None = None) -> list[dict[str, Any]]:
    """Followers per local day (summed over accounts), carrying the last snapshot forward."""
    m = _weibo_models()
    snapshots = m.FollowerSnapshot.objects.filter(day__lte=end)
    if account:
        snapshots = snapshots.filter(account__uid=account)
    latest: dict[str, int] = {}
    by_day: dict[date, list[tuple[str, int]]] = {}
    for uid, day, count in snapshots.order_by("day").values_list(
        "account__uid", "day", "followers_count"
    ):
        if day < start:
            latest[uid] = count
        else:
            by_day.setdefault(day, []).append((uid, count))
    series = []
    for day in days(start, end):
        latest.update(by_day.get(day, []))
        series.append(
            {"day": day.isoformat(), "followers": sum(latest.values()) if latest else None}
        )
    return series


# --- Funnel ------------------------------------------------------------------------------------


def with_jit_off(rows: QuerySet) -> list[Any]:
    """The rows of a query, fetched with PostgreSQL's JIT compilation off.

    A query over a month's cohort with a subquery per row is estimated above `jit_above_cost`,
    and compiling it took 0.5 s at the benchmark scale, when running it takes about 0.1 s.
    SET LOCAL lasts until the end of the transaction (of the request, if it has one).
    """
    if connections[rows.db].vendor != "postgresql":
        return list(rows)
    with transaction.atomic(using=rows.db), connections[rows.db].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        return list(rows)


def _stage_rank(field: str) -> Case:
    """Stage.rank of a stage held in `field`, in SQL (None for anything not a stage)."""
    return Case(*(When(**{field: stage}, then=Value(i)) for i, stage in enumerate(Stage.values)))


def _any_row(rows: QuerySet) -> IsNull:
    """Whether the customer of the outer query has one of `rows` (a model with `customer`).

    A subquery with LIMIT 1 rather than EXISTS: PostgreSQL may run an EXISTS as one scan of
    every such row of the table, hashed, which grows with the table (every subscription ever)
    where this probe of the customer index grows with the cohort.
    """
    first = rows.filter(customer=OuterRef("pk")).order_by().values("pk")[:1]
    return IsNull(Subquery(first), False)


def funnel(start: date, end: date, channel: str | None = None) -> dict[str, Any]:
    """The cross-channel funnel, computed live (it follows customers to today).

    - customers: active (unmerged) customers first seen in the period (created_at), optionally
      only those whose first-touch channel is `channel`.
    - leads / customers_paid / members: how many of them reached stage lead (or have a lead),
      customer (has paid) and member, by the highest stage they ever reached (the current stage
      or any recorded stage change), so a stage set back by hand still counts.
    - weibo_sourced: of them, first touched on Weibo; weibo_to_wechat: those of them who also
      subscribed on WeChat (a WeChat subscribe on their timeline).
    - rates: each step / customers, and weibo_to_wechat / weibo_sourced.

    Counted by the database in one query: the cohort grouped by (first channel, highest stage,
    has a lead, subscribed on WeChat), a few dozen rows whatever the cohort's size.
    """
    low, high = local_bounds(start, end)
    cohort = Customer.objects.active().filter(created_at__gte=low, created_at__lt=high)
    if channel:
        cohort = cohort.filter(first_channel=channel)
    ever = (
        Interaction.objects.filter(customer=OuterRef("pk"), kind="stage_change")
        .annotate(rank=_stage_rank("data__to"))
        .filter(rank__isnull=False)
        .order_by("-rank")
        .values("rank")[:1]
    )
    lead_rank = Stage.rank(Stage.LEAD)
    below_lead = [stage for stage in Stage.values if Stage.rank(stage) < lead_rank]
    top = Stage.values[-1]
    grouped = (
        cohort.annotate(
            # A member is at the top already: no stage change to look up.
            reached=Case(
                When(stage=top, then=Value(Stage.rank(top))),
                default=Greatest(_stage_rank("stage"), Coalesce(Subquery(ever), Value(-1))),
            ),
        )
        .annotate(
            # Only asked where it can change the answer: a lead of a customer whose stage is
            # below lead, a Weibo customer's WeChat subscription.
            has_lead=Case(
                When(stage__in=below_lead, then=_any_row(Lead.objects.all())),
                default=Value(False),
            ),
            subscribed=Case(
                When(
                    first_channel="weibo",
                    then=_any_row(Interaction.objects.filter(channel="wechat", kind="subscribe")),
                ),
                default=Value(False),
            ),
        )
        .values("first_channel", "reached", "has_lead", "subscribed")
        .annotate(n=Count("id"))
        .order_by()
    )
    total = weibo_sourced = weibo_to_wechat = 0
    reached = dict.fromkeys(("lead", "customer", "member"), 0)
    for row in with_jit_off(grouped):
        n = row["n"]
        total += n
        if row["reached"] >= lead_rank or row["has_lead"]:
            reached["lead"] += n
        if row["reached"] >= Stage.rank(Stage.CUSTOMER):
            reached["customer"] += n
        if row["reached"] >= Stage.rank(Stage.MEMBER):
            reached["member"] += n
        if row["first_channel"] == "weibo":
            weibo_sourced += n
            weibo_to_wechat += n if row["subscribed"] else 0
    return {
        "customers": total,
        "leads": reached["lead"],
        "customers_paid": reached["customer"],
        "members": reached["member"],
        "lead_rate": rate(reached["lead"], total),
        "customer_rate": rate(reached["customer"], total),
        "member_rate": rate(reached["member"], total),
        "weibo_sourced": weibo_sourced,
        "weibo_to_wechat": weibo_to_wechat,
        "weibo_to_wechat_rate": rate(weibo_to_wechat, weibo_sourced),
    }
