"""Drains process stored pushes in batches: the same result as one push at a time, in a fixed
number of queries, and a batch that fails falls back to one by one without losing a push."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from channels_wechat import ingest
from channels_wechat.models import AutoReplyRule, OfficialAccount, WeChatUser
from channels_wechat.tasks import process_wechat_delivery_task
from crm import ingestion
from crm.models import Conversation, Interaction, Message, RawDelivery

from .conftest import AES_KEY, TOKEN, post_push, push_xml

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2026, 11, 20, tzinfo=SHANGHAI)


def at(hour: int, minute: int = 0) -> int:
    return int((DAY + dt.timedelta(hours=hour, minutes=minute)).timestamp())


# (openid, msg_type, create_time, msg_id, fields): a morning of one account, out of order and
# with a redelivery, an event between messages, a lone digit, a keyword and a message at night.
SCRIPT = [
    ("oAnna", "text", at(10), "5001", {"content": "你好，我的订单还没发货"}),
    ("oBen", "event", at(10, 1), "", {"event": "subscribe", "event_key": "qrscene_store_sh"}),
    ("oAnna", "image", at(10, 2), "5002", {"pic_url": "http://mmbiz/1.jpg", "media_id": "m1"}),
    ("oBen", "text", at(10, 3), "5003", {"content": "优惠券怎么用？"}),
    ("oAnna", "text", at(10), "5001", {"content": "你好，我的订单还没发货"}),
    ("oCai", "text", at(10, 4), "5004", {"content": "3"}),
    ("oAnna", "text", at(10, 5), "5005", {"content": "单号是多少"}),
    ("oDing", "text", at(2, 30), "5006", {"content": "半夜了还有人吗"}),
    ("oBen", "event", at(10, 6), "", {"event": "CLICK", "event_key": "MENU_ORDERS"}),
    ("oAnna", "voice", at(10, 7), "5007", {"media_id": "v1", "format": "amr"}),
    ("oDing", "text", at(2, 35), "5008", {"content": "明天再说吧"}),
]


def make_account(appid: str) -> OfficialAccount:
    account = OfficialAccount.objects.create(
        appid=appid,
        original_id="gh_10f6c3c3ac5a",
        name="花间集美妆",
        app_secret="s3cr3t-app-secret-0123456789abcd",
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        mode="safe",
        out_of_hours_reply="客服时间 9:00-18:00，我们上班后第一时间回复您。",
        service_start=dt.time(9),
        service_end=dt.time(18),
    )
    AutoReplyRule.objects.create(
        account=account, keyword="优惠券", reply="领券中心在菜单「会员」里"
    )
    return account


def store_script(client, account: OfficialAccount) -> list[int]:
    """POST the script to the hook; in a test transaction nothing is processed yet."""
    for openid, msg_type, create_time, msg_id, fields in SCRIPT:
        xml = push_xml(openid, msg_type, create_time=create_time, msg_id=msg_id, **fields)
        assert post_push(client, xml, appid=account.appid).content == b"success"
    ids = list(
        RawDelivery.objects.filter(account=account.appid)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    assert len(ids) == len(SCRIPT)
    return ids


def outcome(account: OfficialAccount) -> dict:
    """Everything processing wrote for the account, without ids that differ between accounts."""
    conversations = {
        c.pk: i
        for i, c in enumerate(Conversation.objects.filter(account=account.appid).order_by("pk"))
    }
    messages = Message.objects.filter(account=account.appid).order_by("direction", "sent_at", "pk")
    customers = WeChatUser.objects.filter(account=account).values("customer")
    return {
        "messages": [
            (
                m.external_user,
                m.direction,
                m.msg_type,
                m.content,
                m.media_id,
                m.platform_msg_id,
                m.sent_at if m.direction == "in" else "queued now",
                m.sender_kind,
                m.delivery_status,
                conversations.get(m.conversation_id),
            )
            for m in messages
        ],
        "conversations": [
            (c.external_user, c.status, c.opened_at, c.last_inbound_at, c.last_message_at)
            for c in Conversation.objects.filter(account=account.appid).order_by("pk")
        ],
        "followers": sorted(
            (
                u.openid,
                u.subscribed,
                u.qr_scene,
                u.last_message_at,
                u.window_expires_at,
                u.window_quota,
                u.window_used,
                u.customer.stage,
                u.customer.first_channel,
            )
            for u in WeChatUser.objects.filter(account=account).select_related("customer")
        ),
        "timeline": sorted(
            (i.customer.wechat_users.get().openid, i.kind, i.occurred_at, i.summary)
            for i in Interaction.objects.filter(customer__in=customers).select_related("customer")
        ),
        "deliveries": [
            (d.status, d.dedupe_key, d.attempts)
            for d in RawDelivery.objects.filter(account=account.appid).order_by("id")
        ],
    }


def test_a_drained_batch_gives_what_one_push_at_a_time_gives(client):
    one_by_one = make_account("wx00000000000000a1")
    for pk in store_script(client, one_by_one):
        assert process_wechat_delivery_task(pk) == "processed"
    batched = make_account("wx00000000000000b2")
    store_script(client, batched)

    assert ingestion.drain("wechat") == len(SCRIPT)

    expected, got = outcome(one_by_one), outcome(batched)
    assert got == expected
    # What the script should have done, spelled out once.
    assert [c[0] for c in got["conversations"]] == ["oAnna", "oBen", "oCai", "oDing"]
    assert len([m for m in got["messages"] if m[1] == "in"]) == 10  # 5001 redelivered: once
    automatic = [(m[0], m[3]) for m in got["messages"] if m[7] == "auto_reply"]
    assert automatic == [
        ("oBen", "领券中心在菜单「会员」里"),
        ("oDing", "客服时间 9:00-18:00，我们上班后第一时间回复您。"),
    ]
    assert got["deliveries"][4] == ("processed", "5001", 1)
    assert {u[0]: (u[1], u[2]) for u in got["followers"]}["oBen"] == (True, "store_sh")


def test_queries_of_a_batch_do_not_grow_with_its_size(client, account):
    def drain_pushes(first: int, count: int) -> int:
        for i in range(count):
            xml = push_xml(f"oN{first + i}", content=f"第{i}条", msg_id=str(first + i))
            assert post_push(client, xml).content == b"success"
        with CaptureQueriesContext(connection) as queries:
            assert ingestion.drain("wechat") == count
        return len(queries)

    # Taken warm: the first batch loads the routing configuration (crm.inbox.config).
    drain_pushes(50_000, 1)
    small, large = drain_pushes(100_000, 10), drain_pushes(200_000, 200)

    assert small == large
    assert Message.objects.filter(direction="in").count() == 211
    assert Conversation.objects.count() == 211
    assert Interaction.objects.filter(kind="message_in").count() == 211


def test_a_push_that_no_longer_verifies_fails_alone_and_its_batch_is_stored(client, account):
    for i in range(3):
        xml = push_xml("oEve", content=f"在吗{i}", msg_id=f"70{i}")
        assert post_push(client, xml).content == b"success"
    broken = RawDelivery.objects.order_by("id")[1]
    # The stored body no longer matches its msg_signature (say, damaged on disk).
    RawDelivery.objects.filter(pk=broken.pk).update(body=b"<xml><Encrypt>AAAA</Encrypt></xml>")

    assert ingestion.drain("wechat") == 3

    statuses = dict(RawDelivery.objects.values_list("pk", "status"))
    assert statuses.pop(broken.pk) == "failed"
    assert set(statuses.values()) == {"processed"}
    assert RawDelivery.objects.get(pk=broken.pk).error == (
        "SignatureError: msg_signature does not match"
    )
    assert sorted(Message.objects.values_list("content", flat=True)) == ["在吗0", "在吗2"]


def test_a_batch_that_fails_is_processed_again_one_push_at_a_time(client, account, monkeypatch):
    for i in range(4):
        xml = push_xml(f"oF{i}", content=f"退货{i}", msg_id=f"80{i}")
        assert post_push(client, xml).content == b"success"

    def collide(items):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(ingest, "receive_messages", collide)

    assert ingestion.drain("wechat") == 4

    assert set(RawDelivery.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert Message.objects.filter(direction="in").count() == 4
    assert Conversation.objects.count() == 4
