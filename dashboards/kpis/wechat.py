"""WeChat KPIs: service conversations, messages and subscriptions (DESIGN.md section 5)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from crm.models import Conversation, ConversationLabelling, Interaction, Message

from .common import LOCAL, local_bounds, rate, seconds_summary

RESPONSE_WINDOW_SECONDS = 48 * 3600


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
      ratings: how many were rated; average_rating, their mean (1..5, not rounded).
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
        # Exact, as defined: pages round it for display.
        "average_rating": (
            None if not rated else sum((i + 1) * n for i, n in enumerate(ratings)) / rated
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


def wechat_label_counts(
    start: date, end: date, account: str | None = None, assignee_id: int | None = None
) -> list[dict[str, Any]]:
    """Conversation labels over the cohort (WeChat service conversations opened in the period):
    for each label, the number of those conversations carrying it now, most used first. Labels
    are changed at any time, so this is computed live, never snapshotted."""
    low, high = local_bounds(start, end)
    rows = ConversationLabelling.objects.filter(
        conversation__channel="wechat",
        conversation__kind=Conversation.Kind.SERVICE,
        conversation__opened_at__gte=low,
        conversation__opened_at__lt=high,
    )
    if account:
        rows = rows.filter(conversation__account=account)
    if assignee_id is not None:
        rows = rows.filter(conversation__assignee_id=assignee_id)
    counted = rows.values("label__name").annotate(n=Count("conversation_id")).order_by("-n")
    return [
        {"label": row["label__name"], "conversations": row["n"]}
        for row in counted.order_by("-n", "label__name")
    ]
