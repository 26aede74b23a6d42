from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dashboards import kpis, snapshots
from dashboards.models import KpiSnapshot

from .datasets import END, START, conversation, local


def test_snapshots_give_the_same_figures_as_raw_data(dataset):
    live = kpis.wechat_kpis(START, END, "wxA")
    snapshots.compute_snapshots("wechat", START, END)
    assert KpiSnapshot.objects.filter(metric="computed").count() == 3
    assert snapshots.figures("wechat", START, END, "wxA") == live


def test_recomputing_a_day_overwrites_it(dataset):
    snapshots.compute_snapshots("wechat", START, START)
    before = KpiSnapshot.objects.get(
        channel="wechat", account="wxA", day=START, metric="conversations"
    )
    conversation("wxA", local(2026, 11, 1, 12, 0), first=5)
    snapshots.compute_snapshots("wechat", START, START)
    after = KpiSnapshot.objects.get(
        channel="wechat", account="wxA", day=START, metric="conversations"
    )
    assert (before.value, after.value) == (2, 3)
    assert KpiSnapshot.objects.filter(channel="wechat", day=START, metric="computed").count() == 1


def test_stored_days_are_read_not_recomputed(dataset):
    snapshots.compute_snapshots("wechat", START, END)
    # New raw data for a computed day is not seen until that day is recomputed.
    conversation("wxA", local(2026, 11, 2, 12, 0), first=5)
    assert snapshots.figures("wechat", START, END, "wxA")["conversations"] == 4
    assert kpis.wechat_kpis(START, END, "wxA")["conversations"] == 5


def test_today_is_always_live(db):
    now = timezone.localtime()
    snapshots.compute_snapshots("wechat", now.date(), now.date())
    conversation("wxA", now - timedelta(seconds=5), first=1)
    assert snapshots.figures("wechat", now.date(), now.date(), "wxA")["conversations"] == 1


def test_daily_series(dataset):
    series = snapshots.series("wechat", START, END, "wxA")
    assert [(row["day"], row["conversations"]) for row in series] == [
        ("2026-11-01", 2),
        ("2026-11-02", 1),
        ("2026-11-03", 1),
    ]


def test_backfill_command_reports_rows_and_rejects_reversed_range(dataset, capsys):
    call_command("backfill_kpis", "--start", "2026-11-01", "--end", "2026-11-03")
    out = capsys.readouterr()
    assert "6/6 days" in out.err  # three days of each channel, WeChat and Weibo
    assert KpiSnapshot.objects.filter(metric="computed").count() == 6
    call_command(
        "backfill_kpis", "--start", "2026-11-01", "--end", "2026-11-01", "--channel", "wechat"
    )
    assert "1/1 days" in capsys.readouterr().err
    with pytest.raises(CommandError, match="--end 2026-10-01 is before --start 2026-11-01"):
        call_command("backfill_kpis", "--start", "2026-11-01", "--end", "2026-10-01")
    with pytest.raises(CommandError, match="not a date"):
        call_command("backfill_kpis", "--start", "11/01/2026")


def test_nightly_task_snapshots_recent_days(db):
    from dashboards.tasks import snapshot_recent_days

    snapshot_recent_days(7)
    yesterday = timezone.localdate() - timedelta(days=1)
    days = set(KpiSnapshot.objects.filter(metric="computed").values_list("day", flat=True))
    assert days == {yesterday - timedelta(days=i) for i in range(7)}


def test_stored_per_agent_table_and_histogram_equal_the_live_computation(dataset, agent_user):
    live_agents = kpis.wechat_agent_table(START, END)
    live_histogram = kpis.wechat_response_histogram(START, END)
    snapshots.compute_snapshots("wechat", START, END)
    stored = snapshots.period_parts("wechat", START, END)
    assert (
        kpis.wechat_agent_rows(stored.values())
        == live_agents
        == [
            {
                "agent_id": agent_user.pk,
                "conversations": 2,  # c1, c3
                "median_first_response_seconds": (60 + 49 * 3600) / 2,
                "resolution_rate": 1.0,
                "satisfaction_rate": 0.5,  # ratings 5 and 3
            },
            {
                "agent_id": None,
                "conversations": 3,  # c2, c4 and wxB's
                "median_first_response_seconds": (30 + 3600) / 2,  # c4 got no response
                "resolution_rate": 2 / 3,  # c4 and wxB's
                "satisfaction_rate": 0.5,  # ratings 4 and 2
            },
        ]
    )
    # First responses 60 s (c1), 3600 s (c2), 176400 s (c3), 30 s (wxB's); c4 none.
    assert kpis.wechat_histogram_rows(stored.values()) == live_histogram
    assert {row["bucket"]: row["conversations"] for row in live_histogram} == {
        "<1m": 1,
        "1-5m": 1,
        "5-15m": 0,
        "15-60m": 0,
        "1-4h": 1,
        "4-24h": 0,
        "24-48h": 0,
        ">48h": 1,
        "none": 1,
    }


def test_a_day_stores_each_agents_sufficient_statistics(dataset, agent_user):
    snapshots.compute_snapshots("wechat", START, START)
    stored = {
        s.metric: s.value
        for s in KpiSnapshot.objects.filter(channel="wechat", account="wxA", day=START)
    }
    assert stored["agents"] == {
        str(agent_user.pk): {
            "conversations": 1,
            "resolved": 1,
            "rated": 1,
            "satisfied": 1,
            "first_response": [60.0],
        },
        "": {
            "conversations": 1,
            "resolved": 0,
            "rated": 0,
            "satisfied": 0,
            "first_response": [3600.0],
        },
    }
    assert stored["histogram"] == [0, 1, 0, 0, 1, 0, 0, 0, 0]  # c1 in 1-5m, c2 in 1-4h
    marker = KpiSnapshot.objects.get(channel="wechat", day=START, metric="computed")
    assert marker.value == snapshots.CHANNELS["wechat"].version == 2


def test_recomputing_a_day_overwrites_its_agent_figures(dataset, agent_user):
    snapshots.compute_snapshots("wechat", START, START)
    conversation("wxA", local(2026, 11, 1, 12, 0), first=5, rating=4, assignee=agent_user)
    snapshots.compute_snapshots("wechat", START, START)
    agents = KpiSnapshot.objects.get(channel="wechat", account="wxA", day=START, metric="agents")
    assert agents.value[str(agent_user.pk)] == {
        "conversations": 2,
        "resolved": 1,
        "rated": 2,
        "satisfied": 2,
        "first_response": [5.0, 60.0],
    }
    histogram = KpiSnapshot.objects.get(
        channel="wechat", account="wxA", day=START, metric="histogram"
    )
    assert histogram.value == [1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert KpiSnapshot.objects.filter(channel="wechat", day=START, metric="agents").count() == 1


def test_days_stored_in_an_older_format_are_computed_live(dataset, agent_user):
    snapshots.compute_snapshots("wechat", START, END)
    # As written before the per-agent figures were stored: marker `true`, no agents, no histogram.
    KpiSnapshot.objects.filter(metric__in=["agents", "histogram"]).delete()
    KpiSnapshot.objects.filter(metric="computed").update(value=True)
    conversation("wxA", local(2026, 11, 2, 12, 0), first=5, assignee=agent_user)
    parts = snapshots.period_parts("wechat", START, END, "wxA")
    assert kpis.wechat_figures(parts.values())["conversations"] == 5  # the new one is seen
    assert kpis.wechat_agent_rows(parts.values()) == kpis.wechat_agent_table(START, END, "wxA")
    assert [r["conversations"] for r in kpis.wechat_agent_rows(parts.values())] == [3, 2]


def test_the_wechat_page_reads_its_tables_from_snapshots(client, dataset, manager_user):
    client.force_login(manager_user)
    url = f"/dashboards/wechat/export/agents.csv?start={START}&end={END}"
    live = client.get(url).content
    snapshots.compute_snapshots("wechat", START, END)
    # A conversation added after the snapshot is not seen until its day is recomputed.
    conversation("wxA", local(2026, 11, 2, 12, 0), first=5)
    assert client.get(url).content == live
    snapshots.compute_snapshots("wechat", START, END)
    assert client.get(url).content != live


def test_nightly_task_recomputes_older_days_stored_in_an_older_format(db):
    from dashboards.tasks import snapshot_recent_days

    old = timezone.localdate() - timedelta(days=30)
    older = old - timedelta(days=1)
    snapshots.compute_snapshots("wechat", older, old)
    KpiSnapshot.objects.filter(day=old, metric="computed").update(value=True)  # format 1
    conversation("wxA", local(old.year, old.month, old.day, 12, 0), first=5)
    conversation("wxA", local(older.year, older.month, older.day, 12, 0), first=5)
    assert snapshots.stale_days("wechat", older, old) == [old]
    snapshot_recent_days(7)
    assert snapshots.stale_days("wechat", older, old) == []
    stored = KpiSnapshot.objects.filter(channel="wechat", account="wxA", metric="conversations")
    # Only the stale day was recomputed: the current-format day keeps what it stored.
    assert dict(stored.filter(day__in=[older, old]).values_list("day", "value")) == {old: 1}
