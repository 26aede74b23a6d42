"""Conversation rules of DESIGN.md section 5, through crm.inbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm import inbox
from crm.inbox import InboxError, SendError, receive_message, reply, resolve_conversation
from crm.models import Conversation, Interaction, Message

from . import senders
from .factories import CustomerFactory

T0 = timezone.now().replace(microsecond=0) - timedelta(days=2)


@pytest.fixture(autouse=True)
def test_sender(monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    senders.FAIL_WITH.clear()
    yield
    senders.FAIL_WITH.clear()


@pytest.fixture
def customer(db):
    return CustomerFactory(name="孙丽")


def incoming(customer, content, at, msg_id, msg_type="text"):
    return receive_message(
        channel="wechat",
        account="wx1",
        external_user="o-1",
        customer=customer,
        msg_type=msg_type,
        content=content,
        sent_at=at,
        platform_msg_id=msg_id,
    )


def test_first_message_opens_conversation_and_next_joins_it(customer):
    first, created = incoming(customer, "在吗", T0, "1")
    second, _ = incoming(customer, "订单没到", T0 + timedelta(minutes=1), "2")
    conversation = Conversation.objects.get()
    assert created is True
    assert (first.conversation_id, second.conversation_id) == (conversation.pk, conversation.pk)
    assert (conversation.opened_at, conversation.status, conversation.last_inbound_at) == (
        T0,
        "open",
        T0 + timedelta(minutes=1),
    )
    assert Interaction.objects.filter(kind="message_in", customer=customer).count() == 2


def test_redelivered_message_is_stored_once(customer):
    incoming(customer, "在吗", T0, "42")
    again, created = incoming(customer, "在吗", T0, "42")
    assert created is False
    assert Message.objects.count() == 1
    assert Interaction.objects.count() == 1


def test_event_does_not_open_conversation(customer):
    incoming(customer, "", T0, "", msg_type="event")
    assert Conversation.objects.count() == 0
    assert Message.objects.get().conversation_id is None


def test_agent_reply_is_first_response_and_auto_reply_is_not(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = Conversation.objects.get()
    inbox.record_outbound(conversation, content="自动回复：稍等", sender_kind="auto_reply")
    conversation.refresh_from_db()
    assert (conversation.first_response_at, conversation.status) == (None, "open")
    sent = reply(conversation, "您好，请问订单号？", agent=agent_user)
    conversation.refresh_from_db()
    assert sent.delivery_status == "sent" and sent.platform_msg_id == "out-1"
    assert conversation.first_response_at == sent.sent_at
    assert conversation.status == "pending"
    assert senders.SENT == [("o-1", "您好，请问订单号？", "agent")]
    incoming(customer, "123456", timezone.now(), "2")
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_failed_send_is_kept_with_platform_error_and_is_not_a_response(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = Conversation.objects.get()
    senders.FAIL_WITH.update(code="45015", message="response out of time limit")
    with pytest.raises(SendError) as exc:
        reply(conversation, "抱歉久等", agent=agent_user)
    assert exc.value.code == "45015"
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code, failed.error_message) == (
        "failed",
        "45015",
        "response out of time limit",
    )
    conversation.refresh_from_db()
    assert conversation.first_response_at is None


def test_rejects_empty_reply_and_reply_to_resolved(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = Conversation.objects.get()
    with pytest.raises(InboxError):
        reply(conversation, "   ", agent=agent_user)
    resolve_conversation(conversation, by=agent_user)
    with pytest.raises(InboxError):
        reply(conversation, "还在吗", agent=agent_user)
    assert Message.objects.filter(sender_kind="agent").count() == 0


def test_resolve_sends_survey_and_lone_digit_records_rating(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = resolve_conversation(Conversation.objects.get(), by=agent_user)
    assert conversation.status == "resolved" and conversation.survey_sent_at is not None
    assert senders.SENT[-1][2] == "survey"
    incoming(customer, " 5 ", conversation.survey_sent_at + timedelta(hours=23), "2")
    conversation.refresh_from_db()
    assert conversation.rating == 5
    assert Conversation.objects.count() == 1


def test_digit_after_24_hours_opens_new_conversation(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = resolve_conversation(Conversation.objects.get(), by=agent_user)
    incoming(customer, "4", conversation.survey_sent_at + timedelta(hours=24, seconds=1), "2")
    conversation.refresh_from_db()
    assert conversation.rating is None
    assert Conversation.objects.count() == 2


def test_text_after_resolution_opens_new_conversation(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = resolve_conversation(Conversation.objects.get(), by=agent_user)
    incoming(customer, "还有个问题", conversation.survey_sent_at + timedelta(minutes=5), "2")
    assert list(Conversation.objects.order_by("pk").values_list("status", flat=True)) == [
        "resolved",
        "open",
    ]


def test_resolving_twice_is_refused(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = resolve_conversation(Conversation.objects.get(), by=agent_user)
    with pytest.raises(InboxError) as exc:
        resolve_conversation(conversation, by=agent_user)
    assert exc.value.message_dict == {"conversation": ["该会话已经解决。"]}
    assert Message.objects.filter(sender_kind="survey").count() == 1


def test_send_to_customer_uses_last_channel(customer):
    incoming(customer, "你好", T0, "1")
    notice = inbox.send_to_customer(customer, "您的订单已支付")
    assert (notice.delivery_status, notice.conversation_id) == ("sent", None)
    assert senders.SENT == [("o-1", "您的订单已支付", "system")]
    assert inbox.send_to_customer(CustomerFactory(), "x") is None


def test_first_agent_to_answer_takes_an_unassigned_conversation(customer, agent_user):
    from django.contrib.auth.models import User

    colleague = User.objects.create_user("colleague", is_staff=True)
    incoming(customer, "你好", T0, "1")
    conversation = Conversation.objects.get()
    inbox.record_outbound(conversation, content="自动回复：稍等", sender_kind="auto_reply")
    conversation.refresh_from_db()
    assert conversation.assignee is None  # an automatic reply takes nobody's queue
    reply(conversation, "您好", agent=agent_user)
    reply(conversation, "我来补充一下", agent=colleague)
    conversation.refresh_from_db()
    assert conversation.assignee == agent_user  # the second answer does not take it over


def test_failed_send_assigns_nobody(customer, agent_user):
    incoming(customer, "你好", T0, "1")
    conversation = Conversation.objects.get()
    senders.FAIL_WITH.update(code="45015", message="response out of time limit")
    with pytest.raises(SendError):
        reply(conversation, "抱歉久等", agent=agent_user)
    conversation.refresh_from_db()
    assert conversation.assignee is None
