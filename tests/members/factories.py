"""factory_boy factories of the members models: tiers, stores, memberships, coupon templates,
coupons and orders. Rows only: points, tiers and stock follow the actions, which tests that
need them call (`join_membership`, `earn_points`, `issue_coupon`...)."""

import factory
from django.utils import timezone

from members.models import Coupon, CouponTemplate, Membership, Order, Store, Tier
from tests.crm.factories import CustomerFactory


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("rank",)

    rank = factory.Sequence(lambda n: n)
    name = factory.Sequence(lambda n: f"等级{n}")
    basis = Tier.Basis.POINTS
    threshold = factory.LazyAttribute(lambda tier: tier.rank * 500)


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ST{n:03d}")
    name = factory.Sequence(lambda n: f"门店{n}")
    city = "上海"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    customer = factory.SubFactory(CustomerFactory)
    member_number = factory.Sequence(lambda n: f"F{n:09d}")
    tier = factory.SubFactory(TierFactory, rank=0, name="普通会员", threshold=0)
    joined_via = "wechat"


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponTemplate

    name = factory.Sequence(lambda n: f"满100减{n + 1}")
    kind = "cash"
    value = 1000
    min_spend_fen = 10000
    valid_days = 30


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    code = factory.Sequence(lambda n: f"CPF{n:012d}")
    template = factory.SubFactory(CouponTemplateFactory)
    customer = factory.SubFactory(CustomerFactory)
    issued_via = "wechat"
    issued_at = factory.LazyFunction(timezone.now)


class OrderFactory(factory.django.DjangoModelFactory):
    """A paid WeChat Pay (JSAPI) order of a new customer."""

    class Meta:
        model = Order

    out_trade_no = factory.Sequence(lambda n: f"FACTORY{n:012d}")
    customer = factory.SubFactory(CustomerFactory)
    channel = "jsapi"
    amount_fen = 9900
    status = "paid"
    paid_at = factory.LazyFunction(timezone.now)
