"""WeChat Pay notification hooks: verified, stored raw, applied once."""

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from crm.models import Interaction, Lead, RawDelivery
from members import protocol
from members.actions import create_order
from members.models import Order, PaymentNotification, PointsEntry
from tests.conftest import clear_own_cache

from .notify import post_v2, post_v3, v2_body, v3_request

SUCCESS_XML = (
    "<xml><return_code><![CDATA[SUCCESS]]></return_code>"
    "<return_msg><![CDATA[OK]]></return_msg></xml>"
)
TX = "4200001234202610031234567890"


def test_v2_notification_pays_the_order_and_replies_success(client, order, customer):
    response = post_v2(client, v2_body(order.out_trade_no, 12900, TX))
    assert response.status_code == 200
    assert response.content.decode() == SUCCESS_XML
    order.refresh_from_db()
    assert (order.status, order.transaction_id, order.paid_at) == (
        "paid",
        TX,
        datetime(2026, 10, 3, 4, 0, tzinfo=UTC),
    )
    customer.refresh_from_db()
    assert customer.stage == "member"  # a member stays a member; paid does not move it back
    entry = PointsEntry.objects.get()
    assert (entry.points, entry.source_ref, entry.kind) == (129, "order:202610031200000001", "earn")
    assert customer.membership.points_balance == 129
    assert Interaction.objects.filter(customer=customer, kind="order").count() == 1


def test_notification_delivered_five_times_gives_one_order_and_one_points_entry(client, order):
    body = v2_body(order.out_trade_no, 12900, TX)
    replies = [post_v2(client, body).status_code for _ in range(5)]
    assert replies == [200] * 5
    # Inside the replay window the same notification is acknowledged, not stored again.
    assert RawDelivery.objects.filter(source="wechatpay").count() == 1
    assert Order.objects.filter(transaction_id=TX).count() == 1
    assert PointsEntry.objects.count() == 1
    assert list(PaymentNotification.objects.values_list("outcome", flat=True)) == ["paid"]
    assert Interaction.objects.filter(kind="order").count() == 1


def test_notification_retried_after_the_replay_window_is_not_stored_again(client, order):
    body = v2_body(order.out_trade_no, 12900, TX)
    assert post_v2(client, body).status_code == 200
    clear_own_cache()  # nothing of the replay check lives in the cache (a v2 one has no time)
    assert post_v2(client, body).content.decode() == SUCCESS_XML
    assert RawDelivery.objects.filter(source="wechatpay").count() == 1
    assert list(PaymentNotification.objects.values_list("outcome", flat=True)) == ["paid"]


def test_another_notification_of_a_paid_transaction_is_a_duplicate(client, order):
    assert post_v2(client, v2_body(order.out_trade_no, 12900, TX)).status_code == 200
    again = v2_body(order.out_trade_no, 12900, TX, nonce_str="9f1c0e7a2b3d4c5e6f708192a3b4c5d6")
    assert post_v2(client, again).status_code == 200
    assert RawDelivery.objects.filter(source="wechatpay").count() == 2
    assert PointsEntry.objects.count() == 1
    outcomes = sorted(PaymentNotification.objects.values_list("outcome", flat=True))
    assert outcomes == ["duplicate", "paid"]


def test_hmac_notification_without_sign_type_uses_the_merchants_sign_type(client, order, merchant):
    merchant.sign_type = "HMAC-SHA256"
    merchant.save()
    body = v2_body(order.out_trade_no, 12900, TX, sign_type="HMAC-SHA256")
    assert post_v2(client, body).status_code == 200
    order.refresh_from_db()
    assert order.status == "paid"


def test_forged_v2_notification_is_refused_and_nothing_is_written(client, order):
    body = v2_body(order.out_trade_no, 12900, TX, key="0" * 32)
    response = post_v2(client, body)
    assert response.status_code == 403
    assert "<return_code><![CDATA[FAIL]]></return_code>" in response.content.decode()
    assert RawDelivery.objects.count() == 0
    assert PaymentNotification.objects.count() == 0
    order.refresh_from_db()
    assert (order.status, order.transaction_id) == ("created", None)


def test_v2_for_unknown_merchant_is_404(client, order):
    assert post_v2(client, v2_body(order.out_trade_no, 12900, TX), mchid="999").status_code == 404
    assert RawDelivery.objects.count() == 0


def test_malformed_v2_is_stored_rejected_and_refused(client, merchant):
    response = post_v2(client, b"<xml><return_code>SUCCESS</xml>")
    assert response.status_code == 400
    raw = RawDelivery.objects.get()
    assert (raw.status, bytes(raw.body)) == ("rejected", b"<xml><return_code>SUCCESS</xml>")
    assert raw.error.startswith("malformed XML")


def test_unknown_order_is_stored_and_shown(client, merchant, admin_client):
    assert post_v2(client, v2_body("NO-SUCH-ORDER", 500, TX)).status_code == 200
    notification = PaymentNotification.objects.get()
    assert (notification.outcome, notification.out_trade_no, notification.amount_fen) == (
        "unknown_order",
        "NO-SUCH-ORDER",
        500,
    )
    assert notification.order is None
    page = admin_client.get("/admin/members/paymentnotification/?outcome=unknown_order")
    assert "NO-SUCH-ORDER" in page.content.decode()


def test_amount_differing_from_the_order_is_flagged_not_paid(client, order):
    assert post_v2(client, v2_body(order.out_trade_no, 1, TX)).status_code == 200
    order.refresh_from_db()
    assert order.status == "created"
    assert order.flags == {
        "amount_mismatch": {"expected": 12900, "notified": 1, "transaction_id": TX}
    }
    assert PaymentNotification.objects.get().outcome == "amount_mismatch"
    assert PointsEntry.objects.count() == 0


def test_v3_notification_is_verified_decrypted_and_pays(client, order, platform_key):
    body, headers = v3_request(platform_key, order.out_trade_no, 12900, TX)
    response = post_v3(client, body, headers)
    assert (response.status_code, response.content) == (204, b"")
    order.refresh_from_db()
    assert (order.status, order.transaction_id, order.paid_at) == (
        "paid",
        TX,
        datetime(2026, 10, 3, 4, 0, tzinfo=UTC),
    )
    notification = PaymentNotification.objects.get()
    assert (notification.api_version, notification.outcome) == ("v3", "paid")
    assert PointsEntry.objects.get().points == 129


def test_forged_v3_notification_is_refused_and_nothing_is_written(client, order, platform_key):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body, headers = v3_request(forger, order.out_trade_no, 12900, TX)
    response = post_v3(client, body, headers)
    assert response.status_code == 403
    assert response.json() == {"code": "FAIL", "message": "签名验证失败"}
    assert RawDelivery.objects.count() == 0
    order.refresh_from_db()
    assert order.status == "created"


def test_v3_with_a_body_changed_after_signing_is_refused(client, order, platform_key):
    body, headers = v3_request(platform_key, order.out_trade_no, 12900, TX)
    response = post_v3(
        client, body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESS "), headers
    )
    assert response.status_code == 403
    assert RawDelivery.objects.count() == 0


def test_v3_replayed_long_after_is_refused(client, order, platform_key):
    body, headers = v3_request(platform_key, order.out_trade_no, 12900, TX, timestamp=1700000000)
    response = post_v3(client, body, headers)
    assert response.status_code == 403
    assert response.json()["message"] == "Wechatpay-Timestamp missing or too far from now"
    assert RawDelivery.objects.count() == 0


def test_v3_encrypted_with_another_key_is_stored_rejected(client, order, platform_key):
    body, headers = v3_request(platform_key, order.out_trade_no, 12900, TX, apiv3_key="X" * 32)
    response = post_v3(client, body, headers)
    assert response.status_code == 400
    raw = RawDelivery.objects.get()
    assert raw.status == "rejected"
    assert raw.error == "ProtocolError: the resource cannot be decrypted with the APIv3 key"
    order.refresh_from_db()
    assert order.status == "created"


def test_first_payment_converts_an_open_lead_and_moves_stage(client, merchant, store):
    from crm.actions import create_lead
    from crm.identity import resolve_customer

    buyer = resolve_customer(channel="weibo", keys={"unionid": "u-lead"}, defaults={"name": "李娜"})
    lead, _ = create_lead(buyer, "咨询新品精华液", source_channel="weibo", assign=False)
    order = create_order(
        amount_fen=5000, channel="native", customer=buyer, merchant=merchant, out_trade_no="LEAD-1"
    )
    paid = (timezone.now() + timedelta(seconds=2)).replace(microsecond=0)
    body = v2_body("LEAD-1", 5000, TX, time_end=protocol.format_time_end(paid))
    assert post_v2(client, body).status_code == 200
    lead.refresh_from_db()
    buyer.refresh_from_db()
    assert (lead.status, buyer.stage) == ("converted", "customer")
    assert lead.converted_at == paid
    assert Lead.objects.open().count() == 0
    order.refresh_from_db()
    assert order.status == "paid"
    # Not a member: no points, but the order is on the timeline.
    assert PointsEntry.objects.count() == 0
    assert Interaction.objects.filter(customer=buyer, kind="order").count() == 1


def test_paid_order_sends_the_order_message_to_the_customer(client, order, customer, monkeypatch):
    from crm import inbox
    from tests.crm import senders

    senders.SENT.clear()
    senders.FAIL_WITH.clear()
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    monkeypatch.setitem(inbox.ADDRESS_RESOLVERS, "wechat", "tests.members.addresses.resolve")
    body = v2_body(order.out_trade_no, 12900, TX)
    for _ in range(2):
        assert post_v2(client, body).status_code == 200
    assert senders.SENT == [
        (
            f"openid-{customer.pk}",
            "【支付成功】订单 202610031200000001 已支付 ¥129.00（上海南京西路店）。您的会员积分余额：129。",
            "system",
        )
    ]


def test_v3_event_other_than_a_transaction_is_stored_and_ignored(client, order, platform_key):
    body, headers = v3_request(
        platform_key, order.out_trade_no, 12900, TX, event_type="REFUND.SUCCESS"
    )
    assert post_v3(client, body, headers).status_code == 204
    notification = PaymentNotification.objects.get()
    assert (notification.outcome, notification.order) == ("ignored", order)
    order.refresh_from_db()
    assert order.status == "created"
