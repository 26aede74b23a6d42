"""Weibo KPIs: followers, brand posts, mentions and their sentiment, Weibo-sourced leads
(DESIGN.md section 5).

Mentions are immutable once created, so their daily counts are snapshotted. Counters of brand
posts ("latest known"), lead conversions ("at computation time") and follower snapshots change
or live in their own daily table, so they are read live: they are small (a brand publishes
dozens of posts a month) and indexed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from django.db.models import CharField, Count, F, Q, Sum
from django.db.models.functions import Cast, TruncDate

from crm.models import Lead, LeadStatus

from .common import LOCAL, days, local_bounds, rate

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


def _snapshot_days(
    start: date, end: date, account: str | None
) -> tuple[dict[str, int], dict[date, list[tuple[str, int]]]]:
    """One read of the follower snapshots up to `end`: each account's last count before `start`,
    and the (account, count) pairs of each day of the period that has snapshots."""
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
    return latest, on_day


def _followers_by_day(
    start: date, end: date, account: str | None
) -> dict[date, tuple[int | None, int | None]]:
    """_followers of each single day of the period, from one read of the snapshots."""
    latest, on_day = _snapshot_days(start, end, account)
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
    rows = (
        _brand_post_rows(start, end, account)
        .annotate(engagement=F("reposts_count") + F("comments_count"))
        .order_by("-engagement", "-created_at")[:limit]
    )
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
    latest, by_day = _snapshot_days(start, end, account)
    series = []
    for day in days(start, end):
        latest.update(by_day.get(day, []))
        series.append(
            {"day": day.isoformat(), "followers": sum(latest.values()) if latest else None}
        )
    return series
