"""The fan-service hook over HTTP: verification, signatures, raw-first storage, the shared inbox
and replies through messages/reply on the sandbox."""

import json
import secrets
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_weibo.protocol import format_time, signature
from crm.inbox import SendError, reply
from crm.models import Conversation, Interaction, Message, RawDelivery

from .conftest import APP_SECRET

URL = "/hooks/weibo/5988800001"


def signed(timestamp=None, nonce=None, secret=APP_SECRET):
    """A signed query as Weibo sends it: the timestamp in milliseconds, now by default, and a
    fresh nonce (the same nonce and timestamp is the same signed push, answered as a replay)."""
    timestamp = timestamp or str(int(time.time() * 1000))
    nonce = nonce or str(secrets.randbelow(10**9))
    return f"timestamp={timestamp}&nonce={nonce}&signature={signature(secret, timestamp, nonce)}"


def push(client, payload, captured, query=None):
    with captured(execute=True):
        return client.post(
            f"{URL}?{query or signed()}",
            data=json.dumps(payload, ensure_ascii=False),
            content_type="application/json",
        )


def text_push(text="你好，精华液有货吗？", sender=2489518277, at=None, kind="text", data=None):
    return {
        "type": kind,
        "receiver_id": 5988800001,
        "sender_id": sender,
        "created_at": format_time(
            (at or timezone.now()).astimezone(timezone.get_default_timezone())
        ),
        "text": text,
        "data": data or {},
    }


def test_verification_echoes_echostr_with_documented_vector(client, account):
    response = client.get(
        f"{URL}?nonce=57155157&timestamp=1397022061823&echostr=dnPdpTZz85"
        "&signature=90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )
    assert (response.status_code, response.content) == (200, b"dnPdpTZz85")


def test_push_with_bad_signature_gets_403_and_stores_nothing(
    client, account, django_capture_on_commit_callbacks
):
    response = push(
        client, text_push(), django_capture_on_commit_callbacks, query=signed(secret="wrong")
    )
    assert (response.status_code, response.content) == (403, b"bad signature")
    assert RawDelivery.objects.count() == 0
    assert Message.objects.count() == 0


def test_unknown_account_gets_404(client, db):
    assert client.get(f"/hooks/weibo/42?{signed()}").status_code == 404


def test_malformed_body_is_recorded_and_refused(
    client, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{URL}?{signed()}", data=b"{not json", content_type="application/json"
        )
    assert response.status_code == 400
    assert response.content.startswith(b"body is not JSON")
    delivery = RawDelivery.objects.get()
    assert (delivery.status, bytes(delivery.body)) == ("rejected", b"{not json")


def test_private_message_lands_in_the_shared_inbox_once(
    client, account, django_capture_on_commit_callbacks
):
    payload = text_push()
    first = push(client, payload, django_capture_on_commit_callbacks)
    again = push(client, payload, django_capture_on_commit_callbacks)  # the platform's retry
    assert (first.status_code, first.content, again.status_code) == (200, b"", 200)
    assert RawDelivery.objects.filter(status="processed").count() == 2
    message = Message.objects.get()
    assert (message.channel, message.account, message.external_user, message.content) == (
        "weibo",
        "5988800001",
        "2489518277",
        "你好，精华液有货吗？",
    )
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.status, conversation.customer_id) == (
        "weibo",
        "open",
        message.customer_id,
    )
    assert message.customer.first_channel == "weibo"
    assert Interaction.objects.filter(kind="message_in").count() == 1


@pytest.mark.parametrize(
    "kind,data,text",
    [
        ("image", {"vfid": 821804459, "tovfid": 821804469}, "发了一张图片"),
        ("voice", {"vfid": 1, "tovfid": 2}, "发了一个语音消息"),
        (
            "position",
            {"longitude": "116.308586", "latitude": "39.982525"},
            "我在这里: http://t.cn/zQgLLYO",
        ),
    ],
)
def test_media_and_position_messages(
    client, account, django_capture_on_commit_callbacks, kind, data, text
):
    push(client, text_push(text, kind=kind, data=data), django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert (message.msg_type, message.content, message.data) == (kind, text, data)
    assert message.media_id == (str(data["tovfid"]) if "tovfid" in data else "")


def test_follow_event_goes_on_the_timeline_without_opening_a_conversation(
    client, account, django_capture_on_commit_callbacks
):
    push(
        client,
        text_push("关注事件消息", kind="event", data={"subtype": "follow"}),
        django_capture_on_commit_callbacks,
    )
    assert Conversation.objects.count() == 0
    assert Interaction.objects.get().kind == "follow"


def test_agent_reply_goes_through_messages_reply(
    client, weibo_sandbox, account, agent_user, django_capture_on_commit_callbacks
):
    push(client, text_push(), django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get()
    sent = reply(conversation, "您好，有货的，欢迎下单～", agent=agent_user)
    assert sent.delivery_status == "sent"
    assert weibo_sandbox.sent == [
        {"sender_id": "5988800001", "receiver_id": "2489518277", "text": "您好，有货的，欢迎下单～"}
    ]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.first_response_at) == ("pending", sent.sent_at)


def test_reply_after_48_hours_is_refused(
    client, weibo_sandbox, account, agent_user, django_capture_on_commit_callbacks
):
    push(
        client,
        text_push(at=timezone.now() - timedelta(hours=49)),
        django_capture_on_commit_callbacks,
    )
    conversation = Conversation.objects.get()
    with pytest.raises(SendError) as info:
        reply(conversation, "抱歉回复晚了", agent=agent_user)
    assert info.value.code == "window_closed"
    assert (
        info.value.message
        == "48 小时回复窗口已关闭：粉丝已超过 48 小时未发私信。"  # what the agent reads
    )
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code) == ("failed", "window_closed")
    assert weibo_sandbox.sent == []


def test_no_reply_after_unfollow(
    client, weibo_sandbox, account, agent_user, django_capture_on_commit_callbacks
):
    now = timezone.now()
    push(client, text_push(at=now - timedelta(minutes=5)), django_capture_on_commit_callbacks)
    push(
        client,
        text_push(
            "取消关注事件消息",
            at=now - timedelta(minutes=1),
            kind="event",
            data={"subtype": "unfollow"},
        ),
        django_capture_on_commit_callbacks,
    )
    with pytest.raises(SendError) as info:
        reply(Conversation.objects.get(), "还在吗", agent=agent_user)
    assert info.value.message == "粉丝已取消关注该账号，无法回复。"
    assert Interaction.objects.filter(kind="unfollow").count() == 1


@pytest.mark.django_db(transaction=True)
def test_sandbox_pushes_to_the_live_hook(live_server, weibo_sandbox, account):
    from devtools.sandboxes.weibo import push as sandbox_push

    status = sandbox_push(f"{live_server.url}{URL}", APP_SECRET, text_push("在吗？想问下会员积分"))
    assert status == 200
    message = Message.objects.get()
    assert (message.channel, message.content) == ("weibo", "在吗？想问下会员积分")


def test_private_message_answered_from_the_inbox_page(
    client, weibo_sandbox, account, agent_user, django_capture_on_commit_callbacks
):
    push(client, text_push("请问会员积分怎么兑换？"), django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get()
    client.force_login(agent_user)
    page = client.get(f"/inbox/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "请问会员积分怎么兑换？" in page.content.decode()
    response = client.post(
        f"/inbox/{conversation.pk}/reply/", {"text": "在个人中心-积分商城兑换哦"}
    )
    assert response.status_code == 302
    assert weibo_sandbox.sent == [
        {
            "sender_id": "5988800001",
            "receiver_id": "2489518277",
            "text": "在个人中心-积分商城兑换哦",
        }
    ]
    sent = Message.objects.get(direction="out")
    assert (sent.channel, sent.delivery_status, sent.platform_msg_id) == ("weibo", "sent", "1")


def test_a_signed_push_replayed_later_is_refused_and_not_stored(
    client, account, django_capture_on_commit_callbacks
):
    # Ten minutes old: outside the replay window (WEBHOOK_MAX_AGE = 300 s), valid signature.
    old = str(int((time.time() - 600) * 1000))
    response = push(
        client, text_push(), django_capture_on_commit_callbacks, query=signed(timestamp=old)
    )
    assert (response.status_code, response.content) == (403, b"stale timestamp")
    assert RawDelivery.objects.count() == 0


def test_the_same_signed_push_again_is_not_stored_twice(
    client, account, django_capture_on_commit_callbacks
):
    query, payload = signed(), text_push("同一条推送")
    assert push(client, payload, django_capture_on_commit_callbacks, query=query).status_code == 200
    assert push(client, payload, django_capture_on_commit_callbacks, query=query).status_code == 200
    assert RawDelivery.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_signed_query_replayed_with_another_body_is_not_stored(
    client, account, django_capture_on_commit_callbacks
):
    # The fan service signs the app secret, timestamp and nonce, not the body: a captured query
    # sent again with a body of the sender's choosing is the same signed push.
    query = signed()
    first = push(client, text_push("在吗"), django_capture_on_commit_callbacks, query=query)
    forged = push(client, text_push("退款给我"), django_capture_on_commit_callbacks, query=query)
    assert [first.status_code, forged.status_code] == [200, 200]
    assert list(Message.objects.values_list("content", flat=True)) == ["在吗"]
    assert RawDelivery.objects.count() == 1
