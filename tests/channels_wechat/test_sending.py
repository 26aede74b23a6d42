"""Sending through the real client to the sandbox over loopback: token, window, quota, errors."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_wechat.client import WeChatClient
from channels_wechat.ingest import ingest_event, ingest_message
from channels_wechat.models import AutoReplyRule, WeChatUser
from crm.inbox import SendError, reply
from crm.models import Conversation, Customer, Message
from tests.conftest import clear_own_cache

from .conftest import APPID
from .factories import inbound


def test_agent_reply_reaches_wechat_with_chinese_unescaped(wechat_sandbox, account, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    message = reply(conversation, "您好，订单今天发货。", agent=agent_user)
    sent = wechat_sandbox.state.sent
    assert [(s["touser"], s["msgtype"], s["text"]) for s in sent] == [
        ("oUser1", "text", {"content": "您好，订单今天发货。"})
    ]
    assert "您好，订单今天发货。" in sent[0]["raw"]
    assert (message.delivery_status, message.platform_msg_id) == ("sent", str(sent[0]["msgid"]))
    conversation.refresh_from_db()
    assert (conversation.status, conversation.first_response_at) == ("pending", message.sent_at)
    assert WeChatUser.objects.get().window_used == 1


def test_reply_outside_the_48_hour_window_fails_with_45015(wechat_sandbox, account, agent_user):
    old = time.time() - 49 * 3600
    wechat_sandbox.state.interact(APPID, "oUser1", old, True)
    conversation = inbound(account, at=timezone.now() - timedelta(hours=49))
    with pytest.raises(SendError) as exc:
        reply(conversation, "抱歉回复晚了", agent=agent_user)
    assert (exc.value.code, exc.value.message) == (
        "45015",
        "response out of time limit or subscription is canceled",
    )
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code) == ("failed", "45015")
    conversation.refresh_from_db()
    assert (conversation.first_response_at, conversation.status) == (None, "open")
    assert wechat_sandbox.state.sent == []


def test_sixth_reply_in_a_window_fails_with_45047(wechat_sandbox, account, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    for n in range(5):
        reply(conversation, f"第{n + 1}条", agent=agent_user)
    with pytest.raises(SendError) as exc:
        reply(conversation, "第6条", agent=agent_user)
    assert exc.value.code == "45047"
    assert Message.objects.filter(direction="out", delivery_status="sent").count() == 5
    assert Message.objects.get(delivery_status="failed").error_code == "45047"


def test_two_processes_asking_for_a_token_at_once_cause_one_refresh(wechat_sandbox, account):
    tokens, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        tokens.append(WeChatClient(account).access_token())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert wechat_sandbox.state.stats == {"stable_token": 1}


def test_refused_token_is_refreshed_once_and_the_send_goes_through(wechat_sandbox, account):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    client = WeChatClient(account)
    first = client.access_token()
    wechat_sandbox.state.tokens.clear()  # WeChat no longer accepts it: 40001
    wechat_sandbox.state.stable.clear()
    client.send_text("oUser1", "你好")
    assert client.access_token() != first
    assert wechat_sandbox.state.stats == {"stable_token": 2, "custom_send": 1}


def test_transient_errors_are_retried_permanent_ones_are_not(wechat_sandbox, account):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    wechat_sandbox.state.failures["/cgi-bin/message/custom/send"] = [-1, -1]
    client = WeChatClient(account)
    assert client.send_text("oUser1", "系统繁忙后重试")
    assert wechat_sandbox.state.stats["custom_send"] == 1
    wechat_sandbox.state.failures["/cgi-bin/message/custom/send"] = [45015, -1]
    with pytest.raises(SendError) as exc:
        client.send_text("oUser1", "不重试")
    assert exc.value.code == "45015"
    assert wechat_sandbox.state.failures["/cgi-bin/message/custom/send"] == [-1]  # not retried
    assert wechat_sandbox.state.stats["custom_send"] == 1


def test_unreachable_api_is_a_transient_error(settings, account):
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"
    clear_own_cache()
    with pytest.raises(SendError) as exc:
        WeChatClient(account).access_token()
    assert (exc.value.code, exc.value.transient) == ("network", True)


def test_wrong_app_secret_is_refused_by_wechat(wechat_sandbox, account):
    account.app_secret = "wrong"
    with pytest.raises(SendError) as exc:
        WeChatClient(account).access_token()
    assert (exc.value.code, exc.value.message) == ("40125", "invalid appsecret")


def test_news_with_one_article_and_image(wechat_sandbox, account):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    client = WeChatClient(account)
    client.send_news(
        "oUser1",
        {"title": "会员日", "description": "全场8折", "url": "https://x", "picurl": "https://p"},
    )
    client.send_image("oUser1", "MEDIA_ID_1")
    assert [s["msgtype"] for s in wechat_sandbox.state.sent] == ["news", "image"]
    assert wechat_sandbox.state.sent[0]["news"]["articles"] == [
        {"title": "会员日", "description": "全场8折", "url": "https://x", "picurl": "https://p"}
    ]
    assert wechat_sandbox.state.sent[1]["image"] == {"media_id": "MEDIA_ID_1"}


def _run_on_commit(capture, fn):
    with capture(execute=True):
        fn()


def test_subscribe_sends_welcome_and_fetches_profile(
    wechat_sandbox, account, django_capture_on_commit_callbacks
):
    account.welcome_message = "欢迎关注花间集美妆！回复「会员」查看会员权益。"
    account.save()
    wechat_sandbox.state.user(APPID, "oNew")["unionid"] = "uUnion1"
    wechat_sandbox.state.user(APPID, "oNew")["subscribe_scene"] = "ADD_SCENE_QR_CODE"
    wechat_sandbox.state.interact(APPID, "oNew", time.time(), False)
    event = {
        "openid": "oNew",
        "msg_type": "event",
        "event": "subscribe",
        "msg_id": "",
        "content": "[subscribe]",
        "data": {},
        "create_time": int(time.time()),
    }
    _run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: ingest_event(account, event, at=timezone.now(), live=True),
    )
    welcome = Message.objects.get(direction="out")
    assert (welcome.sender_kind, welcome.delivery_status, welcome.conversation_id) == (
        "welcome",
        "sent",
        None,
    )
    assert wechat_sandbox.state.sent[0]["text"]["content"] == account.welcome_message
    user = WeChatUser.objects.get()
    assert (user.unionid, user.subscribe_scene) == ("uUnion1", "ADD_SCENE_QR_CODE")
    assert user.customer.keys.get().value == "uUnion1"


def test_keyword_auto_reply_is_not_a_human_response(
    wechat_sandbox, account, django_capture_on_commit_callbacks
):
    AutoReplyRule.objects.create(
        account=account, keyword="会员", reply="会员权益：生日礼包、积分翻倍。"
    )
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    _run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: inbound(account, content="我想了解会员", live=True),
    )
    auto = Message.objects.get(direction="out")
    assert (auto.sender_kind, auto.delivery_status, auto.content) == (
        "auto_reply",
        "sent",
        "会员权益：生日礼包、积分翻倍。",
    )
    conversation = Conversation.objects.get()
    assert (conversation.first_response_at, conversation.status) == (None, "open")


def test_out_of_hours_reply_when_a_conversation_opens(
    wechat_sandbox, account, django_capture_on_commit_callbacks
):
    from datetime import time as clock

    account.out_of_hours_reply = "客服工作时间为 9:00-21:00，我们上班后第一时间回复您。"
    now = timezone.localtime()
    account.service_start = clock((now.hour + 2) % 24, 0)
    account.service_end = clock((now.hour + 3) % 24, 0)
    account.save()
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    _run_on_commit(django_capture_on_commit_callbacks, lambda: inbound(account, live=True))
    _run_on_commit(
        django_capture_on_commit_callbacks, lambda: inbound(account, msg_id="m2", live=True)
    )
    assert list(Message.objects.filter(direction="out").values_list("content", flat=True)) == [
        account.out_of_hours_reply
    ]


def test_same_unionid_on_two_accounts_is_one_customer(account):
    from channels_wechat.models import OfficialAccount

    other = OfficialAccount.objects.create(
        appid="wx_second", name="花间集会员中心", app_secret="x", token="t", mode="plaintext"
    )
    ingest_message(
        account,
        {"openid": "oA", "msg_type": "text", "msg_id": "1", "content": "a"},
        at=timezone.now(),
        live=False,
        unionid="uSame",
    )
    ingest_message(
        other,
        {"openid": "oB", "msg_type": "text", "msg_id": "1", "content": "b"},
        at=timezone.now(),
        live=False,
        unionid="uSame",
    )
    assert Customer.objects.count() == 1
    assert set(WeChatUser.objects.values_list("customer", flat=True)) == {Customer.objects.get().pk}
