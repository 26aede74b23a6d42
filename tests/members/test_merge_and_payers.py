"""Members data follows the customer through merges and late identification."""

from crm.actions import merge_customers
from crm.identity import resolve_customer
from crm.models import Customer
from devtools.sandboxes.wechatpay import sandbox_openid
from members.actions import create_order, earn_points, join_membership, record_cash_sale
from members.models import Membership, Order, PayerOpenid, PointsEntry

from .notify import post_v2, v2_body


def test_merge_keeps_one_membership_with_both_ledgers(tiers, store):
    older = resolve_customer(channel="wechat", keys={"unionid": "u-a"})
    newer = resolve_customer(channel="pos", keys={"phone": "13800138001"})
    kept, _ = join_membership(older, via="wechat")
    gone, _ = join_membership(newer, via="pos")
    earn_points(kept, 100, source_ref="a", reason="甲")
    earn_points(gone, 40, source_ref="b", reason="乙")
    order = record_cash_sale(amount_fen=2000, store=store, customer=newer)
    record = merge_customers(newer, older)
    kept.refresh_from_db()
    assert Membership.objects.count() == 1
    assert (kept.points_balance, kept.ledger_sum()) == (160, 160)
    assert set(PointsEntry.objects.values_list("membership_id", flat=True)) == {kept.pk}
    assert Order.objects.get(pk=order.pk).customer == older
    assert sorted(record.moved["members.Order"]) == [str(order.pk)]
    assert record.moved["members.Membership"] == [gone.member_number]
    note = older.interactions.get(kind="merge", data__merged_membership=gone.member_number)
    assert note.summary == f"{gone.member_number} → {kept.member_number}"


def test_merge_moves_the_only_membership(tiers):
    older = resolve_customer(channel="wechat", keys={"unionid": "u-b"})
    newer = resolve_customer(channel="pos", keys={"phone": "13800138002"})
    membership, _ = join_membership(newer, via="pos")
    merge_customers(newer, older)
    membership.refresh_from_db()
    assert membership.customer == older


def test_payment_by_an_unknown_openid_joins_the_customer_when_they_sign_in(
    client, pay_sandbox, merchant, tiers, sign_in
):
    order = create_order(
        amount_fen=6600, channel="native", merchant=merchant, out_trade_no="ANON-1"
    )
    body = v2_body("ANON-1", 6600, "4200009999", openid=sandbox_openid(6))
    assert post_v2(client, body).status_code == 200
    order.refresh_from_db()
    assert (order.status, order.customer, order.payer_openid) == ("paid", None, sandbox_openid(6))
    sign_in(client, 6)
    order.refresh_from_db()
    assert order.customer.keys.get().value == "demo-union-6"
    assert order.customer.stage == "customer"
    assert order.customer.interactions.filter(kind="order").count() == 1


def test_a_stranger_paying_a_members_order_is_recorded_on_the_order_only(
    client, pay_sandbox, order, customer, sign_in
):
    """A cashier can let anyone pay a member's POS order: the payer's openid must not become the
    member's sign-in, nor merge the payer (sandbox user 8, already a customer) into the member."""
    stranger = resolve_customer(channel="wechat", keys={"unionid": "demo-union-8"})
    body = v2_body(order.out_trade_no, 12900, "4200008888", openid=sandbox_openid(8))
    assert post_v2(client, body).status_code == 200
    order.refresh_from_db()
    assert (order.status, order.customer, order.payer_openid) == (
        "paid",
        customer,
        sandbox_openid(8),
    )
    assert PayerOpenid.objects.count() == 0

    response = sign_in(client, 8)
    assert (response.status_code, response["Location"]) == (302, "/m/")
    assert client.session["members_customer"] == stranger.pk
    assert client.get("/m/")["Location"] == "/m/join"  # not the member's card
    assert list(Customer.objects.filter(merged_into__isnull=False)) == []
    assert list(customer.keys.values_list("value", flat=True)) == ["o6_bmasdasdsad6_2sgVt7hMZOPfL"]
    assert list(PayerOpenid.objects.values_list("openid", "customer")) == [
        (sandbox_openid(8), stranger.pk)
    ]
