"""History import handlers: the same actions as live traffic, with the event's own time."""

from datetime import UTC, datetime

import pytest

from crm.models import Customer, CustomerKey
from members.history import HANDLERS
from members.models import Membership, Order, PointsEntry

UNIONID = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
ORDER = {
    "type": "order",
    "ts": "2026-10-03T12:00:00+08:00",
    "out_trade_no": "202610031200000001",
    "transaction_id": "4200001234202610031234567890",
    "amount_fen": 12900,
    "channel": "pos",
    "store": "SH001",
    "unionid": UNIONID,
}
JOIN = {
    "type": "member_join",
    "ts": "2026-09-28T09:30:00+08:00",
    "unionid": UNIONID,
    "via": "wechat",
}


def test_join_then_order_gives_points_at_the_events_time(db, tiers):
    assert HANDLERS["member_join"](JOIN) == "created"
    assert HANDLERS["member_join"](JOIN) == "duplicate"
    assert HANDLERS["order"](ORDER) == "created"
    assert HANDLERS["order"](ORDER) == "duplicate"
    customer = Customer.objects.get(keys__kind="unionid", keys__value=UNIONID)
    membership = Membership.objects.get(customer=customer)
    assert membership.joined_at == datetime(2026, 9, 28, 1, 30, tzinfo=UTC)
    order = Order.objects.get()
    assert (order.paid_at, order.status, order.store.code, order.customer) == (
        datetime(2026, 10, 3, 4, 0, tzinfo=UTC),
        "paid",
        "SH001",
        customer,
    )
    entry = PointsEntry.objects.get()
    assert (entry.points, entry.occurred_at) == (129, order.paid_at)
    assert customer.stage == "member"


def test_order_by_phone_moves_a_new_customer_to_stage_customer(db):
    event = {
        **ORDER,
        "unionid": None,
        "phone": "+86 138 0013 8000",
        "out_trade_no": "P-1",
        "transaction_id": "",
    }
    assert HANDLERS["order"](event) == "created"
    key = CustomerKey.objects.get(kind="phone")
    assert key.value == "13800138000"
    assert key.customer.stage == "customer"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"ts": "2026-10-03 12:00"},
            "ts must be an ISO 8601 time with an offset, got '2026-10-03 12:00'",
        ),
        ({"amount_fen": "129"}, "amount_fen must be a positive integer (fen), got '129'"),
        ({"amount_fen": 0}, "amount_fen must be a positive integer (fen), got 0"),
        ({"channel": "alipay"}, "channel must be one of jsapi, native, pos, cash, got 'alipay'"),
        ({"out_trade_no": ""}, "out_trade_no is required (at most 32 characters)"),
        ({"unionid": ""}, "the event needs a unionid or a phone to find the customer"),
        (
            {"unionid": "", "phone": "12345"},
            "phone: Enter a valid mobile number, such as 13800138000 or +8613800138000.",
        ),
    ],
)
def test_bad_order_events_say_what_is_wrong_and_write_nothing(db, change, message):
    with pytest.raises(ValueError) as info:
        HANDLERS["order"]({**ORDER, **change})
    assert str(info.value) == message
    assert (Order.objects.count(), Customer.objects.count()) == (0, 0)


def test_bad_join_event(db):
    with pytest.raises(ValueError) as info:
        HANDLERS["member_join"]({**JOIN, "via": "fax"})
    assert str(info.value) == "via must be one of wechat, pos, weibo_campaign, import, got 'fax'"
    assert Membership.objects.count() == 0
