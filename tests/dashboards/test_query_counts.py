"""Query-count guards of the KPI API's daily series (the dashboards' only lists): a period of 2
days and one of 20 cost the same queries, for the snapshot readers and for an agent's own
figures computed live."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from dashboards import snapshots
from tests.conftest import client_for
from tests.crm.factories import ConversationFactory

from .factories import KpiSnapshotFactory


def _conversations_each_day(first_day, days, agent):
    """One answered and resolved conversation a day, assigned to `agent`, at noon local time."""
    for n in range(days):
        opened = timezone.make_aware(datetime.combine(first_day + timedelta(days=n), time(12)))
        ConversationFactory(
            opened_at=opened,
            first_response_at=opened + timedelta(minutes=2),
            resolved_at=opened + timedelta(minutes=30),
            status="resolved",
            assignee=agent,
            rating=5,
        )


@pytest.mark.parametrize("reader", ["manager_user", "agent_user"])
def test_wechat_daily_series_costs_the_same_queries_for_2_and_20_days(
    reader, request, agent_user, get_counting_queries
):
    end = timezone.localdate() - timedelta(days=1)
    start = end - timedelta(days=19)
    _conversations_each_day(start, 20, agent_user)
    snapshots.compute_snapshots("wechat", start, end)
    api = client_for(request.getfixturevalue(reader))

    def series(first):
        url = f"/api/v1/kpis/wechat?by=day&start={first}&end={end}"
        queries, response = get_counting_queries(api, url)
        days = response.json()["series"]
        assert [d["conversations"] for d in days] == [1] * len(days)
        return queries, len(days)

    few, two = series(end - timedelta(days=1))
    many, twenty = series(start)
    assert (two, twenty) == (2, 20)
    assert many == few


def test_a_day_stored_in_an_older_format_is_computed_live(manager_user, agent_user):
    """Snapshot rows of an older KPI version (built with the factory) are not read: the API
    computes that day live instead of showing the stale figure."""
    day = timezone.localdate() - timedelta(days=1)
    _conversations_each_day(day, 1, agent_user)
    old = snapshots.CHANNELS["wechat"].version - 1
    KpiSnapshotFactory(day=day, metric="computed", value=old)
    KpiSnapshotFactory(day=day, metric="conversations", value=99)

    response = client_for(manager_user).get(f"/api/v1/kpis/wechat?start={day}&end={day}")

    assert (response.status_code, response.json()["conversations"]) == (200, 1)
