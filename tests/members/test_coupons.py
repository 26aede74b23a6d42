"""Coupons: issuing limits and a redemption that happens exactly once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.identity import resolve_customer
from crm.models import Segment
from members.actions import CouponError, issue_coupon, issue_to_segment, redeem_coupon
from members.models import Coupon, CouponTemplate, Store


@pytest.fixture
def template(db, store):
    tpl = CouponTemplate.objects.create(
        name="满100减20", kind="cash", value=2000, min_spend_fen=10000, valid_days=30, stock=100
    )
    tpl.stores.add(store)
    return tpl


def test_issue_respects_per_customer_limit_and_stock(template, customer):
    coupon = issue_coupon(template, customer, via="wechat")
    assert len(coupon.code) == 12
    assert coupon.expires_at == coupon.issued_at + timedelta(days=30)
    with pytest.raises(CouponError) as info:
        issue_coupon(template, customer, via="wechat")
    assert info.value.reason == "over_limit"
    assert info.value.message_dict == {
        "customer": ["This customer already has 1 of this coupon (the limit)."]
    }
    template.refresh_from_db()
    assert template.issued_count == 1
    template.stock = 1
    template.save()
    other = resolve_customer(channel="wechat", keys={"unionid": "u-2"})
    with pytest.raises(CouponError) as info:
        issue_coupon(template, other, via="pos")
    assert info.value.message_dict == {"template": ["This coupon is out of stock."]}


def test_redeem_errors_each_say_why(template, customer, store):
    elsewhere = Store.objects.create(code="BJ001", name="北京三里屯店")
    coupon = issue_coupon(template, customer, via="wechat")
    with pytest.raises(CouponError) as info:
        redeem_coupon(coupon.code, store=elsewhere)
    assert info.value.message_dict == {"store": ["This coupon cannot be used at this store."]}
    with pytest.raises(CouponError) as info:
        redeem_coupon("NOPE", store=store)
    assert info.value.message_dict == {"code": ["No coupon has this code."]}
    redeemed = redeem_coupon(coupon.code.lower(), store=store)
    assert (redeemed.redeemed_store, redeemed.redeemed_at is not None) == (store, True)
    with pytest.raises(CouponError) as info:
        redeem_coupon(coupon.code, store=store)
    assert info.value.reason == "used"
    assert info.value.message_dict["code"][0].startswith("This coupon was already used on ")
    Coupon.objects.filter(pk=coupon.pk).update(redeemed_at=None, expires_at=timezone.now())
    with pytest.raises(CouponError) as info:
        redeem_coupon(coupon.code, store=store)
    assert info.value.message_dict == {"code": ["This coupon has expired."]}


def test_redeem_over_the_per_customer_limit_is_refused(template, customer, store):
    first = issue_coupon(template, customer, via="wechat")
    # A second coupon given by staff beyond the limit (e.g. a migration) cannot be used too.
    extra = Coupon.objects.create(
        code="EXTRA0000001", template=template, customer=customer, issued_via="admin"
    )
    redeem_coupon(first.code, store=store)
    with pytest.raises(CouponError) as info:
        redeem_coupon(extra.code, store=store)
    assert info.value.message_dict == {
        "code": ["This customer has already used this coupon the maximum number of times."]
    }


def test_issue_to_segment_skips_those_at_their_limit(template, customer):
    # A segment coupon is a marketing send: these customers consent (tests/security/test_consent).
    for n in range(3):
        resolve_customer(
            channel="wechat",
            keys={"unionid": f"seg-{n}"},
            defaults={"city": "上海", "consent_marketing": True},
        )
    Customer = type(customer)
    Customer.objects.filter(pk=customer.pk).update(city="上海", consent_marketing=True)
    issue_coupon(template, customer, via="wechat")
    segment = Segment.objects.create(name="上海客户", filters={"city": "上海"})
    assert issue_to_segment(template, segment) == {"issued": 3, "skipped": 1, "no_consent": 0}
    assert Coupon.objects.filter(issued_via="segment", campaign="上海客户").count() == 3


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_redemptions_exactly_one_succeeds(store):
    template = CouponTemplate.objects.create(name="免费咖啡", kind="gift", valid_days=7)
    owner = resolve_customer(channel="wechat", keys={"unionid": "u-coffee"})
    coupon = issue_coupon(template, owner, via="pos")
    barrier = threading.Barrier(20)
    results: list[str] = []
    lock = threading.Lock()

    def attempt():
        try:
            barrier.wait()
            redeem_coupon(coupon.code, store=store)
            outcome = "ok"
        except CouponError as exc:
            outcome = exc.reason
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["used"] * 19
    coupon.refresh_from_db()
    assert coupon.redeemed_store == store
