"""The dashboards' demo journey (Weibo lead -> WeChat follower -> question -> order) leaves no
question unanswered for weeks, as a working team would not."""

import json
from datetime import timedelta

from django.utils import timezone

from channels_wechat.models import OfficialAccount
from crm.history import import_events
from crm.models import Conversation, Customer, Lead
from devtools.demo import dashboards as demo
from tests.conftest import make_staff


def test_journey_questions_older_than_two_days_are_answered_and_resolved(db):
    OfficialAccount.objects.create(
        appid="wx5d2a3f6c8b9e0a17",
        name="花漾美妆服务号",
        app_secret="s",
        token="t",
        mode="plaintext",
    )
    for username in demo.AGENTS:
        make_staff(username)
    now = timezone.now()
    customers = [
        Customer.objects.create(name=f"微博用户{i}", first_channel="weibo") for i in range(9)
    ]
    # Every third lead takes the journey; a person with two leads takes it once.
    for i, customer in enumerate(customers + customers[:3] + customers[:3]):
        lead = Lead.objects.create(customer=customer, title="求链接", source_channel="weibo")
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(days=2 * i + 1))

    events = demo.journey_events()
    result = import_events(json.dumps(e, ensure_ascii=False) for e in events)

    assert result.errors == []
    asked = [e for e in events if e["type"] == "message_in"]
    assert len(asked) >= 3
    assert len([e for e in events if e["type"] == "agent_reply"]) == len(
        [e for e in asked if e["ts"] < (now - timedelta(days=2)).isoformat()]
    )
    waiting = Conversation.objects.filter(status__in=["open", "pending"])
    assert not waiting.filter(opened_at__lt=now - timedelta(days=2)).exists()
    answered = Conversation.objects.filter(status="resolved")
    assert answered.count() >= 2
    assert all(c.first_response_at is not None for c in answered)
