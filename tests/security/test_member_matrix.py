"""The member-session matrix (issue #14): signed in to the member pages as member A, every
`/m/` URL, including URLs carrying member B's object ids, reaches nothing of B's: 404 or 403 for
B's objects, and B's phone, name, member number, coupon codes, orders and points never appear in
A's responses; a POST with B's ids writes nothing. Anonymous visitors are sent to sign in.

The URLs come from the members URLconf, so a new `/m/` page is walked as soon as it exists; a
page with a URL parameter this test has no ids for fails until B's ids for it are added below.
"""

import itertools

import pytest
from django.urls import URLPattern, reverse

from crm.models import Customer
from members import urls as member_urls
from members.actions import earn_points, issue_coupon, join_membership, record_cash_sale
from members.models import (
    Coupon,
    CouponTemplate,
    MerchantConfig,
    Order,
    PointsEntry,
    Store,
    Tier,
)
from members.views import SESSION_KEY

SIGN_IN = "/connect/oauth2/authorize"


def member_routes() -> list[URLPattern]:
    routes = [p for p in member_urls.urlpatterns if str(p.pattern).startswith("m/")]
    names = {p.name for p in routes}
    assert names >= {"home", "oauth_callback", "join", "points", "coupons", "orders", "claim"}
    return routes


def _person(name: str, phone: str, unionid: str, store: Store, amount_fen: int, reason: str):
    customer = Customer.objects.create(name=name, phone=phone)
    customer.keys.create(kind="unionid", value=unionid)
    membership, _ = join_membership(customer, via="wechat")
    earn_points(membership, 321, source_ref=f"promo:{unionid}", reason=reason)
    order = record_cash_sale(amount_fen=amount_fen, store=store, customer=customer)
    return customer, membership, order


@pytest.fixture
def world(db):
    MerchantConfig.objects.create(
        mchid="1900000109",
        name="商户",
        appid="wx2421b1c4370ec43b",
        app_secret="s",
        api_key="k" * 32,
    )
    Tier.objects.create(name="普通会员", rank=0, basis="points", threshold=0)
    store_a = Store.objects.create(code="A01", name="甲店")
    store_b = Store.objects.create(code="B01", name="乙店专属门店")
    a, a_member, a_order = _person("甲会员", "13800001111", "u-a", store_a, 12345, "甲的积分奖励")
    b, b_member, b_order = _person(
        "乙贵宾", "13999998888", "u-b", store_b, 77777, "乙的客诉补偿积分"
    )
    shared = CouponTemplate.objects.create(name="会员日 八五折", kind="discount", value=85)
    vip = CouponTemplate.objects.create(name="黑金VIP专享券", kind="cash", value=5000)
    compensation = CouponTemplate.objects.create(name="乙客诉补偿券", kind="cash", value=3000)
    a_coupon = issue_coupon(shared, a, via="wechat")
    b_coupons = [
        issue_coupon(shared, b, via="wechat"),
        issue_coupon(vip, b, via="admin"),
        issue_coupon(compensation, b, via="admin"),
    ]
    b_ids = {
        # URL parameter name -> B's ids for it. A page with a new parameter needs its line here.
        "template_id": [vip.pk, compensation.pk, shared.pk],
        "coupon_id": [c.pk for c in b_coupons],
        "code": [c.code for c in b_coupons],
        "order_id": [b_order.pk],
        "out_trade_no": [b_order.out_trade_no],
        "customer_id": [b.pk],
        "member_number": [b_member.member_number],
    }
    b_secrets = [
        b.phone,
        b.name,
        b_member.member_number,
        b_order.out_trade_no,
        "777.77",
        "乙店专属门店",
        "乙的客诉补偿积分",
        "黑金VIP专享券",
        "乙客诉补偿券",
        *[c.code for c in b_coupons],
    ]
    a_shows = {  # A's own data on A's pages: the pages render data, so B's absence means something
        "/m/": a_member.member_number,
        "/m/points": "甲的积分奖励",
        "/m/coupons": a_coupon.code,
        "/m/orders": "123.45",
    }
    return {"a": a, "b": b, "b_ids": b_ids, "b_secrets": b_secrets, "a_shows": a_shows}


def _urls(route: URLPattern, b_ids: dict) -> list[str]:
    """The route's URLs, one for each combination of B's ids in its parameters."""
    names = list(route.pattern.converters)
    missing = [n for n in names if n not in b_ids]
    assert missing == [], f"add member B's ids for {missing} of /{route.pattern} to the matrix"
    return [
        reverse(f"members:{route.name}", kwargs=dict(zip(names, values, strict=True)))
        for values in itertools.product(*(b_ids[n] for n in names))
    ]


def _counts():
    return (
        Coupon.objects.count(),
        Order.objects.count(),
        PointsEntry.objects.count(),
        Customer.objects.count(),
        CouponTemplate.objects.get(name="黑金VIP专享券").issued_count,
    )


def _signed_in(client, customer):
    session = client.session
    session[SESSION_KEY] = customer.pk  # what /m/oauth leaves after a WeChat sign-in
    session.save()
    return client


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_member_a_reaches_nothing_of_member_b(client, world):
    a_client = _signed_in(client, world["a"])
    seen_own = {}
    checked = 0
    before = _counts()
    for route in member_routes():
        has_ids = bool(route.pattern.converters)
        for url in _urls(route, world["b_ids"]):
            for method in ("get", "post"):
                response = getattr(a_client, method)(url)
                body = _body(response)
                checked += 1
                leaked = [s for s in world["b_secrets"] if s in body]
                assert (method, url, leaked) == (method, url, [])
                if has_ids:
                    assert (method, url, response.status_code) in {
                        (method, url, 404),
                        (method, url, 403),
                    }
                else:
                    # A's own pages: 200, or a redirect inside A's own pages (join -> card).
                    location = response.get("Location", "")
                    assert response.status_code in (200, 302, 400, 405), (method, url)
                    if response.status_code == 302:
                        assert location.startswith("/m/"), (method, url, location)
                    if method == "get" and url in world["a_shows"]:
                        seen_own[url] = world["a_shows"][url] in body
    assert _counts() == before  # nothing written for A from B's ids, nothing of B's changed
    assert seen_own == {url: True for url in world["a_shows"]}
    assert checked >= 2 * (7 + 3)


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    for route in member_routes():
        for url in _urls(route, world["b_ids"]):
            response = client.get(url)
            body = _body(response)
            assert [s for s in world["b_secrets"] if s in body] == []
            if route.name == "oauth_callback":  # the sign-in's return leg: no state, refused
                assert response.status_code == 400
                continue
            assert (url, response.status_code) == (url, 302)
            assert SIGN_IN in response["Location"], url


def test_member_b_ids_for_claim_answer_404_and_issue_nothing(client, world):
    a_client = _signed_in(client, world["a"])
    for template_id in world["b_ids"]["template_id"]:
        assert a_client.post(f"/m/claim/{template_id}").status_code == 404
    assert Coupon.objects.filter(customer=world["a"]).count() == 1
