"""The WeChat demo data: loaded through the history handlers, once, with KPI shape."""

import io
from datetime import timedelta

from django.utils import timezone

from channels_wechat.models import OfficialAccount, WeChatUser
from crm.models import Conversation, Message, SlaBreach, Team
from dashboards import kpis
from dashboards.kpis.sla import sla_attainment
from devtools.demo import teams
from devtools.demo import wechat as demo


def test_demo_history_loads_once_and_gives_kpis_shape(db):
    out = io.StringIO()
    demo.load(out)
    account = OfficialAccount.objects.get()
    counts = (Conversation.objects.count(), Message.objects.count(), WeChatUser.objects.count())
    assert counts[0] > 300
    assert Conversation.objects.filter(status="open").exists()
    assert Conversation.objects.filter(status="pending").exists()
    # The backlog is recent, as a working team's is: nothing unresolved from weeks ago.
    two_days_ago = timezone.now() - timedelta(days=2)
    assert not Conversation.objects.filter(
        status__in=["open", "pending"], opened_at__lt=two_days_ago
    ).exists()
    assert Conversation.objects.filter(rating__isnull=False).count() > 100
    today = timezone.localdate()
    figures = kpis.wechat_kpis(today - timedelta(days=34), today, account.appid)
    assert 0.8 < figures["response_rate"] < 1
    assert 0.6 < figures["resolution_rate"] < 1
    assert 0.7 < figures["satisfaction_rate"] < 1
    assert figures["first_response_seconds"]["median"] > 60
    assert figures["subscribed"] > 0 and figures["unsubscribed"] > 0
    demo.load(out)
    assert (
        Conversation.objects.count(),
        Message.objects.count(),
        WeChatUser.objects.count(),
    ) == counts
    assert "already loaded" in out.getvalue()

    # The teams and the SLA policy over that history: the clocks replayed through the inbox's
    # SLA actions give the dashboard's attainment a history, per team.
    teams.load(out)
    sla = sla_attainment(today - timedelta(days=34), today, account.appid)
    assert sla["sla_conversations"] > 100
    assert 0.3 < sla["sla_attainment"] < 1
    assert {row["team_id"] for row in sla["teams"]} == set(
        Team.objects.values_list("pk", flat=True)
    )
    assert SlaBreach.objects.filter(target="first_response").exists()
    assert SlaBreach.objects.filter(target="resolution").exists()


def test_demo_events_are_valid_history(db):
    events = demo.demo_events("wx_demo", timezone.now())
    assert {e["type"] for e in events} == {
        "subscribe",
        "unsubscribe",
        "message_in",
        "agent_reply",
        "resolve",
    }
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
