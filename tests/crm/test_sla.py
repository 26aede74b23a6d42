"""SLA clocks (crm.inbox.sla) in business time, with frozen time: due times across a holiday,
breaches recorded at the right minute by the beat task or by the late event, badges."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from crm import inbox
from crm.inbox import receive_message, reply, resolve_conversation
from crm.inbox.sla import check_breaches
from crm.models import BusinessHours, Conversation, SlaBreach, SlaClock, SlaPolicy, Team

from . import senders
from .factories import CustomerFactory

SH = ZoneInfo("Asia/Shanghai")
ACCOUNT = "wx-sla"


def at(m, d, hh, mm=0, ss=0):
    return datetime(2026, m, d, hh, mm, ss, tzinfo=SH)


@pytest.fixture(autouse=True)
def test_sender(monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    senders.FAIL_WITH.clear()


@pytest.fixture
def policy(db):
    team = Team.objects.create(name="售后", default=True)
    for weekday in range(5):
        BusinessHours.objects.create(account=ACCOUNT, weekday=weekday, start=time(9), end=time(18))
    return SlaPolicy.objects.create(
        name="标准",
        account=ACCOUNT,
        first_response_minutes=30,
        next_response_minutes=10,
        resolution_hours=8,
        team=team,
    )


def incoming(content, when, openid="o-1", msg_id="m1"):
    with time_machine.travel(when, tick=False):
        message, _ = receive_message(
            channel="wechat",
            account=ACCOUNT,
            external_user=openid,
            customer=CustomerFactory(),
            msg_type="text",
            content=content,
            sent_at=when,
            platform_msg_id=msg_id,
        )
    return Conversation.objects.get(pk=message.conversation_id)


def test_due_times_are_business_time_across_national_day(policy):
    conversation = incoming("面霜过敏了", at(9, 30, 17, 50))  # Wednesday, 10 minutes left
    clock = SlaClock.objects.get(conversation=conversation)
    assert clock.policy == policy
    assert clock.first_response_due == at(10, 8, 9, 20)  # after the 7 days of holiday
    assert clock.first_response_warn == at(10, 8, 9, 14)  # 80% of 30 minutes
    # 8 business hours: 10 minutes on 09-30, then 7 h 50 on 10-08.
    assert clock.resolution_due == at(10, 8, 16, 50)


def test_a_breach_is_recorded_at_the_right_minute_by_the_beat_task(policy):
    conversation = incoming("在吗", at(9, 30, 17, 50))
    with time_machine.travel(at(10, 8, 9, 19, 59), tick=False):
        assert check_breaches() == 0
        clock = SlaClock.objects.get(conversation=conversation)
        assert clock.badge() == "warning"
    with time_machine.travel(at(10, 8, 9, 20, 30), tick=False):
        assert check_breaches() == 1
        assert check_breaches() == 0  # once
        assert clock.__class__.objects.get(pk=clock.pk).badge() == "breached"
    breach = SlaBreach.objects.get()
    assert (breach.conversation, breach.target, breach.due_at, breach.recorded_at) == (
        conversation,
        "first_response",
        at(10, 8, 9, 20),
        at(10, 8, 9, 20, 30),
    )
    assert (breach.team.name, breach.agent) == ("售后", None)
    clock.refresh_from_db()
    assert clock.first_response_met is False
    # The late answer records nothing more.
    with time_machine.travel(at(10, 8, 9, 40), tick=False):
        reply(conversation, "您好，抱歉久等", agent=None)
    assert SlaBreach.objects.count() == 1


def test_first_answer_in_time_then_a_late_next_response(policy):
    conversation = incoming("在吗", at(10, 12, 10, 0))  # Monday
    with time_machine.travel(at(10, 12, 10, 29), tick=False):
        reply(conversation, "您好", agent=None)
    clock = SlaClock.objects.get(conversation=conversation)
    assert (clock.first_response_met, clock.next_response_due) == (True, None)

    incoming("我的订单呢", at(10, 12, 10, 40), msg_id="m2")
    clock.refresh_from_db()
    assert clock.next_response_due == at(10, 12, 10, 50)
    with time_machine.travel(at(10, 12, 10, 55), tick=False):
        reply(conversation, "在查", agent=None)  # 5 minutes late, before the beat task ran
    clock.refresh_from_db()
    assert (clock.next_met, clock.next_breached, clock.next_response_due) == (0, 1, None)
    breach = SlaBreach.objects.get()
    assert (breach.target, breach.due_at, breach.recorded_at) == (
        "next_response",
        at(10, 12, 10, 50),
        at(10, 12, 10, 55),
    )

    with time_machine.travel(at(10, 12, 11, 0), tick=False):
        resolve_conversation(conversation, send_survey=False)
    clock.refresh_from_db()
    assert clock.resolution_met is True
    assert clock.timers() == []  # nothing runs on a resolved conversation


def test_resolution_late_is_a_breach_and_no_policy_means_no_clock(policy):
    conversation = incoming("在吗", at(10, 12, 10, 0))
    with time_machine.travel(at(10, 13, 10, 1), tick=False):  # 9 h 1 min of business later
        reply(conversation, "好的", agent=None)
        resolve_conversation(conversation, send_survey=False)
    assert list(SlaBreach.objects.values_list("target", "due_at").order_by("target")) == [
        ("first_response", at(10, 12, 10, 30)),
        ("resolution", at(10, 12, 18, 0)),  # 8 business hours after 10:00
    ]
    SlaPolicy.objects.all().delete()
    other = incoming("你好", at(10, 14, 10, 0), openid="o-2", msg_id="m9")
    assert not SlaClock.objects.filter(conversation=other).exists()


def test_the_most_specific_policy_applies(policy):
    from crm.inbox.sla import policy_for

    everyone = SlaPolicy.objects.create(
        name="全部", first_response_minutes=60, next_response_minutes=60, resolution_hours=24
    )
    account_only = SlaPolicy.objects.create(
        name="账号",
        account=ACCOUNT,
        first_response_minutes=45,
        next_response_minutes=60,
        resolution_hours=24,
    )
    assert policy_for(ACCOUNT, policy.team_id) == policy
    assert policy_for(ACCOUNT, None) == account_only
    assert policy_for("wx-else", policy.team_id) == everyone  # `policy` is for ACCOUNT only
    assert policy_for("wx-else", None) == everyone
