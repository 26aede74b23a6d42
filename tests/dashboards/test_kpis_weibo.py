"""Weibo KPIs on the hand-built dataset (datasets.py, whose comments work out every expected
value)."""

import math
from datetime import date

from dashboards import kpis, snapshots

from .datasets import END, START


def test_weibo_kpis_for_one_account(weibo):
    # W1 = ln(2 + 1); W2 = 0.4 ln(10 + 1) + 0.4 ln(8 + 1) + 0.2 ln(107 + 1)
    w1 = math.log(3)
    w2 = 0.4 * math.log(11) + 0.4 * math.log(9) + 0.2 * math.log(108)
    assert round((0.2 * w1 + 0.8 * w2) * 160, 2) == 390.29
    assert kpis.weibo_kpis(START, END, "1001") == {
        "follower_count": 1300,
        "follower_growth": 300,  # 1300 - 1000
        "posts": 2,  # the two original brand posts in the period (not the repost, not 10-31)
        "reposts": 10,
        "comments": 8,
        "likes": 107,
        "reposts_comments": 18,
        "influence": 390.29,
        "mentions": 3,  # m1, m2, m4; not the brand's own comment, not the post matching nothing
        "sentiment": {"positive": 1 / 3, "neutral": 1 / 3, "negative": 1 / 3},
        "leads": 2,  # sourced from m2 and m4
        "leads_converted": 1,
        "conversion_rate": 0.5,
    }


def test_weibo_kpis_for_all_accounts(weibo):
    figures = kpis.weibo_kpis(START, END)
    assert (figures["follower_count"], figures["follower_growth"]) == (1800, 300)
    assert (figures["posts"], figures["reposts_comments"], figures["mentions"]) == (3, 20, 4)
    # Every Weibo lead of the period, with or without a source post: 3, one converted.
    assert (figures["leads"], figures["leads_converted"]) == (3, 1)


def test_no_snapshot_before_the_period_gives_null_growth(weibo):
    figures = kpis.weibo_kpis(START, END, "2002")
    assert (figures["follower_count"], figures["follower_growth"]) == (500, None)
    assert figures["conversion_rate"] is None and figures["sentiment"]["positive"] == 1.0


def test_snapshots_give_the_same_figures(weibo):
    snapshots.compute_snapshots("weibo", START, END)
    assert snapshots.figures("weibo", START, END, "1001") == kpis.weibo_kpis(START, END, "1001")


def test_follower_series_carries_the_last_snapshot_forward(weibo):
    assert kpis.follower_series(START, date(2026, 11, 5), "1001") == [
        {"day": "2026-11-01", "followers": 1100},
        {"day": "2026-11-02", "followers": 1100},
        {"day": "2026-11-03", "followers": 1300},
        {"day": "2026-11-04", "followers": 1300},
        {"day": "2026-11-05", "followers": 1500},
    ]


def test_top_posts_and_kols(weibo):
    assert [p["reposts_comments"] for p in kpis.weibo_top_posts(START, END, "1001")] == [15, 3]
    assert [(k["screen_name"], k["mentions"]) for k in kpis.weibo_top_kols(START, END)] == [
        ("小红", 2),
        ("阿明", 1),
    ]


def test_daily_series_equals_the_figures_of_each_day(weibo):
    for account in (None, "1001"):
        series = snapshots.series("weibo", START, date(2026, 11, 5), account)
        assert series == [
            {"day": day.isoformat(), **kpis.weibo_kpis(day, day, account)}
            for day in kpis.days(START, date(2026, 11, 5))
        ]
    days = {row["day"]: row for row in snapshots.series("weibo", START, END)}
    # A: 1100 on 11-01 (growth 100 from 1000); B's first snapshot on 11-02 has no growth.
    assert [(d["follower_count"], d["follower_growth"]) for d in days.values()] == [
        (1100, 100),
        (1600, 0),
        (1800, 200),
    ]
    assert [days[d]["posts"] for d in days] == [1, 1, 1]  # the repost is not one


def test_the_daily_series_costs_the_same_queries_for_any_length(weibo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for end in (START, date(2026, 11, 30)):
        with CaptureQueriesContext(connection) as captured:
            snapshots.series("weibo", START, end, "1001")
        counts.append(len(captured))
    assert counts[0] == counts[1]
