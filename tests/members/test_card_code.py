"""Finding 2 of issue #14 (the member card part): the member card QR code expires after
MEMBERS_CARD_CODE_MINUTES, the card page fetches a fresh one before then, and the till refuses
an expired or forged code with a clear error and writes nothing."""

import time
import types

import pytest
from django.core import signing

from crm.models import Customer
from members import qr
from members.actions import join_membership
from members.models import MerchantConfig, Order
from members.views import SESSION_KEY
from tests.members.pos import till_for


def minted_ago(membership, seconds: int) -> str:
    """The card code the page showed `seconds` ago (the signer's clock turned back)."""
    real = time.time
    signing_time = signing.time
    signing.time = types.SimpleNamespace(time=lambda: real() - seconds)
    try:
        return qr.member_code(membership)
    finally:
        signing.time = signing_time


@pytest.fixture
def member(tiers, customer):
    membership, _ = join_membership(customer, via="wechat")
    return membership


@pytest.fixture
def member_client(client, member):
    MerchantConfig.objects.create(
        mchid="10000100", name="m", appid="wx1", app_secret="s", api_key="k" * 32
    )
    session = client.session
    session[SESSION_KEY] = member.customer_id
    session.save()
    return client


def test_pos_refuses_an_expired_member_card_code(member, store):
    pos = till_for(store)
    stale = minted_ago(member, 5 * 60 + 1)
    found = pos.post("/api/v1/pos/members/identify", {"member_code": stale}, format="json")
    assert (found.status_code, found.json()) == (
        400,
        {
            "member_code": [
                "This member card code has expired. Ask the member to refresh their card page."
            ]
        },
    )
    sale = pos.post(
        "/api/v1/pos/sales",
        {"amount_fen": 8800, "method": "cash", "member_code": stale},
        format="json",
    )
    assert sale.status_code == 400
    assert sale.json()["member_code"][0].startswith("This member card code has expired.")
    assert Order.objects.count() == 0
    member.refresh_from_db()
    assert member.points_balance == 0


def test_pos_accepts_a_card_code_inside_its_lifetime(member, store):
    pos = till_for(store)
    fresh = minted_ago(member, 4 * 60)
    found = pos.post("/api/v1/pos/members/identify", {"member_code": fresh}, format="json")
    assert (found.status_code, found.json()["member_number"]) == (200, member.member_number)


def test_card_code_lifetime_is_a_setting(member, settings):
    settings.MEMBERS_CARD_CODE_MINUTES = 1
    assert qr.read_member_code(minted_ago(member, 50)) == (member.member_number, "valid")
    assert qr.read_member_code(minted_ago(member, 61)) == (None, "expired")
    assert qr.read_member_code("forged") == (None, "invalid")


def test_pos_refuses_a_forged_card_code(member, store):
    pos = till_for(store)
    forged = qr.member_code(member)[:-3] + "abc"
    found = pos.post("/api/v1/pos/members/identify", {"member_code": forged}, format="json")
    assert (found.status_code, found.json()) == (
        400,
        {"member_code": ["This member code is not valid."]},
    )


def test_card_page_refreshes_its_code_before_it_expires(member_client, member):
    page = member_client.get("/m/")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-refresh-url="/m/card/code"' in body
    assert 'data-refresh-in="240"' in body
    assert '<noscript><meta http-equiv="refresh" content="240"></noscript>' in body
    fresh = member_client.get("/m/card/code")
    assert fresh.status_code == 200
    assert fresh["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    data = fresh.json()
    assert sorted(data) == ["expires_in", "qr_svg", "refresh_in"]
    assert (data["expires_in"], data["refresh_in"]) == (300, 240)
    assert data["qr_svg"].startswith("<svg")


def test_card_code_needs_a_signed_in_member(client, db):
    MerchantConfig.objects.create(
        mchid="10000100", name="m", appid="wx1", app_secret="s", api_key="k" * 32
    )
    anonymous = client.get("/m/card/code")
    assert anonymous.status_code == 302
    assert "/connect/oauth2/authorize" in anonymous["Location"]
    session = client.session
    session[SESSION_KEY] = Customer.objects.create(name="非会员").pk
    session.save()
    not_member = client.get("/m/card/code")
    assert (not_member.status_code, not_member["Location"]) == (302, "/m/join")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_card_page_swaps_in_a_fresh_code_in_the_browser(
    live_server, browser_page, settings, member
):
    from importlib import import_module

    settings.MEMBERS_CARD_CODE_MINUTES = 0.05  # a 3-second code, refreshed after 1 second
    MerchantConfig.objects.create(
        mchid="10000100", name="m", appid="wx1", app_secret="s", api_key="k" * 32
    )
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = member.customer_id
    session.save()
    page = browser_page
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.session_key,
                "url": live_server.url,
            }
        ]
    )
    page.goto(f"{live_server.url}/m/")
    first = page.inner_html("#member-qr-code")
    assert first.startswith("<svg")
    with page.expect_response(lambda r: r.url.endswith("/m/card/code")) as fetched:
        page.wait_for_function(
            "first => document.getElementById('member-qr-code').innerHTML !== first",
            arg=first,
            timeout=10000,
        )
    assert fetched.value.status == 200
    assert page.inner_html("#member-qr-code").startswith("<svg")


def test_card_page_and_till_speak_chinese(member_client, member, store):
    page = member_client.get("/m/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "会员码每隔几分钟自动刷新，截图无效。" in page
    stale = till_for(store).post(
        "/api/v1/pos/members/identify",
        {"member_code": minted_ago(member, 5 * 60 + 1)},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert stale.json() == {"member_code": ["会员码已过期，请会员刷新会员卡页面。"]}
