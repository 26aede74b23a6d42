"""The inbox list's fast path (one query for the three tab counts, the list's own count taken from
its tab, partial indexes in the page's order) against the plain definition of what an agent sees,
on a small mix of teams, assignees, statuses, channels and kinds."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Conversation, Team, TeamMembership
from tests.conftest import make_staff

from .factories import ConversationFactory

PRIVATE = ("wechat", "weibo")
ACTIVE = ("open", "pending")


@pytest.fixture
def mix(agent_user):
    """60 conversations: the agent's team, another team, no team; assigned to the agent, to a
    colleague, to nobody; open, pending, resolved; WeChat, Weibo, web; service and complaint;
    some never written in (no last_inbound_at), some with equal times (the id decides)."""
    mine, other = Team.objects.create(name="售前"), Team.objects.create(name="售后")
    TeamMembership.objects.create(team=mine, user=agent_user)
    colleague = make_staff("colleague", "agent")
    base = timezone.now() - timedelta(days=1)
    teams = [mine, other, None]
    assignees = [agent_user, colleague, None]
    statuses = ["open", "pending", "resolved", "open"]
    channels = ["wechat", "weibo", "wechat", "web", "wechat"]
    for n in range(60):
        opened = base + timedelta(minutes=n % 7)
        ConversationFactory(
            team=teams[n % 3],
            assignee=assignees[(n // 3) % 3],
            status=statuses[n % 4],
            channel=channels[n % 5],
            kind="complaint" if n % 11 == 0 else "service",
            opened_at=opened,
            last_inbound_at=None if n % 13 == 0 else opened + timedelta(minutes=n % 5),
        )
    return mine, agent_user


def plainly_visible(agent, mine: Team) -> list[Conversation]:
    """The definition, in Python: private channels, either kind, the agent's team, no team, or
    assigned to the agent."""
    return [
        c
        for c in Conversation.objects.all()
        if c.channel in PRIVATE
        and c.kind in ("service", "complaint")
        and (c.team_id is None or c.team_id == mine.pk or c.assignee_id == agent.pk)
    ]


def waiting_order(c: Conversation):
    return (c.last_inbound_at is None, c.last_inbound_at or c.opened_at, c.opened_at, c.pk)


def get(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"] and "crm_conversation" in q["sql"]]
    return response, counts


def test_tab_counts_and_rows_match_the_plain_definition(mix):
    mine, agent = mix
    client = Client()
    client.force_login(agent)
    visible = plainly_visible(agent, mine)
    active = [c for c in visible if c.status in ACTIVE]

    response, counts = get(client, "/inbox/")

    assert response.context["counts"] == {
        "mine": sum(c.assignee_id == agent.pk for c in active),
        "unassigned": sum(c.assignee_id is None for c in active),
        "all": len(active),
    }
    assert response.context["counts"] == {"mine": 14, "unassigned": 6, "all": 28}
    page = response.context["page"]
    assert [c.pk for c in page] == [c.pk for c in sorted(active, key=waiting_order)]
    assert page.paginator.count == 28
    assert len(counts) == 1  # the tabs' one query; the list's count is the "all" tab's


@pytest.mark.parametrize(
    ("query", "tab"),
    [("?assigned=mine", "mine"), ("?assigned=unassigned", "unassigned"), ("?assigned=all", "all")],
)
def test_a_tab_lists_its_own_count_without_counting_again(mix, query, tab):
    mine, agent = mix
    client = Client()
    client.force_login(agent)
    active = [c for c in plainly_visible(agent, mine) if c.status in ACTIVE]
    wanted = {
        "mine": [c for c in active if c.assignee_id == agent.pk],
        "unassigned": [c for c in active if c.assignee_id is None],
        "all": active,
    }[tab]

    response, counts = get(client, "/inbox/" + query)

    page = response.context["page"]
    assert page.paginator.count == len(wanted) == response.context["counts"][tab]
    assert [c.pk for c in page] == [c.pk for c in sorted(wanted, key=waiting_order)]
    assert len(counts) == 1


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("?status=open", lambda c, me: c.status == "open"),
        ("?status=resolved", lambda c, me: c.status == "resolved"),
        ("?channel=weibo", lambda c, me: c.status in ACTIVE and c.channel == "weibo"),
        ("?kind=complaint", lambda c, me: c.status in ACTIVE and c.kind == "complaint"),
        (
            "?assigned=mine&status=open&status=pending&status=resolved",
            lambda c, me: c.assignee_id == me.pk,
        ),
    ],
)
def test_a_filtered_list_counts_its_own_rows(mix, query, keep):
    mine, agent = mix
    client = Client()
    client.force_login(agent)
    wanted = [c for c in plainly_visible(agent, mine) if keep(c, agent)]

    response, counts = get(client, "/inbox/" + query)

    page = response.context["page"]
    assert page.paginator.count == len(wanted)
    assert [c.pk for c in page] == [c.pk for c in sorted(wanted, key=waiting_order)]
    assert len(counts) == 2  # the tabs' query and the filtered list's own count
