"""The agents' inbox pages through HTTP: list, conversation, reply, errors, assign, resolve."""

import time

import pytest
from django.test import Client

from crm.inbox import receive_message
from crm.models import Conversation, Message
from tests.conftest import make_staff

from .conftest import APPID
from .factories import inbound


def test_an_agent_holds_the_inbox_permissions_through_the_role_alone(agent_user):
    assert {p for p in INBOX_PERMS if agent_user.has_perm(p)} == set(INBOX_PERMS)


INBOX_PERMS = [
    "crm.view_conversation",
    "crm.change_conversation",
    "crm.view_message",
    "crm.add_message",
]


@pytest.fixture
def agent_client(agent_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(agent_user)
    return client


def test_list_shows_wechat_and_weibo_conversations_oldest_waiting_first(account, agent_client):
    from datetime import timedelta

    from django.utils import timezone

    wechat = inbound(account, content="订单没到", at=timezone.now() - timedelta(minutes=5))
    weibo_customer = wechat.customer.__class__.objects.create(name="微博用户小美")
    receive_message(
        channel="weibo",
        account="1234567890",
        external_user="555",
        customer=weibo_customer,
        msg_type="text",
        content="私信：有优惠吗",
        sent_at=timezone.now() - timedelta(minutes=30),
        platform_msg_id="w1",
    )
    page = agent_client.get("/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    weibo = Conversation.objects.get(channel="weibo")
    assert html.index(f'data-id="{weibo.pk}"') < html.index(f'data-id="{wechat.pk}"')
    # A follower without a name is shown by channel and the end of the openid.
    assert "微博用户小美" in html and ">WeChat user …ser1</a>" in html
    assert 'class="badge badge-weibo"' in html and 'class="badge badge-wechat"' in html
    assert "30 min" in html and "5 min" in html
    weibo_only = agent_client.get("/inbox/?channel=weibo").content.decode()
    assert "微博用户小美" in weibo_only and "WeChat user" not in weibo_only
    chinese = agent_client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert ">微信用户 …ser1</a>" in chinese


def test_mine_and_unassigned_tabs(account, agent_client, agent_user):
    mine = inbound(account, openid="oMine", msg_id="a1")
    other = inbound(account, openid="oOther", msg_id="a2")
    Conversation.objects.filter(pk=mine.pk).update(assignee=agent_user)
    mine_page = agent_client.get("/inbox/?assigned=mine").content.decode()
    unassigned_page = agent_client.get("/inbox/?assigned=unassigned").content.decode()
    assert f'data-id="{mine.pk}"' in mine_page and f'data-id="{other.pk}"' not in mine_page
    assert (
        f'data-id="{other.pk}"' in unassigned_page and f'data-id="{mine.pk}"' not in unassigned_page
    )


def test_agent_replies_from_the_conversation_page(wechat_sandbox, account, agent_client):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account, content="会员积分怎么兑换？")
    page = agent_client.get(f"/inbox/{conversation.pk}/").content.decode()
    assert "会员积分怎么兑换？" in page and 'id="reply-form"' in page
    response = agent_client.post(
        f"/inbox/{conversation.pk}/reply/",
        {"text": "您好，在会员中心-积分商城即可兑换。"},
        follow=True,
    )
    assert "Reply sent." in response.content.decode()
    assert wechat_sandbox.state.sent[0]["text"] == {
        "content": "您好，在会员中心-积分商城即可兑换。"
    }
    conversation.refresh_from_db()
    assert conversation.status == "pending"


def test_45015_is_shown_plainly_to_the_agent(wechat_sandbox, account, agent_client):
    conversation = inbound(account)
    wechat_sandbox.state.user(APPID, "oUser1")  # known follower, but no message in 48 hours
    response = agent_client.post(f"/inbox/{conversation.pk}/reply/", {"text": "在吗"}, follow=True)
    html = response.content.decode()
    assert "WeChat refused: the customer has not written in the last 48 hours" in html
    assert "(45015)" in html
    assert Message.objects.get(direction="out").delivery_status == "failed"
    # The failed reply keeps its explanation in the thread, after the flash message has gone.
    thread = agent_client.get(f"/inbox/{conversation.pk}/?fragment=thread").content.decode()
    assert '<span class="error-text">WeChat refused: the customer has not written' in thread
    assert "(45015)</span>" in thread


def test_assign_to_another_agent_and_resolve(wechat_sandbox, account, agent_client):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    colleague = make_staff("xiaoli", "agent")
    colleague.first_name = "李晓峰"
    colleague.save()
    agent_client.post(f"/inbox/{conversation.pk}/assign/", {"agent": colleague.pk})
    # Agents are shown by name, not login.
    detail = agent_client.get(f"/inbox/{conversation.pk}/").content.decode()
    assert '<strong id="assignee">李晓峰</strong>' in detail
    rows = agent_client.get("/inbox/?assigned=all").content.decode()
    assert "<td>李晓峰</td>" in rows
    response = agent_client.post(f"/inbox/{conversation.pk}/resolve/", follow=True)
    assert "Resolved; the satisfaction survey was sent." in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.status) == (colleague, "resolved")
    assert conversation.survey_sent_at is not None


def test_thread_fragment_for_polling(account, agent_client):
    conversation = inbound(account, content="第一条")
    inbound(account, content="第二条", msg_id="m2")
    fragment = agent_client.get(f"/inbox/{conversation.pk}/?fragment=thread").content.decode()
    assert fragment.index("第一条") < fragment.index("第二条")
    assert "<html" not in fragment


def test_marketing_staff_cannot_open_the_inbox(account):
    client = Client()
    client.force_login(make_staff("mkt", "marketing"))
    conversation = inbound(account)
    assert client.get("/inbox/").status_code == 403
    assert client.get(f"/inbox/{conversation.pk}/").status_code == 403
    assert client.post(f"/inbox/{conversation.pk}/reply/", {"text": "x"}).status_code == 403
    assert Message.objects.filter(direction="out").count() == 0


def test_anonymous_is_sent_to_login(account):
    response = Client().get("/inbox/")
    assert (response.status_code, response.url.split("?")[0]) == (302, "/admin/login/")
