"""Query-count guards of the members API lists: 2 rows and 20 cost the same queries."""

import pytest
from django.utils import timezone

from tests.conftest import client_for

from .factories import (
    CouponFactory,
    CouponTemplateFactory,
    MembershipFactory,
    OrderFactory,
    StoreFactory,
)


def _members(count):
    MembershipFactory.create_batch(count)


def _templates(count):
    for template in CouponTemplateFactory.create_batch(count):
        template.stores.add(StoreFactory(), StoreFactory())


def _coupons(count):
    for _ in range(count):
        CouponFactory(redeemed_at=timezone.now(), redeemed_store=StoreFactory())


def _orders(count):
    for _ in range(count):
        OrderFactory(store=StoreFactory(), coupon=CouponFactory())


@pytest.mark.parametrize(
    "url,make",
    [
        ("/api/v1/members/", _members),
        ("/api/v1/coupon-templates/", _templates),
        ("/api/v1/coupons/", _coupons),
        ("/api/v1/orders/", _orders),
    ],
)
def test_members_list_costs_the_same_queries_for_2_and_20_rows(
    url, make, marketing_user, get_counting_queries
):
    api = client_for(marketing_user)
    make(2)
    few, response = get_counting_queries(api, url)
    assert response.json()["count"] == 2
    make(18)
    many, response = get_counting_queries(api, url)
    assert response.json()["count"] == 20
    assert many == few
