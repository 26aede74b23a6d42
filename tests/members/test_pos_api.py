"""The POS and REST API, end to end with the WeChat Pay sandbox over loopback."""

import json
import urllib.request

import pytest

from members import qr
from members.actions import issue_coupon, join_membership
from members.models import CouponTemplate, Order, PosCharge
from tests.members.pos import till_for


def sandbox_pay(box, out_trade_no, **extra):
    request = urllib.request.Request(
        box.base_url + "/sandbox/pay",
        data=json.dumps({"out_trade_no": out_trade_no, **extra}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as resp:
        return json.loads(resp.read())


@pytest.mark.django_db(transaction=True)
def test_pos_charge_from_qr_code_to_paid_order_points_and_tier(
    live_server, settings, pay_sandbox, merchant, store, tiers, customer
):
    settings.PUBLIC_BASE_URL = live_server.url
    membership, _ = join_membership(customer, via="pos")
    pos = till_for(store)
    response = pos.post(
        "/api/v1/pos/charges",
        {"store": "SH001", "amount_fen": 52000, "member_code": qr.member_code(membership)},
        format="json",
    )
    assert response.status_code == 201, response.content
    charge = response.json()
    assert charge["status"] == "created"
    assert charge["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert charge["qr_svg_url"] == f"http://testserver/api/v1/pos/charges/{charge['id']}/qr.svg"
    assert charge["member"] == {
        "member_number": membership.member_number,
        "tier": "普通会员",
        "points_balance": 0,
    }
    svg = pos.get(f"/api/v1/pos/charges/{charge['id']}/qr.svg")
    assert (svg.status_code, svg["Content-Type"]) == (200, "image/svg+xml")
    assert svg.content.startswith(b"<svg")
    png = pos.get(f"/api/v1/pos/charges/{charge['id']}/qr.png")
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"

    paid = sandbox_pay(pay_sandbox, charge["out_trade_no"], times=3)
    assert paid["deliveries"] == [200, 200, 200]

    polled = pos.get(f"/api/v1/pos/charges/{charge['id']}").json()
    assert polled["status"] == "paid"
    assert polled["transaction_id"] == paid["transaction_id"]
    assert polled["member"] == {
        "member_number": membership.member_number,
        "tier": "银卡会员",
        "points_balance": 520,
    }
    # The payer is recorded on the order only: a payer's openid is learned at a WeChat sign-in,
    # never from paying (anyone may pay a member's order at the till).
    assert Order.objects.get(out_trade_no=charge["out_trade_no"]).payer_openid == paid["openid"]
    assert customer.payer_openids.count() == 0


@pytest.mark.django_db(transaction=True)
def test_pos_charge_with_coupon_discounts_and_redeems_on_payment(
    live_server, settings, pay_sandbox, merchant, store, tiers, customer
):
    settings.PUBLIC_BASE_URL = live_server.url
    membership, _ = join_membership(customer, via="wechat")
    template = CouponTemplate.objects.create(
        name="满100减20", kind="cash", value=2000, min_spend_fen=10000
    )
    coupon = issue_coupon(template, customer, via="wechat")
    pos = till_for(store)
    charge = pos.post(
        "/api/v1/pos/charges",
        {
            "amount_fen": 15000,
            "member_code": qr.member_code(membership),
            "coupon_code": coupon.code,
        },
        format="json",
    ).json()
    assert (charge["amount_fen"], charge["discount_fen"], charge["customer"]) == (
        13000,
        2000,
        customer.pk,
    )
    sandbox_pay(pay_sandbox, charge["out_trade_no"], version="v3")
    coupon.refresh_from_db()
    order = Order.objects.get(out_trade_no=charge["out_trade_no"])
    assert (order.status, coupon.redeemed_order, coupon.redeemed_store) == ("paid", order, store)


def test_pos_charge_errors_are_field_level_and_write_nothing(merchant, store):
    pos = till_for(store)
    response = pos.post(
        "/api/v1/pos/charges",
        {"store": "XX9", "amount_fen": 0},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {
        "store": ["Object with code=XX9 does not exist."],
        "amount_fen": ["Ensure this value is greater than or equal to 1."],
    }
    response = pos.post(
        "/api/v1/pos/charges",
        {"store": "SH001", "amount_fen": 100, "member_code": "forged"},
        format="json",
    )
    assert (response.status_code, response.json()) == (
        400,
        {"member_code": ["This member code is not valid."]},
    )
    assert (Order.objects.count(), PosCharge.objects.count()) == (0, 0)


def test_pos_identifies_a_member_and_records_a_cash_sale(store, tiers, customer):
    membership, _ = join_membership(customer, via="pos")
    pos = till_for(store)
    found = pos.post(
        "/api/v1/pos/members/identify", {"member_code": qr.member_code(membership)}, format="json"
    )
    assert (found.status_code, found.json()["member_number"]) == (200, membership.member_number)
    sale = pos.post(
        "/api/v1/pos/sales",
        {
            "store": "SH001",
            "amount_fen": 8800,
            "method": "cash",
            "member_code": qr.member_code(membership),
        },
        format="json",
    )
    assert sale.status_code == 201
    assert (sale.json()["status"], sale.json()["channel"]) == ("paid", "cash")
    membership.refresh_from_db()
    assert membership.points_balance == 88


def test_coupon_redeem_action_and_its_errors(api, customer, store):
    template = CouponTemplate.objects.create(name="八五折", kind="discount", value=85)
    template.stores.add(store)
    coupon = issue_coupon(template, customer, via="weibo_campaign", campaign="双十一")
    ok = api.post(f"/api/v1/coupons/{coupon.code}/redeem", {"store": "SH001"}, format="json")
    assert (ok.status_code, ok.json()["state"], ok.json()["redeemed_store"]) == (
        200,
        "redeemed",
        "SH001",
    )
    again = api.post(f"/api/v1/coupons/{coupon.code}/redeem", {"store": "SH001"}, format="json")
    assert again.status_code == 400
    assert again.json()["code"][0].startswith("This coupon was already used on ")
    listed = api.get("/api/v1/coupons?state=redeemed&issued_via=weibo_campaign").json()
    assert [row["code"] for row in listed["results"]] == [coupon.code]


def test_members_api_lists_filters_and_adjusts_points(api, customer, tiers):
    membership, _ = join_membership(customer, via="wechat")
    rows = api.get("/api/v1/members?tier=普通会员&ordering=-points_balance").json()
    assert [r["member_number"] for r in rows["results"]] == [membership.member_number]
    created = api.post(
        f"/api/v1/members/{membership.pk}/points",
        {"points": 30, "reason": "客服补偿", "reference": "case-9"},
        format="json",
    )
    assert (created.status_code, created.json()["balance_after"]) == (201, 30)
    replay = api.post(
        f"/api/v1/members/{membership.pk}/points",
        {"points": 30, "reason": "客服补偿", "reference": "case-9"},
        format="json",
    )
    assert (replay.status_code, replay.json()["id"]) == (200, created.json()["id"])
    refused = api.post(
        f"/api/v1/members/{membership.pk}/points", {"points": -31, "reason": "扣减"}, format="json"
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {"points": ["Not enough points: the balance is 30, 31 needed."]},
    )
    ledger = api.get(f"/api/v1/members/{membership.pk}/points").json()
    assert [e["points"] for e in ledger["results"]] == [30]
    csv = api.get("/api/v1/members/export")
    assert csv.status_code == 200
    body = b"".join(csv.streaming_content).decode()
    assert body.splitlines()[1].startswith(f"{membership.member_number},{customer.pk},王芳,")


def test_roles_agent_cannot_refund_or_adjust_manager_reads(role_clients, customer, store, tiers):
    membership, _ = join_membership(customer, via="wechat")
    from members.actions import record_cash_sale

    order = record_cash_sale(amount_fen=1000, store=store, customer=customer)
    agent, manager, anonymous = (
        role_clients["agent"],
        role_clients["manager"],
        role_clients["anonymous"],
    )
    assert (
        agent.post(
            f"/api/v1/orders/{order.pk}/refund", {"amount_fen": 100}, format="json"
        ).status_code
        == 403
    )
    assert (
        agent.post(
            f"/api/v1/members/{membership.pk}/points", {"points": 5, "reason": "x"}, format="json"
        ).status_code
        == 403
    )
    assert manager.get("/api/v1/orders").status_code == 200
    # Tills call the POS API with a device key; no staff token reaches it, whatever the role.
    for role in ("marketing", "agent", "manager", "superuser"):
        refused = role_clients[role].post(
            "/api/v1/pos/charges", {"store": "SH001", "amount_fen": 1}, format="json"
        )
        assert (refused.status_code, refused.json()) == (
            401,
            {"detail": "The POS API takes a POS device key: Authorization: PosDevice <key>."},
        )
    assert anonymous.get("/api/v1/members").status_code == 401
    refund = role_clients["marketing"].post(
        f"/api/v1/orders/{order.pk}/refund", {"amount_fen": 400}, format="json"
    )
    assert (refund.status_code, refund.json()["points_reversed"]) == (201, 4)


def test_coupon_redeem_against_another_customers_order_is_refused(api, customer, store):
    """A coupon is its holder's: naming another customer's order in the redeem call is refused
    with `not_owner` and neither the coupon nor the order changes (before the fix the coupon
    was used on the stranger's order)."""
    from tests.members.factories import OrderFactory

    template = CouponTemplate.objects.create(name="满99减10", kind="cash", value=1000)
    coupon = issue_coupon(template, customer, via="wechat")
    stranger_order = OrderFactory(store=store)
    response = api.post(
        f"/api/v1/coupons/{coupon.code}/redeem",
        {"store": "SH001", "order": stranger_order.out_trade_no},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (response.status_code, response.json()) == (
        400,
        {"order": ["This coupon belongs to another customer."]},
    )
    coupon.refresh_from_db()
    assert (coupon.redeemed_at, coupon.redeemed_order) == (None, None)
    own_order = OrderFactory(store=store, customer=customer)
    ok = api.post(
        f"/api/v1/coupons/{coupon.code}/redeem",
        {"store": "SH001", "order": own_order.out_trade_no},
        format="json",
    )
    assert (ok.status_code, ok.json()["redeemed_order"]) == (200, own_order.out_trade_no)
