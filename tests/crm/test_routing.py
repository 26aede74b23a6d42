"""Teams and routing (crm.inbox.routing) through the inbox's own entry point, receive_message:
the rules in order, assignment under each agent's maximum with round robin on ties, the team
queue, presence and its expiry, going offline, transfers with a note."""

from datetime import timedelta
from itertools import count

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import inbox
from crm.inbox import InboxError, receive_message, set_presence, transfer_conversation
from crm.inbox.routing import expire_presence, heartbeat
from crm.models import (
    AgentPresence,
    Conversation,
    ConversationTransfer,
    InboxEvent,
    RoutingRule,
    SlaPolicy,
    Tag,
    Team,
    TeamMembership,
)
from tests.conftest import make_staff

from .factories import CustomerFactory

ACCOUNT = "wx-routing"
_ids = count(1)


def incoming(content="你好", *, openid=None, at=None, customer=None, msg_type="text", data=None):
    """A customer message received as any channel does; returns its conversation."""
    n = next(_ids)
    message, _created = receive_message(
        channel="wechat",
        account=ACCOUNT,
        external_user=openid or f"o-{n}",
        customer=customer or CustomerFactory(),
        msg_type=msg_type,
        content=content,
        sent_at=at or timezone.now(),
        platform_msg_id=f"m-{n}",
        data=data,
    )
    return Conversation.objects.get(pk=message.conversation_id) if message.conversation_id else None


def give_open(agent, n):
    """`n` open conversations already assigned to the agent (opened before routing existed)."""
    for _ in range(n):
        c = Conversation.objects.create(
            channel="wechat",
            account="wx-old",
            external_user=f"old-{next(_ids)}",
            customer=CustomerFactory(),
        )
        inbox.assign_conversation(c, agent)


@pytest.fixture
def teams(db):
    presales = Team.objects.create(name="售前", default=True)
    aftersales = Team.objects.create(name="售后")
    RoutingRule.objects.create(kind="keyword", value="退货", team=aftersales, position=1)
    return presales, aftersales


@pytest.fixture
def three_agents(teams):
    presales, _ = teams
    a, b, c = make_staff("a", "agent"), make_staff("b", "agent"), make_staff("c", "agent")
    TeamMembership.objects.create(team=presales, user=a, max_open=2)
    TeamMembership.objects.create(team=presales, user=b, max_open=5)
    TeamMembership.objects.create(team=presales, user=c, max_open=5)
    for agent in (a, b, c):
        set_presence(agent, "online")
    return a, b, c


@pytest.mark.parametrize("pick", ["postgresql", "portable"])
def test_three_agents_one_at_the_maximum_fewest_open_then_round_robin(
    three_agents, pick, monkeypatch
):
    """The same choices, and the same rows written, from the one statement and from the
    portable steps the demo's SQLite takes (crm.inbox.routing._pick_and_assign_portable:
    assign_conversation and crm.live.emit)."""
    from crm.inbox import routing

    if pick == "portable":
        portable = routing._pick_and_assign_portable
        monkeypatch.setattr(
            routing,
            "pick_and_assign",
            lambda conversation, team, now, lock=True: portable(conversation, team, now),
        )
    a, b, c = three_agents
    give_open(a, 2)  # at the maximum: never chosen, though the others will have more
    give_open(b, 1)
    give_open(c, 1)

    assignees = [incoming(f"第{i}个问题").assignee for i in range(5)]

    # b and c tie at 1 (b: lower id), then c has fewer, then they tie again and the one served
    # longest ago goes first.
    assert [u.username for u in assignees] == ["b", "c", "b", "c", "b"]
    assert Conversation.objects.filter(assignee=a).count() == 2
    assert {c.team.name for c in Conversation.objects.filter(account=ACCOUNT)} == {"售前"}
    assigned = InboxEvent.objects.filter(kind="assigned", conversation__account=ACCOUNT)
    assert [
        (e.conversation.assignee.username, e.assignee_id, e.status, e.by_id, e.message_id)
        for e in assigned.order_by("pk")
    ] == [(u.username, u.pk, "open", None, None) for u in assignees]
    assert {e.direction for e in assigned} == {""}


def test_everyone_at_the_maximum_leaves_it_waiting_in_the_team_queue(three_agents):
    a, b, c = three_agents
    TeamMembership.objects.filter(user__in=[b, c]).update(max_open=1)
    give_open(a, 2)
    give_open(b, 1)
    give_open(c, 1)
    waiting = incoming("在吗")
    assert (waiting.assignee, waiting.team.name) == (None, "售前")


def test_keyword_rule_first_then_the_default_team(teams):
    presales, aftersales = teams
    assert incoming("我要退货，怎么寄回？").team == aftersales
    assert incoming("这款有货吗").team == presales


def test_menu_click_tag_and_tier_rules_in_their_order(teams, monkeypatch):
    presales, aftersales = teams
    vip = Team.objects.create(name="VIP")
    RoutingRule.objects.create(kind="menu", value="MENU_AFTER_SALES", team=aftersales, position=2)
    RoutingRule.objects.create(kind="tag", value="大客户", team=vip, position=3)
    RoutingRule.objects.create(kind="tier", value="金卡", team=vip, position=4)

    clicker = CustomerFactory()
    incoming(
        "[CLICK]",
        openid="o-clicker",
        customer=clicker,
        msg_type="event",
        data={"event": "CLICK", "event_key": "MENU_AFTER_SALES"},
        at=timezone.now() - timedelta(minutes=2),
    )
    assert incoming("你好", openid="o-clicker", customer=clicker).team == aftersales

    tagged = CustomerFactory()
    tagged.tags.add(Tag.objects.create(name="大客户"))
    assert incoming("你好", customer=tagged).team == vip

    gold = CustomerFactory()
    monkeypatch.setattr(
        "crm.inbox.routing._tier_of", lambda customer: "金卡" if customer == gold else None
    )
    assert incoming("你好", customer=gold).team == vip
    # The keyword rule comes first, whatever the customer's tag.
    assert incoming("退货", customer=tagged).team == aftersales


def test_tier_rules_ask_the_members_app(teams):
    from members.models import Membership, Tier

    vip = Team.objects.create(name="VIP")
    RoutingRule.objects.create(kind="tier", value="金卡", team=vip, position=4)
    customer = CustomerFactory()
    Membership.objects.create(
        customer=customer,
        member_number="M0001",
        tier=Tier.objects.create(name="金卡", rank=2, basis="points", threshold=1000),
        joined_via="wechat",
    )
    assert incoming("你好", customer=customer).team == vip
    assert incoming("你好").team == teams[0]


def test_a_rule_naming_a_deleted_team_falls_back_to_the_default_team(teams, caplog):
    presales, aftersales = teams
    rule = RoutingRule.objects.get(kind="keyword")
    aftersales.delete()
    rule.refresh_from_db()
    assert rule.team is None and rule.team_missing is True

    conversation = incoming("退货")

    assert conversation.team == presales
    assert f"rule {rule.pk} names no active team: the default team takes it" in caplog.text


def test_the_accounts_own_default_rule_before_the_default_team(teams):
    presales, aftersales = teams
    RoutingRule.objects.create(account=ACCOUNT, kind="default", team=aftersales, position=9)
    RoutingRule.objects.create(account="wx-other", kind="default", team=presales)
    assert incoming("随便问问").team == aftersales


def test_no_teams_at_all_keeps_the_old_single_inbox(db):
    conversation = incoming("你好")
    assert (conversation.team, conversation.assignee) == (None, None)


def test_nobody_online_waits_unassigned_until_someone_comes_online(teams):
    presales, _ = teams
    agent = make_staff("late", "agent")
    TeamMembership.objects.create(team=presales, user=agent, max_open=1)
    first, second = incoming("一"), incoming("二")
    assert (first.assignee, second.assignee) == (None, None)

    set_presence(agent, "online")

    first.refresh_from_db()
    second.refresh_from_db()
    # Oldest first, and only up to the maximum.
    assert (first.assignee, second.assignee) == (agent, None)


def test_away_agents_get_nothing_and_presence_expires_without_heartbeat(teams, settings):
    presales, _ = teams
    settings.INBOX_PRESENCE_TTL = 60
    agent = make_staff("x", "agent")
    TeamMembership.objects.create(team=presales, user=agent)
    set_presence(agent, "away")
    assert incoming("一").assignee is None

    start = timezone.now() - timedelta(seconds=120)
    heartbeat(agent, now=start)  # keeps the chosen presence
    presence = AgentPresence.objects.get(user=agent)
    assert presence.status == "away"
    set_presence(agent, "online", now=start)  # the waiting conversation is handed out
    assert Conversation.objects.get(account=ACCOUNT).assignee == agent
    # No heartbeat for 120 s: offline to everyone, then marked so by the expiry task.
    presence.refresh_from_db()
    assert presence.effective_status() == "offline"
    assert incoming("二").assignee is None
    assert expire_presence()["expired"] == 1
    presence.refresh_from_db()
    assert (presence.status, presence.offline_since) == ("offline", start + timedelta(seconds=60))


def test_unknown_presence_is_refused_and_changes_nothing(teams):
    agent = make_staff("x", "agent")
    set_presence(agent, "online")
    with pytest.raises(InboxError) as error:
        set_presence(agent, "busy")
    assert error.value.message_dict == {"status": ["未知的在线状态：busy。"]}
    assert AgentPresence.objects.get(user=agent).status == "online"


def test_an_agent_who_goes_offline_keeps_conversations_unless_the_team_returns_them(teams):
    presales, _ = teams
    gone, stays = make_staff("gone", "agent"), make_staff("stays", "agent")
    TeamMembership.objects.create(team=presales, user=gone)
    TeamMembership.objects.create(team=presales, user=stays)
    set_presence(gone, "online")
    conversation = incoming("一")
    assert conversation.assignee == gone
    now = timezone.now()
    set_presence(gone, "offline", now=now)
    set_presence(stays, "online", now=now)

    expire_presence(now=now + timedelta(minutes=30))
    conversation.refresh_from_db()
    assert conversation.assignee == gone  # kept: the team does not return conversations

    Team.objects.filter(pk=presales.pk).update(return_after_minutes=10)
    set_presence(stays, "online", now=now + timedelta(minutes=9))
    expire_presence(now=now + timedelta(minutes=9))
    conversation.refresh_from_db()
    assert conversation.assignee == gone  # 9 minutes: not yet
    set_presence(stays, "online", now=now + timedelta(minutes=11))
    counts = expire_presence(now=now + timedelta(minutes=11))
    conversation.refresh_from_db()
    assert (conversation.assignee, counts["returned"], counts["assigned"]) == (stays, 1, 1)


def test_transfer_to_an_agent_with_a_note(teams):
    presales, aftersales = teams
    seller, fixer = make_staff("seller", "agent"), make_staff("fixer", "agent")
    TeamMembership.objects.create(team=presales, user=seller)
    TeamMembership.objects.create(team=aftersales, user=fixer)
    set_presence(seller, "online")
    conversation = incoming("我买的面霜过敏了")
    assert conversation.assignee == seller

    done = transfer_conversation(
        conversation, by=seller, note="客户已下单，过敏问题请售后跟进", agent=fixer
    )

    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (fixer, aftersales)
    row = ConversationTransfer.objects.get()
    assert (row.pk, row.from_agent, row.from_team, row.to_agent, row.to_team, row.note) == (
        done.pk,
        seller,
        presales,
        fixer,
        aftersales,
        "客户已下单，过敏问题请售后跟进",
    )


def test_transfer_to_a_team_goes_to_its_online_agent_or_its_queue(teams):
    presales, aftersales = teams
    seller, fixer = make_staff("seller", "agent"), make_staff("fixer", "agent")
    TeamMembership.objects.create(team=presales, user=seller)
    TeamMembership.objects.create(team=aftersales, user=fixer)
    set_presence(seller, "online")
    conversation = incoming("咨询")
    transfer_conversation(conversation, by=seller, note="退货问题", team=aftersales)
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (None, aftersales)  # fixer offline
    set_presence(fixer, "online")
    conversation.refresh_from_db()
    assert conversation.assignee == fixer


def test_transfer_refusals_change_nothing(teams):
    presales, aftersales = teams
    seller = make_staff("seller", "agent")
    conversation = incoming("咨询")
    with pytest.raises(InboxError) as error:
        transfer_conversation(conversation, by=seller, note="  ", team=aftersales)
    assert error.value.message_dict == {"note": ["请给接手的人写一条备注。"]}
    with pytest.raises(InboxError) as error:
        transfer_conversation(conversation, by=seller, note="x", team=aftersales, agent=seller)
    assert error.value.message_dict == {"to": ["请转给一位客服或一个团队。"]}
    aftersales.active = False
    aftersales.save()
    with pytest.raises(InboxError) as error:
        transfer_conversation(conversation, by=seller, note="x", team=aftersales)
    assert error.value.message_dict == {"team": ["团队 售后 未启用。"]}
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (presales, None)
    assert ConversationTransfer.objects.count() == 0


def test_a_rule_changed_after_routing_applies_to_the_next_conversation(teams):
    presales, aftersales = teams
    assert incoming("发票怎么开").team == presales  # the configuration is now cached
    RoutingRule.objects.create(kind="keyword", value="发票", team=aftersales, position=0)
    assert incoming("发票怎么开").team == aftersales
    aftersales.delete()  # the rules' team goes with it
    assert incoming("发票怎么开").team == presales


def received_together(*contents):
    """Customer messages received in one batch (receive_messages, as a WeChat push of several
    users' messages is); returns their conversations, in order."""
    with transaction.atomic():
        results = inbox.receive_messages(batch_of(*contents))
    return [Conversation.objects.get(pk=m.conversation_id) for m, _created, _opened in results]


def batch_of(*contents):
    items = []
    for content in contents:
        n = next(_ids)
        items.append(
            {
                "channel": "wechat",
                "account": ACCOUNT,
                "external_user": f"o-{n}",
                "customer_id": CustomerFactory().pk,
                "msg_type": "text",
                "content": content,
                "sent_at": timezone.now(),
                "platform_msg_id": f"m-{n}",
            }
        )
    return items


def test_a_batch_fills_the_agents_room_in_order_and_queues_the_rest(three_agents):
    a, b, c = three_agents
    TeamMembership.objects.filter(user__in=[b, c]).update(max_open=2)
    give_open(a, 2)  # at the maximum
    give_open(c, 1)

    batch = received_together("一", "二", "三", "我要退货", "四")

    # b has none; then b and c tie at 1 and c was served longest ago (never); then c is at the
    # maximum and b has room; 售后 has nobody; then everyone in 售前 is at the maximum.
    assert [(x.assignee and x.assignee.username, x.team.name) for x in batch] == [
        ("b", "售前"),
        ("c", "售前"),
        ("b", "售前"),
        (None, "售后"),
        (None, "售前"),
    ]
    assert TeamMembership.objects.get(user=a).last_assigned_at is None


def test_routing_a_conversation_costs_a_fixed_number_of_queries(three_agents):
    """The clock; then the team lock and one statement that picks and marks the agent, gives
    them the conversation with its team and writes the live event, in one round trip (prepared
    on the connection by the first routing)."""
    from crm.inbox import routing

    a, b, c = three_agents
    SlaPolicy.objects.create(
        name="标准", first_response_minutes=30, next_response_minutes=10, resolution_hours=24
    )
    conversation = Conversation.objects.create(
        channel="wechat", account=ACCOUNT, external_user="o-fixed", customer=CustomerFactory()
    )
    # The first loads the rules, the policy and the hours (crm.inbox.config) and goes to a.
    inbox.route_new_conversation(conversation, content="你好")
    conversation = Conversation.objects.create(
        channel="wechat", account=ACCOUNT, external_user="o-fixed-2", customer=CustomerFactory()
    )

    with CaptureQueriesContext(connection) as queries:
        team = inbox.route_new_conversation(conversation, content="在吗")

    assert [q["sql"].split()[:3] for q in queries] == [
        ["INSERT", "INTO", '"crm_slaclock"'],  # the SLA clock
        # the team lock; the pick marking the agent, its team and agent, the live event
        ["SELECT", "1", "FROM"],
    ]
    assert f"EXECUTE {routing.PREPARED_NAME} (" in queries[1]["sql"]
    for write in (
        "UPDATE crm_teammembership SET last_assigned_at",
        "UPDATE crm_conversation SET team_id",
        "INSERT INTO crm_inboxevent",
    ):
        assert write in routing.PICK_AND_ASSIGN_SQL
    conversation.refresh_from_db()
    assert (team.name, conversation.team.name, conversation.assignee) == ("售前", "售前", b)
    assert conversation.sla.first_response_due is not None


def test_routing_on_a_connection_that_lost_its_prepared_statement(three_agents):
    """A session reset (a pooler's DISCARD ALL) drops the prepared statement: the routing that
    finds it gone fails (its transaction rolls back, the message is not stored) and the next one
    prepares it again."""
    from django.db import DatabaseError

    from crm.inbox import routing

    a, b, c = three_agents
    assert incoming("一").assignee == a
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {routing.PREPARED_NAME}")
    with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
        incoming("二", openid="o-lost")
    assert not Conversation.objects.filter(external_user="o-lost").exists()
    assert incoming("三").assignee == b


def test_nobody_online_costs_the_same_queries_for_two_and_for_five(teams):
    """The first conversation finds nobody and joins the queue in the pick's statement; the
    others of the batch join it in one update."""
    presales, _ = teams
    TeamMembership.objects.create(team=presales, user=make_staff("away", "agent"))

    def cost(n):
        items = batch_of(*["在吗"] * n)
        with CaptureQueriesContext(connection) as queries:
            inbox.receive_messages(items)
        opened = Conversation.objects.filter(external_user__in=[i["external_user"] for i in items])
        assert [(x.assignee, x.team) for x in opened] == [(None, presales)] * n
        return len(queries)

    cost(1)  # loads the routing configuration (crm.inbox.config)
    assert cost(1) + 1 == cost(2) == cost(5)
