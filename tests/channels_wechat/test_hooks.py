"""The webhook through HTTP: verification, every mode, every type, and every refusal."""

import threading
import time
import urllib.parse

import pytest
from django.db import OperationalError, connection
from django.test import Client

from channels_wechat.models import WeChatUser
from crm.models import Conversation, Customer, Interaction, Message, RawDelivery

from .conftest import AES_KEY, APPID, TOKEN, post_push, push_xml, signed_query


class CommittingClient(Client):
    """The test client, running on-commit callbacks (the processing task) as a real commit would."""

    capture = None

    def request(self, **request):
        with self.capture(execute=True):
            return super().request(**request)


@pytest.fixture
def client(django_capture_on_commit_callbacks):
    client = CommittingClient(raise_request_exception=False)
    client.capture = django_capture_on_commit_callbacks
    return client


def test_url_verification_echoes_echostr(client, account):
    query = signed_query(echostr="4375120948345356249")
    response = client.get(f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}")
    assert (response.status_code, response.content) == (200, b"4375120948345356249")


def test_url_verification_with_bad_signature_is_403(client, account):
    query = signed_query(token="wrong", echostr="x")
    response = client.get(f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}")
    assert (response.status_code, response.content) == (403, b"invalid signature")


def test_unknown_appid_is_404_and_nothing_stored(client, account):
    response = post_push(client, push_xml(), mode="plaintext", appid="wx_unknown")
    assert response.status_code == 404
    assert RawDelivery.objects.count() == 0


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_text_push_in_each_mode_becomes_an_inbox_message(client, account, mode):
    account.mode = mode
    account.save()
    xml = push_xml(
        content="你好，我的订单什么时候发货？", msg_id="6054768590064713728", create_time=1790000000
    )
    response = post_push(client, xml, mode=mode)
    assert (response.status_code, response.content) == (200, b"success")
    delivery = RawDelivery.objects.get()
    assert (delivery.source, delivery.account, delivery.status, delivery.dedupe_key) == (
        "wechat",
        APPID,
        "processed",
        "6054768590064713728",
    )
    assert delivery.query["timestamp"]
    message = Message.objects.get()
    assert (message.content, message.platform_msg_id, message.direction, message.msg_type) == (
        "你好，我的订单什么时候发货？",
        "6054768590064713728",
        "in",
        "text",
    )
    assert message.sent_at.timestamp() == 1790000000
    user = WeChatUser.objects.get()
    assert (user.openid, user.customer_id, user.customer.stage, user.customer.first_channel) == (
        "oUser1",
        message.customer_id,
        "follower",
        "wechat",
    )
    conversation = Conversation.objects.get()
    assert (conversation.account, conversation.external_user, conversation.status) == (
        APPID,
        "oUser1",
        "open",
    )


def test_safe_mode_account_refuses_plaintext_push_and_records_it(client, account):
    response = post_push(client, push_xml(content="hi"), mode="plaintext")
    assert (response.status_code, response.content.decode()) == (
        400,
        "bad request: this account is in safe mode: the push is not encrypted",
    )
    assert RawDelivery.objects.get().status == "rejected"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "fields,msg_type,content,media_id",
    [
        (
            {"msg_type": "image", "pic_url": "http://mmbiz/1.jpg", "media_id": "MEDIA1"},
            "image",
            "[图片]",
            "MEDIA1",
        ),
        ({"msg_type": "voice", "media_id": "V1", "Format": "amr"}, "voice", "[语音]", "V1"),
        ({"msg_type": "video", "media_id": "VD1", "ThumbMediaId": "T1"}, "video", "[视频]", "VD1"),
        (
            {"msg_type": "shortvideo", "media_id": "SV1", "ThumbMediaId": "T2"},
            "shortvideo",
            "[小视频]",
            "SV1",
        ),
        (
            {
                "msg_type": "location",
                "Location_X": "31.2",
                "Location_Y": "121.4",
                "Scale": "15",
                "Label": "上海市静安区",
            },
            "location",
            "[位置] 上海市静安区",
            "",
        ),
        (
            {"msg_type": "link", "Title": "订单截图", "Description": "d", "Url": "http://x"},
            "link",
            "[链接] 订单截图 http://x",
            "",
        ),
        (
            {"msg_type": "miniprogrampage", "Title": "小程序"},
            "miniprogrampage",
            "[miniprogrampage]",
            "",
        ),
    ],
)
def test_every_message_type_through_the_hook(
    client, account, fields, msg_type, content, media_id, monkeypatch
):
    # A media message also queues its download, which runs inline here against no WeChat and
    # backed off 16 s per test before failing (not what this test is about).
    monkeypatch.setattr("channels_wechat.client.RETRY_DELAYS", (0.0, 0.0, 0.0))
    response = post_push(client, push_xml(msg_id="77", **fields))
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.msg_type, message.content, message.media_id) == (msg_type, content, media_id)
    assert Conversation.objects.get().status == "open"


@pytest.mark.parametrize(
    "fields,event",
    [
        ({"event": "SCAN", "event_key": "store_42", "ticket": "T"}, "SCAN"),
        (
            {"event": "LOCATION", "Latitude": "23.1", "Longitude": "113.3", "Precision": "119"},
            "LOCATION",
        ),
        ({"event": "CLICK", "event_key": "MENU_ORDERS"}, "CLICK"),
        ({"event": "VIEW", "event_key": "https://shop.example.com", "MenuId": "1"}, "VIEW"),
        ({"event": "kf_close_session"}, "kf_close_session"),
    ],
)
def test_events_are_stored_without_opening_a_conversation(client, account, fields, event):
    response = post_push(client, push_xml(msg_type="event", create_time=1790000000, **fields))
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.msg_type, message.data["event"], message.conversation_id) == (
        "event",
        event,
        None,
    )
    assert message.platform_msg_id == f"ev:oUser1:1790000000:{event}"
    assert Conversation.objects.count() == 0


def test_template_receipt_is_accepted_and_changes_nothing(client, account):
    xml = push_xml(
        msg_type="event", event="TEMPLATESENDJOBFINISH", MsgID="200163836", Status="success"
    )
    assert post_push(client, xml).status_code == 200
    assert RawDelivery.objects.get().status == "processed"
    assert (Message.objects.count(), WeChatUser.objects.count()) == (0, 0)


def test_subscribe_with_qr_scene_and_unsubscribe_update_follower_and_timeline(client, account):
    post_push(
        client,
        push_xml(
            msg_type="event",
            event="subscribe",
            event_key="qrscene_store88",
            ticket="TK",
            create_time=1790000000,
        ),
    )
    user = WeChatUser.objects.get()
    assert (user.subscribed, user.qr_scene, user.subscribe_time.timestamp()) == (
        True,
        "store88",
        1790000000,
    )
    post_push(client, push_xml(msg_type="event", event="unsubscribe", create_time=1790003600))
    user.refresh_from_db()
    assert (user.subscribed, user.unsubscribe_time.timestamp()) == (False, 1790003600)
    kinds = list(
        Interaction.objects.filter(customer=user.customer)
        .order_by("occurred_at", "id")
        .values_list("kind", "data__account", "data__reason")
    )
    # store88 names no channel code: the follow is recorded and the reason with it (#16).
    assert kinds == [
        ("subscribe", APPID, None),
        ("other", APPID, "unknown"),
        ("unsubscribe", APPID, None),
    ]


def test_bad_signature_is_403_and_nothing_stored(client, account):
    response = post_push(client, push_xml(), query=signed_query(token="not-the-token"))
    assert (response.status_code, response.content) == (403, b"invalid signature")
    assert RawDelivery.objects.count() == 0


def test_tampered_msg_signature_is_403(client, account):
    query = signed_query()
    xml = push_xml()
    from channels_wechat import protocol

    ciphertext = protocol.encrypt(AES_KEY, xml, APPID)
    query.update(encrypt_type="aes", msg_signature="0" * 40)
    body = f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    response = client.post(
        f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}", data=body, content_type="text/xml"
    )
    assert (response.status_code, response.content) == (403, b"invalid msg_signature")
    assert RawDelivery.objects.count() == 0


def test_push_encrypted_for_another_appid_is_400_and_recorded(client, account):
    from channels_wechat import protocol

    query = signed_query()
    ciphertext = protocol.encrypt(AES_KEY, push_xml(), "wx_other_app")
    query.update(
        encrypt_type="aes",
        msg_signature=protocol.msg_signature(TOKEN, query["timestamp"], query["nonce"], ciphertext),
    )
    body = f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    response = client.post(
        f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}", data=body, content_type="text/xml"
    )
    assert (response.status_code, response.content.decode()) == (
        400,
        "bad request: the message was encrypted for another appid",
    )
    assert RawDelivery.objects.get().error == "appid: the message was encrypted for another appid"


def test_malformed_xml_is_400_with_raw_body_recorded(client, account):
    account.mode = "plaintext"
    account.save()
    body = b"<xml><ToUserName>gh</ToUserName><Content>unclosed"
    query = signed_query()
    response = client.post(
        f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}", data=body, content_type="text/xml"
    )
    assert response.status_code == 400
    assert response.content.decode().startswith("bad request: malformed XML: ")
    delivery = RawDelivery.objects.get()
    assert (bytes(delivery.body), delivery.status) == (body, "rejected")
    assert delivery.error.startswith("xml: malformed XML: ")


def test_dtd_and_entities_are_refused_and_recorded(client, account):
    account.mode = "plaintext"
    account.save()
    body = (
        b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&x;</Content></xml>"
    )
    query = signed_query()
    response = client.post(
        f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}", data=body, content_type="text/xml"
    )
    assert (response.status_code, response.content) == (
        400,
        b"bad request: XML with a DTD or entities is refused",
    )
    assert RawDelivery.objects.get().status == "rejected"
    assert Message.objects.count() == 0


def test_body_over_one_mebibyte_is_413(client, account):
    account.mode = "plaintext"
    account.save()
    xml = push_xml(content="很" * (400 * 1024))  # 1.2 MB of UTF-8
    response = post_push(client, xml, mode="plaintext")
    assert (response.status_code, response.content) == (413, b"body too large")
    assert RawDelivery.objects.count() == 0


def test_database_down_answers_5xx_never_success(client, account):
    def refuse(execute, sql, params, many, context):
        # The database goes away as the delivery is written, however the hook writes it.
        if "crm_rawdelivery" in sql or sql.startswith("EXECUTE crm_store"):
            raise OperationalError("could not connect to server: Connection refused")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        response = post_push(client, push_xml(content="在吗"))
    assert response.status_code == 500
    assert response.content != b"success"
    assert Message.objects.count() == 0


def test_same_push_delivered_three_times_gives_one_message(client, account):
    xml = push_xml(content="在吗", msg_id="555")
    for _ in range(3):
        assert post_push(client, xml).content == b"success"
    assert RawDelivery.objects.filter(status="processed").count() == 3
    assert Message.objects.count() == 1
    assert Interaction.objects.filter(kind="message_in").count() == 1
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_same_push_delivered_three_times_concurrently_gives_one_message(account):
    xml = push_xml(content="发货了吗", msg_id="556", openid="oConcurrent")
    barrier = threading.Barrier(3)
    results = []

    def deliver():
        from django.db import connection

        barrier.wait()
        results.append(post_push(Client(), xml).status_code)
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    assert Message.objects.count() == 1
    assert (WeChatUser.objects.count(), Customer.objects.count(), Conversation.objects.count()) == (
        1,
        1,
        1,
    )


def test_time_of_a_push_is_its_create_time(client, account):
    post_push(client, push_xml(content="x", create_time=1700000000))
    assert Conversation.objects.get().opened_at.timestamp() == 1700000000
    assert time.time() > 1700000000


def test_a_signed_push_replayed_later_is_refused_and_not_stored(client, account):
    old = str(int(time.time()) - 600)  # outside the replay window (WEBHOOK_MAX_AGE = 300 s)
    response = post_push(client, push_xml(msg_id="777"), query=signed_query(timestamp=old))
    assert (response.status_code, response.content) == (403, b"stale timestamp")
    assert RawDelivery.objects.count() == 0
    fresh = post_push(client, push_xml(msg_id="777"))
    assert (fresh.status_code, fresh.content) == (200, b"success")


@pytest.mark.parametrize(
    "timestamp,stale",
    [
        ("", True),
        ("abc", True),
        ("1000000", True),  # 1970
        ("1796000000", False),  # seconds (WeChat), 100 s ago
        ("1796000000000", False),  # milliseconds (Weibo)
        ("1796000400", False),  # 300 s ahead: the edge of the window
        ("1796000401", True),
        ("1795999699", True),
    ],
)
def test_stale_push_window(timestamp, stale):
    from crm.security import stale_push

    assert stale_push(timestamp, now=1796000100) is stale


def test_the_same_signed_push_again_is_answered_without_storing_it_twice(client, account):
    from channels_wechat import protocol

    def signed_request(msg_id: str) -> tuple[str, bytes]:
        query = signed_query()
        ciphertext = protocol.encrypt(AES_KEY, push_xml(msg_id=msg_id), APPID)
        query.update(
            encrypt_type="aes",
            msg_signature=protocol.msg_signature(
                TOKEN, query["timestamp"], query["nonce"], ciphertext
            ),
        )
        body = f"<xml><Encrypt>{protocol.cdata(ciphertext)}</Encrypt></xml>".encode()
        return f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(query)}", body

    url, body = signed_request("888")
    answers = [client.post(url, data=body, content_type="text/xml").content for _ in range(2)]
    assert answers == [b"success", b"success"]
    assert RawDelivery.objects.count() == 1  # the replay met the first one's push key
    url, body = signed_request("889")  # same nonce and second, another push
    assert client.post(url, data=body, content_type="text/xml").content == b"success"
    assert RawDelivery.objects.count() == 2


def test_a_plaintext_push_replayed_with_another_body_is_not_stored(client, account):
    # In plaintext mode the signature covers token, timestamp and nonce, not the body: a
    # captured query sent again with a body of the sender's choosing is the same signed push.
    account.mode = "plaintext"
    account.save()
    query, xml = signed_query(), push_xml(content="在吗", msg_id="901")
    first = post_push(client, xml, "plaintext", query=query)
    forged = post_push(
        client, push_xml(content="退款给我", msg_id="902"), "plaintext", query=dict(query)
    )
    assert [first.content, forged.content] == [b"success", b"success"]
    assert [bytes(d.body) for d in RawDelivery.objects.all()] == [xml.encode()]
    assert list(Message.objects.values_list("content", flat=True)) == ["在吗"]


def test_a_cache_that_is_down_does_not_stop_the_hook(client, account, monkeypatch):
    from django.core.cache import cache

    from crm import ingestion

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    class DownClient:
        get = set = down

    for name in ("get", "set", "add", "delete"):
        monkeypatch.setattr(cache, name, down)
    monkeypatch.setattr(ingestion, "_redis_client", DownClient)
    account.mode = "plaintext"
    account.save()
    xml, query = push_xml(msg_id="950"), signed_query()
    answers = [post_push(client, xml, "plaintext", query=dict(query)).content for _ in range(2)]
    answers.append(post_push(client, push_xml(msg_id="951"), "plaintext").content)
    assert answers == [b"success", b"success", b"success"]
    # Stored without the account's version (the row was read); the replay check needs no cache.
    assert RawDelivery.objects.count() == 2
