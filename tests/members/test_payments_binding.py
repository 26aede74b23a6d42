"""Security #14 finding 8: a WeChat Pay notification is bound to the merchant of its URL.

Orders and refunds are looked up within that merchant; the mchid/appid a notification names must
be the merchant's; a v2 signature is checked with the merchant's own sign type; a notification
seen again inside the replay window is not stored twice; before authentication nothing is stored
but a capped, rate-limited error record.
"""

import pytest
from django.utils import timezone

from crm.models import RawDelivery
from members.actions import create_order, mark_order_paid
from members.models import MerchantConfig, Order, PaymentNotification, Refund

from .conftest import APPID, MCHID
from .notify import post_v2, post_v3, refund_body, v2_body, v3_request

TX = "4200001234202610031234567890"
OTHER_MCHID = "1900000999"
OTHER_APPID = "wx2421b1c4370ec43b"
OTHER_KEY = "b" * 32


@pytest.fixture
def other_merchant(db):
    return MerchantConfig.objects.create(
        mchid=OTHER_MCHID, appid=OTHER_APPID, api_key=OTHER_KEY, apiv3_key="c" * 32
    )


@pytest.fixture
def other_order(other_merchant, store):
    """An order of the other merchant whose out_trade_no a notification to ours names."""
    return create_order(
        amount_fen=12900,
        channel="pos",
        store=store,
        merchant=other_merchant,
        out_trade_no="202610031200000009",
    )


def _nothing_written(order, status="created"):
    order.refresh_from_db()
    assert order.status == status
    assert RawDelivery.objects.count() == 0
    assert PaymentNotification.objects.count() == 0


def test_v2_notification_cannot_pay_another_merchants_order(client, merchant, other_order):
    response = post_v2(client, v2_body(other_order.out_trade_no, 12900, TX))
    assert response.status_code == 200
    other_order.refresh_from_db()
    assert (other_order.status, other_order.transaction_id) == ("created", None)
    notice = PaymentNotification.objects.get()
    assert (notice.mchid, notice.outcome, notice.order) == (MCHID, "unknown_order", None)


def test_v3_notification_cannot_pay_another_merchants_order(
    client, merchant, other_order, platform_key
):
    body, headers = v3_request(platform_key, other_order.out_trade_no, 12900, TX)
    assert post_v3(client, body, headers).status_code == 204
    other_order.refresh_from_db()
    assert other_order.status == "created"
    assert PaymentNotification.objects.get().outcome == "unknown_order"


@pytest.mark.parametrize(
    ("mchid", "appid"), [(OTHER_MCHID, APPID), (MCHID, OTHER_APPID)], ids=["mchid", "appid"]
)
def test_v3_notification_naming_another_mchid_or_appid_is_refused(
    client, order, platform_key, mchid, appid
):
    body, headers = v3_request(
        platform_key, order.out_trade_no, 12900, TX, mchid=mchid, appid=appid
    )
    response = post_v3(client, body, headers)
    assert response.status_code == 403
    assert response.json() == {
        "code": "FAIL",
        "message": "the notification's mchid or appid is not this merchant's",
    }
    _nothing_written(order)


def test_v2_notification_naming_another_appid_is_refused(client, order):
    response = post_v2(client, v2_body(order.out_trade_no, 12900, TX, appid=OTHER_APPID))
    assert response.status_code == 403
    assert "<return_msg><![CDATA[商户号或appid不符]]></return_msg>" in response.content.decode()
    _nothing_written(order)


def test_hmac_merchant_refuses_a_notification_signed_with_md5(client, order, merchant):
    merchant.sign_type = "HMAC-SHA256"
    merchant.save()
    body = v2_body(order.out_trade_no, 12900, TX, sign_type="MD5", include_sign_type=True)
    response = post_v2(client, body)
    assert response.status_code == 403
    assert "<return_msg><![CDATA[签名失败]]></return_msg>" in response.content.decode()
    _nothing_written(order)


def test_v3_notification_replayed_inside_the_window_is_stored_once(client, order, platform_key):
    body, headers = v3_request(platform_key, order.out_trade_no, 12900, TX)
    assert [post_v3(client, body, headers).status_code for _ in range(3)] == [204, 204, 204]
    assert RawDelivery.objects.count() == 1
    assert list(PaymentNotification.objects.values_list("outcome", flat=True)) == ["paid"]


def test_v2_notification_replayed_even_reformatted_is_stored_once(client, order):
    body = v2_body(order.out_trade_no, 12900, TX)
    # Same signed fields, written differently: whitespace, an extra empty element.
    reformatted = body.replace(b"<xml>", b"<xml>\n  <device_info></device_info>\n")
    assert post_v2(client, body).status_code == 200
    assert post_v2(client, reformatted).status_code == 200
    assert RawDelivery.objects.count() == 1
    assert list(PaymentNotification.objects.values_list("outcome", flat=True)) == ["paid"]


def test_malformed_v2_bodies_are_recorded_capped_and_rate_limited(client, merchant):
    """Unauthenticated bytes: at most 10 records of at most 2048 bytes per merchant per minute."""
    body = b"<xml><return_code>" + b"A" * 10_000
    assert [post_v2(client, body).status_code for _ in range(12)] == [400] * 12
    records = RawDelivery.objects.all()
    assert records.count() == 10
    assert {len(bytes(r.body)) for r in records} == {2048}
    assert {r.status for r in records} == {"rejected"}
    assert records[0].error.endswith(f"(body cut to 2048 of {len(body)} bytes)")


def test_refund_notification_cannot_refund_another_merchants_order(client, merchant, other_order):
    mark_order_paid(other_order, transaction_id=TX, paid_at=timezone.now(), notify=False)
    response = post_v2(client, refund_body(other_order.out_trade_no, 12900, "RF-OTHER-1"))
    assert response.status_code == 200
    other_order.refresh_from_db()
    assert (other_order.status, other_order.refunded_fen) == ("paid", 0)
    assert Refund.objects.count() == 0
    assert PaymentNotification.objects.get().outcome == "unknown_order"


def test_refund_notification_naming_another_appid_is_refused(client, order):
    mark_order_paid(order, transaction_id=TX, paid_at=timezone.now(), notify=False)
    response = post_v2(client, refund_body(order.out_trade_no, 12900, "RF-1", appid=OTHER_APPID))
    assert response.status_code == 403
    assert "<return_msg><![CDATA[商户号或appid不符]]></return_msg>" in response.content.decode()
    assert (RawDelivery.objects.count(), Refund.objects.count()) == (0, 0)
    assert Order.objects.get(pk=order.pk).refunded_fen == 0
