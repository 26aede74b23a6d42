"""The cross-channel funnel on the hand-built cohort (datasets.py); each expected count is
explained inline."""

from datetime import date

from crm.actions import create_lead
from crm.models import Customer, Interaction
from tests.crm.factories import CustomerFactory

from .datasets import END, START, local


def test_funnel_counts_every_step(cohort):
    from dashboards import kpis

    assert kpis.funnel(START, END) == {
        "customers": 4,  # c1..c4; the one before the period and the merged one are not
        "leads": 3,  # c1 has a lead; c2 paid; c3 was a member
        "customers_paid": 2,  # c2, c3
        "members": 1,  # c3
        "lead_rate": 0.75,
        "customer_rate": 0.5,
        "member_rate": 0.25,
        "weibo_sourced": 2,  # c1, c4
        "weibo_to_wechat": 1,  # c1 subscribed on WeChat
        "weibo_to_wechat_rate": 0.5,
        # c1 took in a WeChat customer by a staff merge (MergeRecord reason manual).
        "weibo_to_wechat_by_path": {
            "oauth_link": 0,
            "handoff_qr": 0,
            "verified_phone": 0,
            "unionid": 0,
            "manual_merge": 1,
            "other": 0,
        },
    }


def test_funnel_of_one_first_touch_channel(cohort):
    from dashboards import kpis

    figures = kpis.funnel(START, END, "weibo")
    assert (figures["customers"], figures["leads"], figures["weibo_to_wechat"]) == (2, 1, 1)


def test_empty_funnel_has_null_rates(db):
    from dashboards import kpis

    figures = kpis.funnel(date(2020, 1, 1), date(2020, 1, 2))
    assert figures["customers"] == 0
    assert figures["lead_rate"] is None and figures["weibo_to_wechat_rate"] is None


def test_funnel_is_counted_in_one_query_whatever_the_cohort(cohort):
    """One grouped query, the paths to WeChat included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dashboards import kpis

    for start, expected in ((date(2020, 1, 1), 1), (START, 1), (date(2030, 1, 1), 1)):
        with CaptureQueriesContext(connection) as captured:
            kpis.funnel(start, END if start < END else start)
        selects = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
        assert len(selects) == expected


def test_a_lead_counts_for_a_customer_whose_stage_is_below_lead(db):
    from dashboards import kpis

    at = local(2026, 11, 2, 10)
    follower = CustomerFactory(first_channel="wechat", created_at=at)
    create_lead(follower, title="问价", source_channel="wechat")
    # A lead on a follower with no stage change on record (as imported data may be): it counts.
    Customer.objects.filter(pk=follower.pk).update(stage="follower")
    Interaction.objects.filter(customer=follower, kind="stage_change").delete()
    figures = kpis.funnel(START, END)
    assert (figures["customers"], figures["leads"], figures["customers_paid"]) == (1, 1, 0)
