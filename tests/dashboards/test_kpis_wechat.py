"""WeChat KPIs on the hand-built dataset (datasets.py, whose comments work out every expected
value)."""

from datetime import date

import pytest
from django.db import connection

from dashboards import kpis

from .datasets import END, START


def test_wechat_kpis_for_one_account(dataset):
    assert kpis.wechat_kpis(START, END, "wxA") == {
        "conversations": 4,  # c1, c2, c3, c4
        "response_rate": 0.5,  # c1 (60 s) and c2 (1 h) within 48 h: 2 / 4
        # [60, 3600, 176400]: median 3600; p90 = 3600 + 0.8 * (176400 - 3600); mean 180060 / 3
        "first_response_seconds": {"median": 3600.0, "p90": 141840.0, "mean": 60020.0},
        "resolution_rate": 0.75,  # c1, c3, c4 resolved (c4 without a response)
        # [120, 600, 180000]: median 600; p90 = 600 + 0.8 * (180000 - 600); mean 180720 / 3
        "resolution_seconds": {"median": 600.0, "p90": 144120.0, "mean": 60240.0},
        "satisfaction_rate": 2 / 3,  # ratings 5, 3, 4 in the cohort; c5's 1 is not
        "ratings": 3,
        "average_rating": 4.0,
        "messages_in": 2,
        "messages_out": 2,
        "subscribed": 2,
        "unsubscribed": 1,
    }


def test_wechat_kpis_for_all_accounts_add_the_other_account(dataset):
    figures = kpis.wechat_kpis(START, END)
    assert figures["conversations"] == 5
    assert figures["response_rate"] == 3 / 5
    assert figures["ratings"] == 4 and figures["satisfaction_rate"] == 2 / 4
    assert figures["messages_in"] == 3


def test_empty_period_gives_nulls_not_zero_rates(db):
    assert kpis.wechat_kpis(date(2020, 1, 1), date(2020, 1, 31)) == {
        "conversations": 0,
        "response_rate": None,
        "first_response_seconds": {"median": None, "p90": None, "mean": None},
        "resolution_rate": None,
        "resolution_seconds": {"median": None, "p90": None, "mean": None},
        "satisfaction_rate": None,
        "ratings": 0,
        "average_rating": None,
        "messages_in": 0,
        "messages_out": 0,
        "subscribed": 0,
        "unsubscribed": 0,
    }


def test_conversation_opened_at_2359_on_last_day_is_in_the_period(dataset):
    only_last_day = kpis.wechat_kpis(END, END, "wxA")
    assert only_last_day["conversations"] == 1
    assert only_last_day["resolution_seconds"]["median"] == 120.0


def test_combining_day_parts_equals_computing_the_period(dataset):
    parts = kpis.wechat_day_parts(START, END, "wxA")
    assert sorted(day for _, day in parts) == [START, date(2026, 11, 2), END]
    by_day = [kpis.wechat_figures([parts[("wxA", d)]]) for d in kpis.days(START, END)]
    assert [f["conversations"] for f in by_day] == [2, 1, 1]
    assert kpis.wechat_figures(parts.values()) == kpis.wechat_kpis(START, END, "wxA")


def test_percentiles_match_postgresql_percentile_cont():
    values = [3.0, 7.5, 8.0, 120.0, 121.0, 4000.0, 4001.5]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FROM unnest(%s::float8[]) v",
            [values],
        )
        median, p90 = cursor.fetchone()
    summary = kpis.seconds_summary(values)
    assert (summary["median"], summary["p90"]) == (round(median, 3), round(p90, 3))


test_percentiles_match_postgresql_percentile_cont = pytest.mark.django_db(
    test_percentiles_match_postgresql_percentile_cont
)


def test_agent_table(dataset, agent_user):
    rows = kpis.wechat_agent_table(START, END, "wxA")
    assert rows == [
        {
            "agent_id": agent_user.pk,
            "conversations": 2,
            "median_first_response_seconds": (60 + 49 * 3600) / 2,
            "resolution_rate": 1.0,
            "satisfaction_rate": 0.5,
        },
        {
            "agent_id": None,
            "conversations": 2,
            "median_first_response_seconds": 3600.0,
            "resolution_rate": 0.5,
            "satisfaction_rate": 1.0,
        },
    ]


def test_response_histogram(dataset):
    buckets = {
        row["bucket"]: row["conversations"]
        for row in kpis.wechat_response_histogram(START, END, "wxA")
    }
    assert buckets == {
        "<1m": 0,
        "1-5m": 1,
        "5-15m": 0,
        "15-60m": 0,
        "1-4h": 1,
        "4-24h": 0,
        "24-48h": 0,
        ">48h": 1,
        "none": 1,
    }


def test_the_period_path_equals_the_day_parts_for_all_accounts_and_for_one_agent(
    dataset, agent_user
):
    # wechat_kpis computes the period in one pass; the snapshots combine day parts.
    everyone = kpis.wechat_day_parts(START, END).values()
    assert kpis.wechat_kpis(START, END) == kpis.wechat_figures(everyone)
    own = kpis.wechat_day_parts(START, END, assignee_id=agent_user.pk).values()
    figures = kpis.wechat_kpis(START, END, assignee_id=agent_user.pk)
    assert figures == kpis.wechat_figures(own)
    assert (figures["conversations"], figures["subscribed"]) == (2, 0)  # c1, c3; no subscriptions
