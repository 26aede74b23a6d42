"""Finding 10 of issue #14: the POS API takes a POS device key of one store, never a staff token,
and a coupon is used only with the card of the member who holds it."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from crm.identity import resolve_customer
from crm.models import Interaction
from members import qr
from members.actions import issue_coupon, join_membership, record_cash_sale
from members.models import CouponTemplate, Order, PosCharge, PosDevice, Store
from members.models.pos import hash_device_key
from tests.conftest import client_for
from tests.members.pos import till_for

NEEDS_DEVICE = {"detail": "The POS API takes a POS device key: Authorization: PosDevice <key>."}
BAD_KEY = {"detail": "Unknown or inactive POS device key."}


@pytest.fixture
def two_members(store, tiers, customer):
    """Member A (the `customer` fixture) and member B, B holding a 5-yuan coupon."""
    a, _ = join_membership(customer, via="pos")
    other = resolve_customer(channel="wechat", keys={"unionid": "u-b"}, defaults={"name": "李B"})
    b, _ = join_membership(other, via="pos")
    template = CouponTemplate.objects.create(name="满50减5", kind="cash", value=500)
    return a, b, issue_coupon(template, other, via="admin")


def _pos_calls(charge_id: int, member_code: str):
    return [
        ("post", "/api/v1/pos/charges", {"store": "SH001", "amount_fen": 100}),
        (
            "post",
            "/api/v1/pos/sales",
            {"amount_fen": 8800, "method": "cash", "member_code": member_code},
        ),
        ("post", "/api/v1/pos/members/identify", {"member_code": member_code}),
        ("get", f"/api/v1/pos/charges/{charge_id}", None),
        ("get", f"/api/v1/pos/charges/{charge_id}/qr.svg", None),
        ("get", f"/api/v1/pos/charges/{charge_id}/qr.png", None),
    ]


def test_staff_tokens_and_sessions_do_not_reach_the_pos_api(
    role_clients, admin_user, merchant, store, tiers, customer
):
    membership, _ = join_membership(customer, via="pos")
    code = qr.member_code(membership)
    charge = PosCharge.objects.create(
        order=record_cash_sale(amount_fen=100, store=store), store=store
    )
    session = client_for(None)
    session.force_login(admin_user)
    clients = {**role_clients, "superuser session": session}
    for who, api in clients.items():
        for method, url, body in _pos_calls(charge.pk, code):
            response = getattr(api, method)(url, body, format="json")
            assert (who, url, response.status_code, response.json()) == (
                who,
                url,
                401,
                NEEDS_DEVICE,
            )
            assert response["WWW-Authenticate"] == "PosDevice"
    assert (Order.objects.count(), PosCharge.objects.count()) == (1, 1)
    membership.refresh_from_db()
    assert membership.points_balance == 0


def test_no_staff_role_holds_the_pos_permission(db):
    holders = Group.objects.filter(permissions__codename="add_poscharge")
    assert list(holders) == []


def test_sale_refuses_another_members_coupon_and_writes_nothing(two_members, store):
    a, b, coupon = two_members
    interactions = Interaction.objects.count()
    sale = till_for(store).post(
        "/api/v1/pos/sales",
        {
            "amount_fen": 8800,
            "method": "cash",
            "member_code": qr.member_code(a),
            "coupon_code": coupon.code,
        },
        format="json",
    )
    assert (sale.status_code, sale.json()) == (
        400,
        {"coupon_code": ["This coupon belongs to another customer."]},
    )
    coupon.refresh_from_db()
    a.refresh_from_db()
    assert (Order.objects.count(), coupon.redeemed_at, a.points_balance) == (0, None, 0)
    assert Interaction.objects.count() == interactions


def test_sale_refuses_a_coupon_without_its_owners_card(two_members, store):
    _a, _b, coupon = two_members
    sale = till_for(store).post(
        "/api/v1/pos/sales",
        {"amount_fen": 8800, "method": "cash", "coupon_code": coupon.code},
        format="json",
    )
    assert (sale.status_code, sale.json()) == (
        400,
        {
            "coupon_code": [
                "Scan the member's card code too: a coupon is used only by the member who holds it."
            ]
        },
    )
    coupon.refresh_from_db()
    assert (Order.objects.count(), coupon.redeemed_at) == (0, None)


def test_charge_refuses_another_members_coupon_and_writes_nothing(two_members, merchant, store):
    a, _b, coupon = two_members
    charge = till_for(store).post(
        "/api/v1/pos/charges",
        {"amount_fen": 8800, "member_code": qr.member_code(a), "coupon_code": coupon.code},
        format="json",
    )
    assert (charge.status_code, charge.json()) == (
        400,
        {"coupon_code": ["This coupon belongs to another customer."]},
    )
    assert (Order.objects.count(), PosCharge.objects.count()) == (0, 0)


def test_the_owner_uses_their_coupon_at_a_sale(two_members, store):
    _a, b, coupon = two_members
    sale = till_for(store).post(
        "/api/v1/pos/sales",
        {
            "amount_fen": 8800,
            "method": "cash",
            "member_code": qr.member_code(b),
            "coupon_code": coupon.code,
        },
        format="json",
    )
    assert sale.status_code == 201, sale.content
    assert (sale.json()["amount_fen"], sale.json()["discount_fen"], sale.json()["coupon"]) == (
        8300,
        500,
        coupon.code,
    )
    coupon.refresh_from_db()
    b.refresh_from_db()
    assert (coupon.redeemed_store, b.points_balance) == (store, 83)


def test_a_device_acts_for_its_own_store_only(two_members, store):
    a, _b, _coupon = two_members
    other = Store.objects.create(code="SH002", name="徐家汇店")
    theirs = PosCharge.objects.create(
        order=record_cash_sale(amount_fen=100, store=other), store=other
    )
    pos = till_for(store)
    sale = pos.post(
        "/api/v1/pos/sales",
        {"store": "SH002", "amount_fen": 8800, "method": "cash", "member_code": qr.member_code(a)},
        format="json",
    )
    assert (sale.status_code, sale.json()) == (
        400,
        {"store": ["This POS device belongs to store SH001."]},
    )
    assert Order.objects.count() == 1
    assert pos.get(f"/api/v1/pos/charges/{theirs.pk}").status_code == 404
    assert pos.get(f"/api/v1/pos/charges/{theirs.pk}/qr.svg").status_code == 404
    booked = pos.post("/api/v1/pos/sales", {"amount_fen": 100, "method": "card"}, format="json")
    assert (booked.status_code, booked.json()["store"]) == (201, "SH001")


def test_inactive_devices_closed_stores_and_unknown_keys_are_refused(store):
    pos = till_for(store)
    sale = {"amount_fen": 100, "method": "cash"}
    PosDevice.objects.filter(pk=pos.device.pk).update(active=False)
    assert (pos.post("/api/v1/pos/sales", sale, format="json").json()) == BAD_KEY
    PosDevice.objects.filter(pk=pos.device.pk).update(active=True)
    Store.objects.filter(pk=store.pk).update(active=False)
    refused = pos.post("/api/v1/pos/sales", sale, format="json")
    assert (refused.status_code, refused.json()) == (401, BAD_KEY)
    Store.objects.filter(pk=store.pk).update(active=True)
    forged = client_for(None)
    forged.credentials(HTTP_AUTHORIZATION="PosDevice pos_" + "A" * 43)
    refused = forged.post("/api/v1/pos/sales", sale, format="json")
    assert (refused.status_code, refused.json()) == (401, BAD_KEY)
    assert Order.objects.count() == 0
    assert pos.post("/api/v1/pos/sales", sale, format="json").status_code == 201


def test_a_device_key_reaches_nothing_but_the_pos_api(store):
    pos = till_for(store)
    assert pos.get("/api/v1/members").status_code == 401
    assert pos.get("/api/v1/orders").status_code == 401


def test_the_key_is_stored_hashed(store):
    pos = till_for(store)
    device = PosDevice.objects.get()
    assert pos.key.startswith("pos_") and len(pos.key) == 47
    assert (device.key_hash, device.key_prefix) == (hash_device_key(pos.key), pos.key[:12])
    assert pos.key not in repr(device) and device.key_hash not in repr(device)


def test_marketing_registers_a_device_in_the_admin_and_rotates_its_key(
    marketing_user, agent_user, store, tiers
):
    admin = Client()
    admin.force_login(marketing_user)
    added = admin.post(
        "/admin/members/posdevice/add/",
        {"store": store.pk, "name": "2号收银台", "active": "on"},
        follow=True,
    )
    assert added.status_code == 200
    device = PosDevice.objects.get()
    shown = re.findall(r"its key is (pos_[A-Za-z0-9_-]{43})\.", added.content.decode())
    assert len(shown) == 1
    key = shown[0]
    assert (device.store, device.name, device.created_by) == (store, "2号收银台", marketing_user)
    assert device.key_hash == hash_device_key(key)
    change = admin.get(f"/admin/members/posdevice/{device.pk}/change/").content.decode()
    listing = admin.get("/admin/members/posdevice/").content.decode()
    assert key not in change and key not in listing and device.key_hash not in change

    pos = client_for(None)
    pos.credentials(HTTP_AUTHORIZATION=f"PosDevice {key}")
    sale = {"amount_fen": 100, "method": "cash"}
    assert pos.post("/api/v1/pos/sales", sale, format="json").status_code == 201

    rotated = admin.post(
        "/admin/members/posdevice/",
        {"action": "issue_new_key", "_selected_action": [device.pk]},
        follow=True,
    )
    new_key = re.findall(r"its key is (pos_[A-Za-z0-9_-]{43})\.", rotated.content.decode())[0]
    assert new_key != key
    assert pos.post("/api/v1/pos/sales", sale, format="json").status_code == 401
    pos.credentials(HTTP_AUTHORIZATION=f"PosDevice {new_key}")
    assert pos.post("/api/v1/pos/sales", sale, format="json").status_code == 201

    agent = Client()
    agent.force_login(agent_user)
    assert agent.get("/admin/members/posdevice/").status_code == 403
    assert (
        agent.post(
            "/admin/members/posdevice/add/", {"store": store.pk, "name": "x", "active": "on"}
        ).status_code
        == 403
    )
    assert PosDevice.objects.count() == 1
