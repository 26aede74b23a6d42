"""Marketing consent (security issue #14, finding 14): a withdrawal wins in a merge, and every
marketing send skips the customers without consent and says how many it skipped."""

import pytest

from crm.models import Customer, Interaction, Segment
from members.models import Coupon, CouponTemplate
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory


def _merge(user, source, target):
    response = client_for(user).post(
        f"/api/v1/customers/{target.pk}/merge/",
        {"source": source.pk},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200, response.content
    return Customer.objects.get(pk=target.pk)


def _consent_entries(customer):
    return list(
        Interaction.objects.filter(customer=customer, kind="other")
        .order_by("id")
        .values_list("channel", "summary", "data")
    )


@pytest.mark.parametrize("target_consent,source_consent", [(True, False), (False, True)])
def test_merge_keeps_a_withdrawal_and_records_it_on_the_timeline(
    marketing_user, target_consent, source_consent
):
    target = CustomerFactory(name="王芳", consent_marketing=target_consent)
    source = CustomerFactory(name="王芳芳", consent_marketing=source_consent)
    merged = _merge(marketing_user, source, target)
    assert merged.consent_marketing is False
    consented, refused = (target, source) if target_consent else (source, target)
    assert _consent_entries(merged) == [
        (
            "system",
            f"Marketing consent withdrawn by the merge: #{refused.pk} had none, "
            f"#{consented.pk} had consented.",
            {"consent_marketing": False, "consented": consented.pk, "without": refused.pk},
        )
    ]


def test_merge_of_two_consenting_customers_keeps_consent_and_records_nothing(marketing_user):
    target = CustomerFactory(consent_marketing=True)
    source = CustomerFactory(consent_marketing=True)
    merged = _merge(marketing_user, source, target)
    assert merged.consent_marketing is True
    assert _consent_entries(merged) == []


def test_segment_coupons_skip_customers_without_consent_and_count_them(marketing_user):
    template = CouponTemplate.objects.create(name="满100减20", kind="cash", value=2000)
    yes = [CustomerFactory(city="杭州", consent_marketing=True) for _ in range(2)]
    no = [CustomerFactory(city="杭州", consent_marketing=False) for _ in range(3)]
    CustomerFactory(city="上海", consent_marketing=True)  # not in the segment
    segment = Segment.objects.create(name="杭州客户", filters={"city": "杭州"})
    response = client_for(marketing_user).post(
        f"/api/v1/coupon-templates/{template.pk}/issue/", {"segment": segment.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"issued": 2, "skipped": 0, "no_consent": 3}
    assert sorted(Coupon.objects.values_list("customer_id", flat=True)) == [c.pk for c in yes]
    assert Coupon.objects.filter(customer__in=no).count() == 0
