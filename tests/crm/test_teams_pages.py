"""The team pages and endpoints for every role (marketing, agent, manager, superuser,
anonymous), and the object-level rule of the role table: an agent of 售前 cannot open a 售后
conversation by URL (inbox, admin) or API; managers and "see all" members can."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm import inbox
from crm.inbox import receive_message, set_presence
from crm.models import (
    AgentPresence,
    Conversation,
    ConversationTransfer,
    Message,
    RoutingRule,
    Team,
    TeamMembership,
)
from tests.conftest import client_for, make_staff

from . import senders
from .factories import CustomerFactory

ROLES = ("marketing", "agent", "manager", "superuser", "anonymous")


@pytest.fixture(autouse=True)
def test_sender(monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()


@pytest.fixture
def users(marketing_user, agent_user, manager_user, admin_user):
    return {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
        "anonymous": None,
    }


def browser(user):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def two_teams(db):
    presales = Team.objects.create(name="售前", default=True)
    aftersales = Team.objects.create(name="售后")
    RoutingRule.objects.create(kind="keyword", value="退货", team=aftersales)
    return presales, aftersales


def wechat_message(content, openid, msg_id):
    message, _ = receive_message(
        channel="wechat",
        account="wx-pages",
        external_user=openid,
        customer=CustomerFactory(),
        msg_type="text",
        content=content,
        sent_at=timezone.now(),
        platform_msg_id=msg_id,
    )
    return Conversation.objects.get(pk=message.conversation_id)


@pytest.fixture
def conversations(two_teams, agent_user):
    presales, aftersales = two_teams
    TeamMembership.objects.create(team=presales, user=agent_user)
    sale = wechat_message("这款有货吗", "o-sale", "s1")
    after = wechat_message("我要退货", "o-after", "a1")
    assert (sale.team, after.team) == (presales, aftersales)
    return sale, after


# Presence -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_presence_endpoint_for_every_role(role, users, db):
    response = browser(users[role]).post("/inbox/presence/", {"status": "online"})
    if role == "anonymous":
        assert (response.status_code, response["Location"]) == (
            302,
            "/admin/login/?next=/inbox/presence/",
        )
    elif role in ("marketing", "manager"):
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert json.loads(response.content) == {"status": "online", "ttl": 60}
    expected = 1 if role in ("agent", "superuser") else 0
    assert AgentPresence.objects.count() == expected


def test_presence_heartbeat_keeps_the_choice_and_a_bad_status_is_a_400(agent_user):
    client = browser(agent_user)
    assert json.loads(client.post("/inbox/presence/", {"status": "away"}).content)["status"] == (
        "away"
    )
    assert json.loads(client.post("/inbox/presence/").content)["status"] == "away"
    bad = client.post("/inbox/presence/", {"status": "busy"})
    assert (bad.status_code, json.loads(bad.content)) == (
        400,
        {"status": ["未知的在线状态：busy。"]},
    )
    assert AgentPresence.objects.get(user=agent_user).status == "away"
    assert client.get("/inbox/presence/").status_code == 405


def test_a_chosen_offline_survives_the_pages_heartbeats_an_expired_one_does_not(
    agent_user, settings
):
    client = browser(agent_user)
    client.post("/inbox/presence/", {"status": "offline"})
    # The open page keeps sending heartbeats: the agent stays offline, and gets nothing routed.
    assert json.loads(client.post("/inbox/presence/").content)["status"] == "offline"
    assert json.loads(client.post("/inbox/presence/").content)["status"] == "offline"
    # Marked offline by the expiry (the page was closed), the next open page brings them back.
    client.post("/inbox/presence/", {"status": "online"})
    AgentPresence.objects.filter(user=agent_user).update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.INBOX_PRESENCE_TTL + 1)
    )
    assert inbox.routing.expire_presence()["expired"] == 1
    assert AgentPresence.objects.get(user=agent_user).status == "offline"
    assert json.loads(client.post("/inbox/presence/").content)["status"] == "online"


def test_the_inbox_page_shows_the_presence_picker_and_loads_the_heartbeat(agent_user):
    html = browser(agent_user).get("/inbox/").content.decode()
    assert 'id="presence-box" data-url="/inbox/presence/"' in html
    assert '<option value="offline" selected>离线</option>' in html
    assert "/static/crm/inbox_presence.js" in html


def test_a_manager_sees_no_presence_picker(manager_user):
    html = browser(manager_user).get("/inbox/").content.decode()
    assert "presence-box" not in html and "inbox_presence.js" not in html


# Transfer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_transfer_endpoint_for_every_role(role, users, conversations, two_teams):
    sale, _after = conversations
    _presales, aftersales = two_teams
    url = f"/inbox/{sale.pk}/transfer/"
    response = browser(users[role]).post(url, {"team": aftersales.pk, "note": "退货问题"})
    sale.refresh_from_db()
    if role == "anonymous":
        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={url}")
    elif role in ("marketing", "manager"):
        assert response.status_code == 403
    else:
        assert response.status_code == 302
        assert sale.team == aftersales
        assert ConversationTransfer.objects.get().note == "退货问题"
        return
    assert sale.team.name == "售前"
    assert ConversationTransfer.objects.count() == 0


def test_transfer_to_an_agent_from_the_page_shows_in_its_history(conversations, agent_user):
    sale, _after = conversations
    colleague = make_staff("colleague", "agent")
    client = browser(agent_user)
    response = client.post(
        f"/inbox/{sale.pk}/transfer/", {"agent": colleague.pk, "note": "客户要发票"}
    )
    assert response["Location"] == f"/inbox/{sale.pk}/"
    html = client.get(f"/inbox/{sale.pk}/").content.decode()
    assert 'id="transfers"' in html and "客户要发票" in html
    assert '<strong id="conversation-team">售前</strong>' in html
    sale.refresh_from_db()
    assert sale.assignee == colleague


def test_transfer_without_a_note_is_refused_on_the_page(conversations, agent_user, two_teams):
    sale, _after = conversations
    client = browser(agent_user)
    client.post(f"/inbox/{sale.pk}/transfer/", {"team": two_teams[1].pk, "note": ""})
    html = client.get(f"/inbox/{sale.pk}/").content.decode()
    assert "请给接手的人写一条备注。" in html
    assert ConversationTransfer.objects.count() == 0
    for bad in ({"agent": "999999", "note": "x"}, {"team": "abc", "note": "x"}):
        client.post(f"/inbox/{sale.pk}/transfer/", bad)
    assert ConversationTransfer.objects.count() == 0


# The team rule -------------------------------------------------------------------------------


def test_an_agent_of_presales_cannot_open_an_aftersales_conversation(conversations, agent_user):
    sale, after = conversations
    Message.objects.filter(conversation=after)  # the 售后 thread
    client = browser(agent_user)
    assert client.get(f"/inbox/{sale.pk}/").status_code == 200
    assert client.get(f"/inbox/{after.pk}/").status_code == 404
    assert client.post(f"/inbox/{after.pk}/reply/", {"text": "hi"}).status_code == 404
    assert client.post(f"/inbox/{after.pk}/resolve/").status_code == 404
    assert client.post(f"/inbox/{after.pk}/transfer/", {"note": "x"}).status_code == 404
    listing = client.get("/inbox/").content.decode()
    assert f'data-id="{sale.pk}"' in listing and f'data-id="{after.pk}"' not in listing
    # The admin's conversation pages.
    assert client.get(f"/admin/crm/conversation/{sale.pk}/change/").status_code == 200
    assert client.get(f"/admin/crm/conversation/{after.pk}/change/").status_code == 302
    # The API: the conversation, its actions and its messages.
    api = client_for(agent_user)
    assert api.get(f"/api/v1/wechat/conversations/{sale.pk}/").status_code == 200
    assert api.get(f"/api/v1/wechat/conversations/{after.pk}/").status_code == 404
    assert api.post(f"/api/v1/wechat/conversations/{after.pk}/resolve/").status_code == 404
    ids = [c["id"] for c in api.get("/api/v1/wechat/conversations/").json()["results"]]
    assert ids == [sale.pk]
    seen = {m["conversation"] for m in api.get("/api/v1/wechat/messages/").json()["results"]}
    assert seen == {sale.pk}
    after.refresh_from_db()
    assert after.status == "open" and Message.objects.filter(conversation=after).count() == 1


@pytest.mark.parametrize("who", ["manager", "superuser", "see_all"])
def test_managers_superusers_and_see_all_members_see_every_team(
    who, conversations, users, agent_user
):
    sale, after = conversations
    if who == "see_all":
        TeamMembership.objects.filter(user=agent_user).update(see_all=True)
        user = agent_user
    else:
        user = users[who]
    client = browser(user)
    for conversation in (sale, after):
        assert client.get(f"/inbox/{conversation.pk}/").status_code == 200
    ids = {c["id"] for c in client_for(user).get("/api/v1/wechat/conversations/").json()["results"]}
    assert ids == {sale.pk, after.pk}


def test_a_conversation_assigned_to_an_agent_outside_its_team_is_theirs_to_see(
    conversations, agent_user
):
    _sale, after = conversations
    inbox.assign_conversation(after, agent_user)
    assert browser(agent_user).get(f"/inbox/{after.pk}/").status_code == 200


# SLA badges ----------------------------------------------------------------------------------


def test_sla_badges_on_the_list_and_timers_on_the_conversation(conversations, agent_user):
    from datetime import timedelta

    from crm.models import SlaClock

    sale, _after = conversations
    now = timezone.now()
    SlaClock.objects.create(
        conversation=sale,
        first_response_due=now - timedelta(minutes=1),
        first_response_warn=now - timedelta(minutes=5),
        resolution_due=now + timedelta(hours=5),
        resolution_warn=now + timedelta(hours=4),
    )
    client = browser(agent_user)
    listing = client.get("/inbox/").content.decode()
    assert 'class="badge sla-badge sla-breached"' in listing and "SLA 已超时" in listing
    page = client.get(f"/inbox/{sale.pk}/").content.decode()
    assert 'id="sla-timers"' in page
    assert 'sla-breached" data-target="first_response">首次响应' in page
    assert 'sla-ok" data-target="resolution">解决' in page


def test_the_list_query_count_does_not_grow_with_sla_badges(conversations, agent_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import SlaClock

    client = browser(agent_user)
    client.get("/inbox/")
    with CaptureQueriesContext(connection) as few:
        client.get("/inbox/")
    for i in range(5):
        c = wechat_message("有货吗", f"o-more{i}", f"more{i}")
        SlaClock.objects.create(conversation=c, resolution_due=timezone.now())
    with CaptureQueriesContext(connection) as more:
        client.get("/inbox/")
    assert len(more) == len(few)


def test_presence_online_hands_out_the_team_queue(two_teams, agent_user):
    presales, _ = two_teams
    TeamMembership.objects.create(team=presales, user=agent_user)
    waiting = wechat_message("在吗", "o-w", "w1")
    assert waiting.assignee is None
    browser(agent_user).post("/inbox/presence/", {"status": "online"})
    waiting.refresh_from_db()
    assert waiting.assignee == agent_user
    set_presence(agent_user, "offline")


# The list's teams ---------------------------------------------------------------------------


def test_a_manager_narrows_the_list_to_a_team_and_each_row_names_its_team(
    conversations, manager_user, agent_user, two_teams
):
    presales, aftersales = two_teams
    sale, after = conversations
    manager = browser(manager_user)
    html = manager.get("/inbox/").content.decode()
    assert '<option value="">全部团队</option>' in html
    assert f'<option value="{presales.pk}" >售前</option>' in html
    assert f'<option value="{aftersales.pk}" >售后</option>' in html
    assert html.count('<small class="conversation-team">') == 2
    narrowed = manager.get(f"/inbox/?team={aftersales.pk}").content.decode()
    assert f'data-id="{after.pk}"' in narrowed and f'data-id="{sale.pk}"' not in narrowed
    assert f'<option value="{aftersales.pk}" selected>售后</option>' in narrowed
    bad = manager.get("/inbox/?team=x").content.decode()  # not a number: the filter is ignored
    assert 'data-id="' in bad
    # An agent of one team has nothing to choose between: no filter; their rows name the team.
    html = browser(agent_user).get("/inbox/").content.decode()
    assert 'id="team-filter"' not in html
    assert '<small class="conversation-team">售前</small>' in html
    # Asking for the other team's conversations by the filter shows none of them.
    other = browser(agent_user).get(f"/inbox/?team={aftersales.pk}").content.decode()
    assert f'data-id="{after.pk}"' not in other


def test_the_api_narrows_conversations_to_a_team_within_what_the_user_sees(
    conversations, manager_user, agent_user, two_teams
):
    presales, aftersales = two_teams
    sale, after = conversations
    url = "/api/v1/wechat/conversations/"

    def ids(user, team):
        client = Client()
        client.force_login(user)
        response = client.get(url, {"team": team.pk})
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids(manager_user, aftersales) == [after.pk]
    assert ids(manager_user, presales) == [sale.pk]
    assert ids(agent_user, presales) == [sale.pk]
    assert ids(agent_user, aftersales) == []  # not their team: the filter shows nothing more
