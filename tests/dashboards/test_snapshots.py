from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dashboards import kpis, snapshots
from dashboards.models import KpiSnapshot

from .test_kpis_wechat import END, START, conversation, local


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
