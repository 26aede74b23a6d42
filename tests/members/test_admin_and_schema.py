"""Admin lists of every members model load with data; the API schema includes the resources."""

import pytest
from django.test import TestCase

from members.actions import issue_coupon, join_membership, record_cash_sale
from members.models import CouponTemplate


@pytest.mark.parametrize(
    "model",
    [
        "tier",
        "membership",
        "pointsentry",
        "store",
        "merchantconfig",
        "order",
        "refund",
        "paymentnotification",
        "poscharge",
        "coupontemplate",
        "coupon",
        "payeropenid",
    ],
)
def test_admin_changelist_and_change_pages_load(
    admin_client, model, merchant, store, tiers, customer
):
    membership, _ = join_membership(customer, via="pos")
    record_cash_sale(amount_fen=1000, store=store, customer=customer)
    issue_coupon(
        CouponTemplate.objects.create(name="八五折", kind="discount", value=85), customer, via="pos"
    )
    response = admin_client.get(f"/admin/members/{model}/")
    assert response.status_code == 200


def test_merchant_secrets_are_not_shown_in_the_admin(admin_client, merchant):
    page = admin_client.get(f"/admin/members/merchantconfig/{merchant.pk}/change/").content.decode()
    assert (
        merchant.api_key not in page
        and merchant.apiv3_key not in page
        and merchant.app_secret not in page
    )
    assert repr(merchant) == "<MerchantConfig 10000100>"


def test_merchant_secrets_are_kept_when_the_form_leaves_them_empty(admin_client, merchant):
    data = {
        "mchid": merchant.mchid,
        "name": "改名",
        "appid": merchant.appid,
        "app_secret": "",
        "api_key": "",
        "sign_type": "HMAC-SHA256",
        "apiv3_key": "",
        "platform_serial": merchant.platform_serial,
        "platform_public_key": merchant.platform_public_key,
        "active": "on",
    }
    response = admin_client.post(f"/admin/members/merchantconfig/{merchant.pk}/change/", data)
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert (merchant.name, merchant.sign_type, merchant.api_key) == (
        "改名",
        "HMAC-SHA256",
        "192006250b4c09247ec02edce69f6a2d",
    )


def test_api_schema_lists_the_members_resources(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = set(schema["paths"])
    for path in [
        "/api/v1/members/",
        "/api/v1/members/{id}/points/",
        "/api/v1/coupons/{code}/redeem/",
        "/api/v1/coupon-templates/{id}/issue/",
        "/api/v1/orders/{id}/refund/",
        "/api/v1/pos/charges",
    ]:
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path


def test_issuing_by_wechat_tells_the_customer(api, customer, monkeypatch):
    from crm import inbox
    from tests.crm import senders

    senders.SENT.clear()
    senders.FAIL_WITH.clear()
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    monkeypatch.setitem(inbox.ADDRESS_RESOLVERS, "wechat", "tests.members.addresses.resolve")
    template = CouponTemplate.objects.create(name="满100减20", kind="cash", value=2000)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api.post(
            f"/api/v1/coupon-templates/{template.pk}/issue",
            {"customer": customer.pk, "via": "wechat"},
            format="json",
        )
    assert response.status_code == 201
    assert senders.SENT == [
        (
            f"openid-{customer.pk}",
            "【优惠券到账】您获得一张「满100减20」。查看：http://127.0.0.1:8000/m/coupons",
            "system",
        )
    ]


def test_customer_page_shows_the_members_panel(admin_client, customer, store, tiers):
    membership, _ = join_membership(customer, via="pos")
    order = record_cash_sale(amount_fen=1000, store=store, customer=customer)
    page = admin_client.get(f"/admin/crm/customer/{customer.pk}/change/").content.decode()
    assert membership.member_number in page
    assert f"/admin/members/order/{order.pk}/change/" in page


def test_merchant_keys_are_encrypted_at_rest(merchant):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, apiv3_key, app_secret FROM members_merchantconfig WHERE id = %s",
            [merchant.pk],
        )
        stored = cursor.fetchone()
    assert all(value.startswith("enc1:") for value in stored)
    assert merchant.api_key not in "".join(stored)


@pytest.mark.parametrize("role", ["marketing", "agent", "manager", "superuser"])
def test_orders_cannot_be_added_edited_or_deleted_in_the_admin(
    role, marketing_user, agent_user, manager_user, admin_user, customer, store, tiers
):
    """An order's amount and state come from WeChat Pay or the POS (members.actions): a status
    typed into the admin would change revenue and points without a refund. Every role may at
    most view it: the add page and a POST to the change page are refused and nothing changes
    (before, holders of change_order could set `refunded` or another amount)."""
    from django.test import Client

    user = {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
    }[role]
    order = record_cash_sale(amount_fen=1000, store=store, customer=customer)
    browser = Client()
    browser.force_login(user)
    url = f"/admin/members/order/{order.pk}/change/"
    posted = browser.post(
        url,
        {
            "out_trade_no": order.out_trade_no,
            "customer": customer.pk,
            "amount_fen": 1,
            "channel": order.channel,
            "status": "refunded",
        },
    )
    assert posted.status_code == 403
    assert browser.get("/admin/members/order/add/").status_code == 403
    assert (
        browser.post(f"/admin/members/order/{order.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    order.refresh_from_db()
    assert (order.status, order.amount_fen) == ("paid", 1000)
    can_view = user.has_perm("members.view_order")
    assert browser.get(url).status_code == (200 if can_view else 403)
