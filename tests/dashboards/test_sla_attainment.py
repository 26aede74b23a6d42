"""SLA attainment on the WeChat dashboard (dashboards.kpis.sla): targets met ÷ decided, per
agent and team, from the clocks the inbox keeps in business time."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from crm.models import Conversation, SlaClock, Team
from dashboards import kpis
from tests.conftest import make_staff
from tests.crm.factories import CustomerFactory

SH = ZoneInfo("Asia/Shanghai")


def clocked(n, *, team, agent, first=None, next_met=0, next_late=0, resolution=None, day=12):
    conversation = Conversation.objects.create(
        channel="wechat",
        account="wx-kpi",
        external_user=f"o-{n}",
        customer=CustomerFactory(),
        opened_at=datetime(2026, 10, day, 10, n, tzinfo=SH),
        team=team,
        assignee=agent,
    )
    SlaClock.objects.create(
        conversation=conversation,
        first_response_met=first,
        next_met=next_met,
        next_breached=next_late,
        resolution_met=resolution,
    )
    return conversation


@pytest.fixture
def cohort(db):
    presales, aftersales = Team.objects.create(name="售前"), Team.objects.create(name="售后")
    li, wang = make_staff("li", "agent"), make_staff("wang", "agent")
    clocked(1, team=presales, agent=li, first=True, next_met=2, next_late=1, resolution=True)
    clocked(2, team=presales, agent=li, first=False, resolution=None)  # resolution running
    clocked(3, team=aftersales, agent=wang, first=True, next_late=1, resolution=False)
    clocked(4, team=aftersales, agent=None)  # nothing decided yet
    clocked(5, team=presales, agent=li, first=False, day=20)  # outside the period
    # No clock (no policy): not in the cohort.
    Conversation.objects.create(
        channel="wechat",
        account="wx-kpi",
        external_user="o-none",
        customer=CustomerFactory(),
        opened_at=datetime(2026, 10, 12, 11, tzinfo=SH),
    )
    return presales, aftersales, li, wang


def test_attainment_is_targets_met_over_targets_decided(cohort):
    presales, aftersales, li, wang = cohort
    figures = kpis.sla_attainment(date(2026, 10, 12), date(2026, 10, 13))
    # Met: first 1+3, next 2 of conv 1, resolution 1 = 5; decided: first 3, next 4, resolution 2.
    assert {k: v for k, v in figures.items() if k not in ("agents", "teams")} == {
        "sla_conversations": 4,
        "sla_attainment": 5 / 9,
        "first_response_attainment": 2 / 3,
        "next_response_attainment": 2 / 4,
        "resolution_attainment": 1 / 2,
        "sla_met": 5,
        "sla_decided": 9,
    }
    assert [(r["assignee_id"], r["sla_met"], r["sla_decided"]) for r in figures["agents"]] == [
        (li.pk, 4, 6),
        (wang.pk, 1, 3),
        (None, 0, 0),
    ]
    assert figures["agents"][2]["sla_attainment"] is None
    assert [(r["team_id"], r["sla_attainment"]) for r in figures["teams"]] == [
        (presales.pk, 4 / 6),
        (aftersales.pk, 1 / 3),
    ]
    # One agent's own figures.
    assert (
        kpis.sla_attainment(date(2026, 10, 12), date(2026, 10, 13), assignee_id=wang.pk)[
            "sla_attainment"
        ]
        == 1 / 3
    )


def test_the_wechat_dashboard_shows_attainment_and_its_tables(cohort, manager_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(manager_user)
    page = client.get("/dashboards/wechat/?start=2026-10-12&end=2026-10-13")
    assert page.status_code == 200
    html = page.content.decode()
    assert "SLA 达标率" in html
    assert "每位客服的 SLA 达标率" in html and "各团队的 SLA 达标率" in html
    # Shares as percentages, as every other rate on the page (they showed as 0.7 and 0.3).
    cells = re.findall(r"<td>([^<]*)</td>", html.split('id="table-sla_teams"')[1])
    assert cells[:12] == [
        "售前", "2", "66.7%", "50.0%", "66.7%", "100.0%",
        "售后", "2", "33.3%", "100.0%", "0.0%", "0.0%",
    ]  # fmt: skip
    csv = client.get("/dashboards/wechat/export/sla_teams.csv?start=2026-10-12&end=2026-10-13")
    assert csv.status_code == 200
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "团队,会话数,SLA 达标率,首次响应,后续响应,解决"
    assert lines[1].startswith("售前,2,")
