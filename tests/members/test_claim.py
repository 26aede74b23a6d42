"""Finding 3 of issue #14: `/m/claim/<template_id>` hands out only publicly claimable templates,
inside their claim window; every other template answers 404 and nothing is issued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Customer, Interaction
from members.models import Coupon, CouponTemplate, MerchantConfig
from members.views import SESSION_KEY


@pytest.fixture
def member_client(client, db):
    """A visitor signed in to the member pages the way /m/oauth leaves them (the session key)."""
    MerchantConfig.objects.create(
        mchid="10000100", name="m", appid="wx1", app_secret="s", api_key="k" * 32
    )
    customer = Customer.objects.create(name="访客")
    session = client.session
    session[SESSION_KEY] = customer.pk
    session.save()
    client.customer = customer
    return client


def _template(**fields):
    return CouponTemplate.objects.create(
        name=fields.pop("name", "券"), kind="cash", value=500, **fields
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "VIP 专享 满100减50"},  # active, but never published as a claim link
        {"name": "客诉补偿", "public_claim": False},
        {"name": "未开始", "public_claim": True, "claim_starts_at": timedelta(hours=1)},
        {"name": "已结束", "public_claim": True, "claim_ends_at": timedelta(hours=-1)},
        {"name": "已停用", "public_claim": True, "active": False},
    ],
    ids=["not-public", "compensation", "window-not-open", "window-closed", "inactive"],
)
def test_claim_refuses_templates_that_are_not_publicly_claimable_now(member_client, fields):
    now = timezone.now()
    for key in ("claim_starts_at", "claim_ends_at"):
        if key in fields:
            fields[key] = now + fields[key]
    template = _template(**fields)
    page = member_client.get(f"/m/claim/{template.pk}")
    assert page.status_code == 404
    assert template.name not in page.content.decode()
    claimed = member_client.post(f"/m/claim/{template.pk}")
    assert claimed.status_code == 404
    assert "This offer has ended." in claimed.content.decode()
    assert (Coupon.objects.count(), Interaction.objects.count()) == (0, 0)
    template.refresh_from_db()
    assert template.issued_count == 0


def test_claim_gives_a_public_template_inside_its_window(member_client):
    now = timezone.now()
    template = _template(
        name="微博双十一 满200减50",
        public_claim=True,
        claim_starts_at=now - timedelta(hours=1),
        claim_ends_at=now + timedelta(hours=1),
    )
    assert member_client.get(f"/m/claim/{template.pk}").status_code == 200
    claimed = member_client.post(f"/m/claim/{template.pk}?c=weibo")
    assert (claimed.status_code, claimed["Location"]) == (302, "/m/coupons")
    coupon = Coupon.objects.get()
    assert (coupon.template, coupon.customer, coupon.campaign) == (
        template,
        member_client.customer,
        "weibo",
    )


def test_claim_window_empty_ends_mean_open(member_client):
    template = _template(name="长期有效", public_claim=True)
    assert member_client.post(f"/m/claim/{template.pk}").status_code == 302
    assert Coupon.objects.filter(template=template).count() == 1


def test_new_templates_are_not_claimable_by_default(db):
    template = _template()
    assert (template.public_claim, template.claim_starts_at, template.claim_ends_at) == (
        False,
        None,
        None,
    )


def test_admin_edits_the_claim_fields(admin_client):
    template = _template(name="新人礼")
    page = admin_client.get(f"/admin/members/coupontemplate/{template.pk}/change/").content.decode()
    assert 'name="public_claim"' in page
    assert 'name="claim_starts_at_0"' in page and 'name="claim_ends_at_0"' in page


def test_demo_marks_only_its_campaign_template_claimable(db, settings, tmp_path):
    from devtools.demo import members as demo

    settings.BASE_DIR = tmp_path
    demo._setup()
    claimable = CouponTemplate.objects.claimable(timezone.now())
    assert [t.name for t in claimable] == ["微博双十一 满200减50"]


def test_api_sets_the_claim_fields(api):
    created = api.post(
        "/api/v1/coupon-templates",
        {"name": "微博转发礼", "kind": "cash", "value": 300, "public_claim": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["public_claim"], created.json()["claim_ends_at"]) == (True, None)
    assert CouponTemplate.objects.get().public_claim is True
