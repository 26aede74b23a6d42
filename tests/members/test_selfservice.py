"""Member self-service pages: WeChat OAuth against the sandbox, join, card, points, coupons."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from crm.models import Customer, CustomerKey
from devtools.sandboxes.wechatpay import sandbox_openid
from members import qr
from members.actions import earn_points, issue_coupon
from members.models import CouponTemplate, Membership, PayerOpenid

from .conftest import NoRedirect


def _code(client, box, phone):
    """Ask the join page for an SMS code and read it where the SMS sandbox recorded it."""
    assert client.post("/m/join/code", {"phone": phone}).status_code == 200
    with urllib.request.urlopen(f"{box.base_url}/sandbox/sms/{phone}", timeout=5) as sent:  # noqa: S310
        return json.loads(sent.read())["code"]


def test_oauth_sign_in_finds_the_customer_by_unionid_then_join(
    client, pay_sandbox, merchant, tiers, sign_in, sms_sandbox
):
    existing = Customer.objects.create(name="张伟")
    CustomerKey.objects.create(kind="unionid", value="demo-union-7", customer=existing)
    response = sign_in(client, 7)
    assert (response.status_code, response["Location"]) == (302, "/m/")
    assert client.get("/m/")["Location"] == "/m/join"
    assert PayerOpenid.objects.get().openid == sandbox_openid(7)

    refused = client.post("/m/join", {"phone": "12345"})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Enter a valid mobile number, such as 13800138000 or +8613800138000." in body
    assert "Please accept the privacy terms to join." in body
    assert Membership.objects.count() == 0

    code = _code(client, sms_sandbox, "13800138000")
    joined = client.post("/m/join", {"phone": "138 0013 8000", "code": code, "consent": "on"})
    assert (joined.status_code, joined["Location"]) == (302, "/m/")
    membership = Membership.objects.get()
    existing.refresh_from_db()
    assert (membership.customer, membership.joined_via) == (existing, "wechat")
    assert (existing.stage, existing.phone, existing.phone_verified) == (
        "member",
        "13800138000",
        True,
    )
    assert existing.consent_privacy_at is not None

    card = client.get("/m/").content.decode()
    assert f'<div class="big" id="member-number">{membership.member_number}</div>' in card
    assert "<svg" in card


def test_bad_oauth_state_is_refused(client, pay_sandbox, merchant):
    client.get("/m/")
    response = client.get("/m/oauth?code=abc&state=forged")
    assert response.status_code == 400
    assert Customer.objects.count() == 0


def test_points_and_coupons_pages_show_the_members_own_data(
    client, pay_sandbox, merchant, tiers, sign_in, sms_sandbox
):
    sign_in(client, 3)
    code = _code(client, sms_sandbox, "13900001111")
    client.post("/m/join", {"phone": "13900001111", "code": code, "consent": "on"})
    membership = Membership.objects.get()
    earn_points(membership, 88, source_ref="promo:x", reason="新品试用反馈")
    template = CouponTemplate.objects.create(name="满100减20", kind="cash", value=2000)
    coupon = issue_coupon(template, membership.customer, via="wechat")
    points = client.get("/m/points").content.decode()
    assert "新品试用反馈" in points and "+88" in points
    coupons = client.get("/m/coupons").content.decode()
    assert coupon.code in coupons and coupons.count("<svg") == 1


def test_member_code_is_signed(tiers, customer):
    from members.actions import join_membership

    membership, _ = join_membership(customer, via="pos")
    code = qr.member_code(membership)
    assert qr.member_number_from_code(code) == membership.member_number
    assert qr.member_number_from_code(code[:-2] + "xx") is None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_member_joins_on_a_phone_sized_screen(
    live_server, browser_page, pay_sandbox, merchant, tiers, sms_sandbox
):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/m/")
    page.click("text=（用户 2）")  # the sandbox's WeChat user picker
    page.wait_for_selector("#join")
    page.fill("#phone", "13700002222")
    page.click("#send-code")  # 获取验证码: sent by fetch, the button counts down
    page.wait_for_function("document.getElementById('send-code').disabled")
    page.wait_for_function("document.getElementById('send-code').textContent.includes('s)')")
    code = sms_sandbox.last("13700002222")["code"]
    page.fill("#code", code)
    page.click("#join")
    page.wait_for_selector("#consent-error")  # consent is required
    page.fill("#code", code)
    page.check("#consent")
    page.click("#join")
    page.wait_for_selector("#member-number")
    membership = Membership.objects.get()
    assert page.inner_text("#member-number") == membership.member_number
    assert page.inner_text("#points-balance") == "0"
    box = page.locator("#member-qr svg").bounding_box()
    assert box["width"] == 200 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("a[href='/m/coupons']")
    page.wait_for_selector("main .card")
    page.wait_for_load_state("networkidle")


def test_campaign_link_signs_in_then_claims_a_coupon_once(client, pay_sandbox, merchant, tiers):
    template = CouponTemplate.objects.create(
        name="微博双十一 满200减50", kind="cash", value=5000, public_claim=True
    )
    first = client.get(f"/m/claim/{template.pk}?c=%E5%8F%8C%E5%8D%81%E4%B8%80")  # c=双十一
    assert first.status_code == 302  # to WeChat sign-in
    # sign_in() starts from /m/; the claim link's own sign-in comes back to the claim page.
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(first["Location"].replace("#wechat_redirect", "") + "&as=4", timeout=5)
    except urllib.error.HTTPError as exc:
        back = urllib.parse.urlsplit(exc.headers["Location"])
    returned = client.get(f"{back.path}?{back.query}")
    assert urllib.parse.unquote(returned["Location"]) == f"/m/claim/{template.pk}?c=双十一"
    page = client.get(returned["Location"])
    assert page.status_code == 200 and "微博双十一 满200减50" in page.content.decode()
    claimed = client.post(returned["Location"])
    assert (claimed.status_code, claimed["Location"]) == (302, "/m/coupons")
    coupon = template.coupons.get()
    assert (coupon.issued_via, coupon.campaign, coupon.customer.keys.get().value) == (
        "weibo_campaign",
        "双十一",
        "demo-union-4",
    )
    again = client.post(returned["Location"])
    assert again.status_code == 400
    assert "This customer already has 1 of this coupon (the limit)." in again.content.decode()
