"""The live inbox's record and HTTP side (crm.live, crm.inbox.live): every inbox change is an
ordered event written with the change, a page catches up by last id, unread counts per tab."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import inbox, live
from crm.inbox import assign_conversation, receive_message, reply, resolve_conversation
from crm.models import Conversation, ConversationRead, InboxEvent, Team, TeamMembership
from tests.conftest import make_staff

from . import senders
from .factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture(autouse=True)
def test_sender(monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    senders.FAIL_WITH.clear()
    yield
    senders.FAIL_WITH.clear()


def incoming(customer, content, at, msg_id, user="o-1"):
    message, _created = receive_message(
        channel="wechat",
        account="wx1",
        external_user=user,
        customer=customer,
        msg_type="text",
        content=content,
        sent_at=at,
        platform_msg_id=msg_id,
    )
    return message


def events():
    return list(
        InboxEvent.objects.order_by("pk").values_list(
            "kind", "conversation_id", "message_id", "direction", "status", "assignee_id", "by_id"
        )
    )


def test_each_inbox_change_is_one_event_in_order():
    agent = make_staff("xiaowang", "agent")
    customer = CustomerFactory(name="孙丽")
    first = incoming(customer, "在吗", T0, "1")
    conversation = first.conversation
    assign_conversation(conversation, agent, by=agent)
    answer = reply(conversation, "您好", agent=agent)
    resolve_conversation(conversation, by=agent, send_survey=False)
    cid = conversation.pk
    assert events() == [
        ("message", cid, first.pk, "in", "", None, None),
        ("assigned", cid, None, "", "open", agent.pk, agent.pk),
        ("message", cid, answer.pk, "out", "", None, agent.pk),
        ("status", cid, None, "", "resolved", agent.pk, agent.pk),
    ]


def test_batch_receive_writes_one_event_per_new_message():
    customer = CustomerFactory()
    items = [
        {
            "channel": "wechat",
            "account": "wx1",
            "external_user": f"o-{n}",
            "customer_id": customer.pk,
            "msg_type": "text",
            "content": "你好",
            "sent_at": T0,
            "platform_msg_id": f"b{n}",
        }
        for n in range(3)
    ]
    stored = inbox.receive_messages(items)
    again = inbox.receive_messages(items)  # already stored: no new events
    assert [created for _m, created, _o in again] == [False, False, False]
    assert [(e[0], e[2]) for e in events()] == [("message", m.pk) for m, _c, _o in stored]


def test_a_rolled_back_change_leaves_no_event_and_publishes_nothing(monkeypatch):
    from django.db import transaction

    published = []
    monkeypatch.setattr(live, "publish", published.append)
    conversation = ConversationFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        live.emit("status", conversation)
        raise RuntimeError("rolled back")
    assert (InboxEvent.objects.count(), published) == (0, [])


def test_catch_up_returns_the_events_after_the_last_id(client):
    agent = make_staff("xiaowang", "agent")
    customer = CustomerFactory()
    incoming(customer, "一", T0, "1")
    client.force_login(agent)
    start = client.get("/inbox/live/events/").json()
    first_id = InboxEvent.objects.get().pk
    assert (start["events"], start["last"]) == ([], first_id)
    second = incoming(customer, "二", T0 + timedelta(seconds=1), "2")
    third = incoming(customer, "三", T0 + timedelta(seconds=2), "3")
    body = client.get(f"/inbox/live/events/?after={first_id}").json()
    assert [(e["kind"], e["message"]) for e in body["events"]] == [
        ("message", second.pk),
        ("message", third.pk),
    ]
    assert body["last"] == body["events"][-1]["id"]
    assert client.get(f"/inbox/live/events/?after={body['last']}").json()["events"] == []
    bad = client.get("/inbox/live/events/?after=abc")
    assert (bad.status_code, bad.content) == (400, b"after: an event id (a whole number)")


def test_catch_up_pages_at_the_limit(client, monkeypatch):
    monkeypatch.setattr(live, "CATCH_UP_LIMIT", 2)
    agent = make_staff("xiaowang", "agent")
    customer = CustomerFactory()
    ids = [incoming(customer, str(n), T0 + timedelta(seconds=n), f"m{n}").pk for n in range(3)]
    client.force_login(agent)
    first = client.get("/inbox/live/events/?after=0").json()
    rest = client.get(f"/inbox/live/events/?after={first['last']}").json()
    assert [e["message"] for e in first["events"]] == ids[:2]
    assert [e["message"] for e in rest["events"]] == ids[2:]


def test_catch_up_and_socket_follow_the_inbox_visibility_rule(client, monkeypatch):
    """The one check (crm.live.visible_ids) and the catch-up use the inbox list's queryset: a
    rule that hides a conversation there (teams, say) hides its events too."""
    from crm import filtersets

    agent = make_staff("xiaowang", "agent")
    shown = ConversationFactory(account="wx-team-a")
    hidden = ConversationFactory(account="wx-team-b")
    not_inbox = ConversationFactory(channel="pos")  # no private channel: never in the inbox
    for conversation in (shown, hidden, not_inbox):
        live.emit("status", conversation)
    rule = filtersets.visible_conversations
    monkeypatch.setattr(
        filtersets, "visible_conversations", lambda user: rule(user).exclude(account="wx-team-b")
    )
    client.force_login(agent)
    body = client.get("/inbox/live/events/?after=0").json()
    assert [e["conversation"] for e in body["events"]] == [shown.pk]
    ids = [shown.pk, hidden.pk, not_inbox.pk]
    assert live.visible_ids(agent, ids) == {shown.pk}
    assert live.visible_ids(make_staff("mkt", "marketing"), ids) == set()


def test_visibility_for_several_users_is_each_ones_own_in_one_query():
    """What the socket hub asks for all its signed-in users with each batch of events: compiled
    once, then one query a batch."""
    presales, aftersales = Team.objects.create(name="售前"), Team.objects.create(name="售后")
    presales_agent, aftersales_agent = make_staff("a", "agent"), make_staff("b", "agent")
    TeamMembership.objects.create(team=presales, user=presales_agent)
    TeamMembership.objects.create(team=aftersales, user=aftersales_agent)
    manager = make_staff("manager", "manager")
    mine = ConversationFactory(team=presales)
    theirs = ConversationFactory(team=aftersales)
    nobodys = ConversationFactory()
    assigned = ConversationFactory(team=aftersales, assignee=presales_agent)
    marketing = make_staff("mkt", "marketing")
    ids = [mine.pk, theirs.pk, nobodys.pk, assigned.pk]
    users = [presales_agent, aftersales_agent, manager, marketing]
    check = live.VisibilityCheck(users)

    with CaptureQueriesContext(connection) as queries:
        answers = check(ids)
        assert check(ids[:2]) == {
            presales_agent.pk: {mine.pk},
            aftersales_agent.pk: {theirs.pk},
            manager.pk: {mine.pk, theirs.pk},
            marketing.pk: set(),
        }

    assert len(queries) == 2
    assert answers == {user.pk: live.visible_ids(user, ids) for user in users}
    assert answers == {
        presales_agent.pk: {mine.pk, nobodys.pk, assigned.pk},
        aftersales_agent.pk: {theirs.pk, nobodys.pk, assigned.pk},
        manager.pk: set(ids),
        marketing.pk: set(),
    }


def test_unread_counts_per_tab(client):
    agent = make_staff("xiaowang", "agent")
    other = make_staff("laoli", "agent")
    customer = CustomerFactory()
    a = incoming(customer, "一", T0, "1", user="o-a").conversation
    b = incoming(customer, "二", T0, "2", user="o-b").conversation
    incoming(customer, "三", T0, "3", user="o-c")
    assign_conversation(a, agent, by=other)
    assign_conversation(b, other, by=other)
    client.force_login(agent)
    assert client.get("/inbox/live/events/").json()["unread"] == {
        "mine": 1,
        "unassigned": 1,
        "all": 3,
    }
    read = client.post(f"/inbox/{a.pk}/read/")
    assert read.json()["unread"] == {"mine": 0, "unassigned": 1, "all": 2}
    assert ConversationRead.objects.get(user=agent).conversation_id == a.pk
    # A new message after the read makes it unread again; the other agent's counts are theirs.
    incoming(customer, "还在吗", timezone.now() + timedelta(seconds=1), "4", user="o-a")
    assert client.get("/inbox/live/events/").json()["unread"] == {
        "mine": 1,
        "unassigned": 1,
        "all": 3,
    }
    client.force_login(other)
    assert client.get("/inbox/live/events/").json()["unread"] == {
        "mine": 1,
        "unassigned": 1,
        "all": 3,
    }
    # Resolved conversations are not counted.
    resolve_conversation(Conversation.objects.get(pk=b.pk), by=other, send_survey=False)
    assert client.get("/inbox/live/events/").json()["unread"]["all"] == 2


def test_mark_read_never_moves_back():
    agent = make_staff("xiaowang", "agent")
    conversation = ConversationFactory()
    live.mark_conversation_read(conversation, agent, at=T0 + timedelta(minutes=5))
    live.mark_conversation_read(conversation, agent, at=T0)
    assert ConversationRead.objects.get().read_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    "role,events_status,read_status",
    [
        ("anonymous", 302, 302),
        ("marketing", 403, 403),
        ("agent", 200, 200),
        ("manager", 200, 200),
        ("superuser", 200, 200),
    ],
)
def test_live_endpoints_for_every_role(client, role, events_status, read_status):
    conversation = ConversationFactory()
    if role == "superuser":
        client.force_login(make_staff("root", superuser=True))
    elif role != "anonymous":
        client.force_login(make_staff(role, role))
    got = client.get("/inbox/live/events/?after=0")
    read = client.post(f"/inbox/{conversation.pk}/read/")
    assert (got.status_code, read.status_code) == (events_status, read_status)
    if role == "anonymous":
        assert got["Location"].startswith("/admin/login/")
    assert ConversationRead.objects.count() == (1 if read_status == 200 else 0)
    assert client.get(f"/inbox/{conversation.pk}/read/").status_code == (
        405 if read_status == 200 else read_status
    )


def test_opening_a_complaint_case_is_a_live_event():
    customer = CustomerFactory()
    case, created = inbox.open_case(
        channel="wechat", account="wx1", external_user="o-9", customer=customer, content="投诉"
    )
    mention = case.messages.get()
    silent, _created = inbox.open_case(
        channel="wechat", account="wx1", external_user="o-10", customer=customer
    )
    assert created
    assert events() == [
        ("message", case.pk, mention.pk, "in", "", None, None),
        ("status", silent.pk, None, "", "open", None, None),
    ]


def test_the_first_reply_taking_an_unassigned_conversation_is_a_live_assignment():
    agent = make_staff("xiaowang", "agent")
    first = incoming(CustomerFactory(), "在吗", T0, "1")
    cid = first.conversation_id
    answer = reply(first.conversation, "您好", agent=agent)
    again = reply(first.conversation, "还在吗", agent=agent)  # already theirs: no new assignment
    assert events() == [
        ("message", cid, first.pk, "in", "", None, None),
        ("message", cid, answer.pk, "out", "", None, agent.pk),
        ("assigned", cid, None, "", "pending", agent.pk, agent.pk),
        ("message", cid, again.pk, "out", "", None, agent.pk),
    ]


def test_prune_keeps_the_retention_and_the_newest_older_event_as_its_mark(settings):
    settings.INBOX_EVENT_RETENTION_HOURS = 24
    now = timezone.now()
    conversation = ConversationFactory()
    made = [
        InboxEvent.objects.create(
            kind="status", conversation=conversation, at=now - timedelta(hours=hours)
        )
        for hours in (50, 30, 25, 23, 1)
    ]
    assert live.prune_events(now=now, batch=2) == 2
    assert list(InboxEvent.objects.order_by("pk").values_list("pk", flat=True)) == [
        e.pk for e in made[2:]
    ]
    assert live.prune_events(now=now) == 0  # safe to run twice
    assert live.prune_events(now=now + timedelta(days=3)) == 2
    assert list(InboxEvent.objects.values_list("pk", flat=True)) == [made[4].pk]


def test_a_page_away_longer_than_the_retention_is_told_to_reload(client, settings):
    settings.INBOX_EVENT_RETENTION_HOURS = 24
    client.force_login(make_staff("xiaowang", "agent"))
    conversation = ConversationFactory()
    old = [
        InboxEvent.objects.create(
            kind="status", conversation=conversation, at=timezone.now() - timedelta(hours=hours)
        )
        for hours in (40, 30)
    ]
    kept = InboxEvent.objects.create(kind="status", conversation=conversation)
    before = old[0].pk - 1
    assert len(client.get(f"/inbox/live/events/?after={before}").json()["events"]) == 3

    assert live.prune_events() == 1

    assert client.get(f"/inbox/live/events/?after={before}").json() == {
        "events": [],
        "last": kept.pk,
        "reload": True,
    }
    # A page that had seen the pruned event missed nothing.
    body = client.get(f"/inbox/live/events/?after={old[0].pk}").json()
    assert [e["id"] for e in body["events"]] == [old[1].pk, kept.pk]
    assert "reload" not in body


def test_an_open_page_loses_see_all_within_the_refresh(monkeypatch):
    """The hub's users live as long as their sockets; taking "see all" from an agent reaches
    their open page when the check is built again from the stored users."""
    from crm.inbox import consumers

    presales, aftersales = Team.objects.create(name="售前"), Team.objects.create(name="售后")
    agent = make_staff("a", "agent")
    membership = TeamMembership.objects.create(team=presales, user=agent, see_all=True)
    mine, theirs = ConversationFactory(team=presales), ConversationFactory(team=aftersales)
    hub = consumers.Hub()
    clock = [1000.0]
    monkeypatch.setattr(consumers.time, "monotonic", lambda: clock[0])
    ask = {agent.pk: (agent, {mine.pk, theirs.pk})}
    assert hub._visible_for([agent], ask) == {agent.pk: {mine.pk, theirs.pk}}
    TeamMembership.objects.filter(pk=membership.pk).update(see_all=False)
    clock[0] += consumers.USER_REFRESH_SECONDS - 1
    assert hub._visible_for([agent], ask) == {agent.pk: {mine.pk, theirs.pk}}  # the same check
    clock[0] += 1
    assert hub._visible_for([agent], ask) == {agent.pk: {mine.pk}}
    type(agent).objects.filter(pk=agent.pk).delete()  # the socket's object keeps its pk
    clock[0] += consumers.USER_REFRESH_SECONDS
    assert hub._visible_for([agent], ask) == {agent.pk: set()}
    assert agent.pk is not None


def test_the_hub_sends_what_arrives_within_its_interval_in_one_dispatch(monkeypatch):
    """The first batch after a quiet spell goes out at once; batches that arrive while the hub
    waits out DISPATCH_INTERVAL go out together in the next dispatch, in their order."""
    import asyncio

    from crm.inbox import consumers

    monkeypatch.setattr(consumers, "DISPATCH_INTERVAL", 0.5)
    hub = consumers.Hub()
    dispatched: list[list[int]] = []

    async def scenario() -> None:
        sent = asyncio.Event()

        async def dispatch(events):
            dispatched.append([e["id"] for e in events])
            sent.set()

        hub.dispatch = dispatch
        pending: list = []
        wake = asyncio.Event()
        task = asyncio.get_running_loop().create_task(hub._dispatcher(pending, wake))
        pending.append({"id": 1})
        wake.set()
        await sent.wait()
        sent.clear()
        pending.append({"id": 2})
        wake.set()
        await asyncio.sleep(0.05)  # the dispatcher runs meanwhile: still within the interval
        pending.append({"id": 3})
        wake.set()
        await asyncio.wait_for(sent.wait(), timeout=5)
        task.cancel()

    asyncio.run(scenario())
    assert dispatched == [[1], [2, 3]]
