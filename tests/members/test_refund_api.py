"""Refunds through the API: WeChat Pay (the sandbox over loopback) is asked under a lock on the
order, after the refundable amount is checked (`members.actions.refund_through_platform`)."""

import pytest
from django.db import OperationalError, connections
from django.utils import timezone

from members.actions import mark_order_paid
from members.client import WeChatPayClient
from members.models import Order, PointsEntry, Refund

from .conftest import MCHID

TX = "4200000001202612060000000001"


@pytest.fixture
def paid_order(order, pay_sandbox):
    """The member's order of 129.00 yuan, paid through WeChat Pay (the sandbox knows it)."""
    order, outcome = mark_order_paid(order, transaction_id=TX, paid_at=timezone.now(), notify=False)
    assert outcome == "paid"
    pay_sandbox.orders[order.out_trade_no] = {
        "mchid": MCHID,
        "out_trade_no": order.out_trade_no,
        "total_fee": order.amount_fen,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "refunds": [],
    }
    return order


def test_refund_asks_wechat_pay_and_records_its_refund_id(api, paid_order, pay_sandbox):
    response = api.post(
        f"/api/v1/orders/{paid_order.pk}/refund",
        {"amount_fen": 3000, "reason": "部分退货"},
        format="json",
    )
    assert response.status_code == 201, response.content
    [asked] = pay_sandbox.orders[paid_order.out_trade_no]["refunds"]
    refund = Refund.objects.get()
    assert (refund.out_refund_no, refund.refund_id, refund.amount_fen, refund.reason) == (
        f"R{paid_order.out_trade_no}-1",
        asked["id"],
        3000,
        "部分退货",
    )
    assert (asked["no"], asked["fee"]) == (refund.out_refund_no, 3000)
    assert response.json()["refund_id"] == asked["id"]
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_fen) == ("partially_refunded", 3000)


def test_refund_above_what_is_left_is_refused_before_asking_wechat_pay(
    api, paid_order, pay_sandbox
):
    response = api.post(
        f"/api/v1/orders/{paid_order.pk}/refund", {"amount_fen": 12901}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "amount_fen": ["The refund must be between 1 and 12900 fen (what is left to refund)."]
    }
    assert pay_sandbox.orders[paid_order.out_trade_no]["refunds"] == []
    paid_order.refresh_from_db()
    assert (Refund.objects.count(), paid_order.refunded_fen, paid_order.status) == (0, 0, "paid")


def test_refund_wechat_pay_refuses_is_a_field_error_and_writes_nothing(
    api, paid_order, pay_sandbox
):
    pay_sandbox.orders[paid_order.out_trade_no]["trade_state"] = "NOTPAY"
    response = api.post(
        f"/api/v1/orders/{paid_order.pk}/refund", {"amount_fen": 100}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"payment": ["WeChat Pay: 订单不存在或未支付"]}
    paid_order.refresh_from_db()
    assert (Refund.objects.count(), paid_order.refunded_fen, paid_order.status) == (0, 0, "paid")
    assert list(PointsEntry.objects.values_list("points", flat=True)) == [129]


@pytest.mark.django_db(transaction=True)
def test_the_order_is_locked_while_wechat_pay_is_asked(api, paid_order, monkeypatch):
    """A second refund of the same order waits for the first: it cannot pass the refundable
    check on the amount the first is about to take."""
    real_refund = WeChatPayClient.refund
    seen = []

    def refund_while_probing(self, order, **kwargs):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {Order._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                    [order.pk],
                )
            seen.append("unlocked")
        except OperationalError:
            seen.append("locked")
        finally:
            other.close()
        return real_refund(self, order, **kwargs)

    monkeypatch.setattr(WeChatPayClient, "refund", refund_while_probing)
    response = api.post(
        f"/api/v1/orders/{paid_order.pk}/refund", {"amount_fen": 100}, format="json"
    )
    assert response.status_code == 201, response.content
    assert seen == ["locked"]
