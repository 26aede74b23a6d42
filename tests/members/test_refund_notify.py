"""WeChat Pay v2 refund notifications: `req_info` decrypted with the published vector, refunds
made on the merchant platform recorded on their orders, forged ones refused."""

from datetime import UTC, datetime

import pytest

from crm.models import Interaction, RawDelivery
from members import protocol
from members.actions import refund_order
from members.models import Order, PaymentNotification, PointsEntry, Refund
from tests.conftest import clear_own_cache

from .conftest import API_KEY, MCHID
from .notify import post_v2, refund_body, v2_body

# wechatpy tests/test_crypto.py::test_refund_notify_decrypt_message (reference 8.4 P4)
VECTOR_KEY = "OF4Ne3znh8KqL0V4NqmALQa0uXMYKcEk"
VECTOR_REQ_INFO = (
    "51A27s9LxbaEv52nBOrqa0FCs3HVIM31Wc3BpNqSCP5MQlS8HL1Vl7mZ21043B7PZy7adtOZGtZv44lGl0U8JXlVFL4"
    "Ltxsw6+pACjZBB0Qi1LUDjFlP2IyTxYX4eC57kxnCphDdIyRkU67kOWW/HN/efggTUlaPJkoL5kVe9Y1MZF55IHR4lwG"
    "I7WtVLtxATX1tkAVZF+/ri0WlPXo9+GkqeB2/id6Ozw09Tqp8C/TKbmKBpRhTCRU2TzfQoLa6fjbgETFHJ795aEMyUZP"
    "QYbbsz6U9Rj9lUzEh8+Oc8KYTXa9zVk+nnFr82+yjffb3d36ylTe0y/VmYf90rf9cbiJQdM00zZ8Qa99SlMTs2wjOO4M"
    "i4Btlg1PebsLF8TkqbSZkRJDGs61UunUB8Km1b/VeBxXuv4D3H7DiVZ9Fj7lq2j07zFDpxxlhhen7kZvMWWO3lrfFpA9"
    "c4eFOqfF9SxcU9nBmHfDD1g/dsrMl6+a71xQHJ/gn80fZOefUBv92ggqutsuJ4gd4OqkmO0XUs8e4XQyLpra+LvpmahsU"
    "5lBIZuQcMq3FHrqe8hXTfp3+3qym2wGfvPI75jx41VZwmBQy9izB1Id+A5lUeXC5QJy+ryDu/dWkhB+aMjkElaI/Epmcc/"
    "IEPaI73W6Hc58hNednOM536rPnn+GDc98PdGszpLTjmaZSu8dtqwPaym66yRqFQowzFoBbooik57iHUFBCeWya7XcXYL9W"
    "KhRF3uIZM+Kfv9/Zs2pF+w9/EJpltuzPpT1GP2VTMSHz45zwphFlS2lX8wHyZ+k9n2dptzQqpOCPedt5iQAmAe1oNQMxNd"
    "PDH9g68x9UzWD1kfK/dPO+3NPAh0XG+io4x15fIknNf7JLjpAuWicMMzCdwC4hhqeYOzQ+pC9f2xJXi5YViNKIZY69oO8e"
    "oHYRitLZrHLgx3oB2zimmqX6BI+DMklKAzAqqgGmbFxcVTvxZB6cMCx+H7TTWXnjAG+6A3SrCcxg0l5+UB93pkAYR7SVJ+"
    "VaZoiBqlqnZvb7IM17n9XaaFntlzvbbFCIa7OnOQb5Lvw="
)
SUCCESS_XML = (
    "<xml><return_code><![CDATA[SUCCESS]]></return_code>"
    "<return_msg><![CDATA[OK]]></return_msg></xml>"
)
TX = "4200001234202610031234567890"


def test_req_info_of_the_published_vector_decrypts_to_its_refund():
    info = protocol.v2_refund_decrypt(VECTOR_KEY, VECTOR_REQ_INFO)
    assert (
        info["out_refund_no"],
        info["out_trade_no"],
        info["transaction_id"],
        info["refund_id"],
        info["refund_status"],
        info["refund_fee"],
        info["success_time"],
    ) == (
        "1234",
        "2020010418301551404339261814",
        "4200000483202001042069747825",
        "50300103182020010413419046597",
        "SUCCESS",
        "1",
        "2020-01-04 18:34:24",
    )


@pytest.mark.parametrize(
    ("key", "req_info", "error"),
    [
        (API_KEY, VECTOR_REQ_INFO, "req_info does not decrypt with this API key"),
        (VECTOR_KEY, "not base64!", "req_info is not Base64"),
        (VECTOR_KEY, "AAAA", "req_info is not a whole number of AES blocks"),
    ],
)
def test_req_info_that_does_not_decrypt_is_a_protocol_error(key, req_info, error):
    with pytest.raises(protocol.ProtocolError) as exc:
        protocol.v2_refund_decrypt(key, req_info)
    assert str(exc.value) == error


def test_encrypt_then_decrypt_gives_the_fields_back():
    fields = {
        "out_refund_no": "R1",
        "refund_fee": "300",
        "refund_recv_accout": "招商银行信用卡8915",
    }
    assert (
        protocol.v2_refund_decrypt(API_KEY, protocol.v2_refund_encrypt(API_KEY, fields)) == fields
    )


@pytest.fixture
def paid_order(client, order):
    assert post_v2(client, v2_body(order.out_trade_no, 12900, TX)).status_code == 200
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def test_refund_made_on_the_merchant_platform_is_recorded_on_its_order(client, paid_order):
    response = post_v2(client, refund_body(paid_order.out_trade_no, 12900, "RF20261005001"))

    assert (response.status_code, response.content.decode()) == (200, SUCCESS_XML)
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_fen) == ("refunded", 12900)
    refund = Refund.objects.get()
    assert (refund.out_refund_no, refund.refund_id, refund.amount_fen, refund.created_at) == (
        "RF20261005001",
        "5030010318RF20261005001",
        12900,
        datetime(2026, 10, 5, 2, 30, tzinfo=UTC),
    )
    assert refund.points_reversed == 129
    assert [e.points for e in PointsEntry.objects.order_by("id")] == [129, -129]
    notice = PaymentNotification.objects.get(outcome="refunded")
    assert (notice.api_version, notice.amount_fen, notice.order) == ("v2", 12900, paid_order)
    assert notice.data["refund"]["refund_request_source"] == "VENDOR_PLATFORM"
    assert Interaction.objects.filter(kind="refund", customer=paid_order.customer).count() == 1


def test_refund_notification_delivered_twice_refunds_once(client, paid_order):
    body = refund_body(paid_order.out_trade_no, 3000, "RF20261005002")
    assert post_v2(client, body).status_code == 200
    clear_own_cache()  # nothing of the replay check lives in the cache (a v2 one has no time)
    assert post_v2(client, body).status_code == 200

    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_fen) == ("partially_refunded", 3000)
    assert Refund.objects.count() == 1
    # The same req_info again: acknowledged, not stored twice (its ciphertext is its identity).
    assert RawDelivery.objects.filter(source="wechatpay").count() == 2  # the payment, the refund
    outcomes = PaymentNotification.objects.exclude(outcome="paid").values_list("outcome", flat=True)
    assert sorted(outcomes) == ["refunded"]


def test_refund_the_crm_asked_for_itself_is_a_duplicate_that_fills_its_refund_id(
    client, paid_order
):
    refund_order(paid_order, 12900, out_refund_no="RF20261005003", reason="顾客退货")
    post_v2(client, refund_body(paid_order.out_trade_no, 12900, "RF20261005003"))

    assert Refund.objects.get().refund_id == "5030010318RF20261005003"
    assert PaymentNotification.objects.filter(outcome="duplicate").count() == 1
    assert PointsEntry.objects.filter(points__lt=0).count() == 1


def test_refund_closed_is_kept_and_changes_no_order(client, paid_order):
    post_v2(client, refund_body(paid_order.out_trade_no, 12900, "RF4", status="REFUNDCLOSE"))

    paid_order.refresh_from_db()
    assert (paid_order.status, Refund.objects.count()) == ("paid", 0)
    assert PaymentNotification.objects.filter(outcome="refund_failed").count() == 1


def test_refund_above_what_is_left_is_kept_with_its_reason(client, paid_order):
    post_v2(client, refund_body(paid_order.out_trade_no, 13000, "RF5"))

    notice = PaymentNotification.objects.get(outcome="refund_refused")
    assert notice.data["error"] == (
        "The refund must be between 1 and 12900 fen (what is left to refund)."
    )
    assert Order.objects.get(pk=paid_order.pk).refunded_fen == 0


def test_refund_for_an_order_the_crm_does_not_know_is_kept(client, merchant):
    post_v2(client, refund_body("209912310000000001", 100, "RF6"))

    assert PaymentNotification.objects.get().outcome == "unknown_order"


@pytest.mark.parametrize(
    ("key", "mch", "message"),
    [("b" * 32, MCHID, "解密失败"), (API_KEY, "1900000999", "商户号或appid不符")],
    ids=["key", "mch_id"],
)
def test_refund_notification_not_for_this_merchant_is_refused_and_not_stored(
    client, paid_order, key, mch, message
):
    before = RawDelivery.objects.count()
    response = post_v2(client, refund_body(paid_order.out_trade_no, 12900, "RF7", key=key, mch=mch))

    assert response.status_code == 403
    assert f"<return_msg><![CDATA[{message}]]></return_msg>" in response.content.decode()
    assert RawDelivery.objects.count() == before
    assert Refund.objects.count() == 0
