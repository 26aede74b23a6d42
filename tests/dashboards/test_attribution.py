"""Attribution to revenue (dashboards.kpis.attribution): first and last touch, 30 days."""

from datetime import timedelta

import pytest

from channels_wechat.models import ChannelCodeScan
from dashboards.kpis.attribution import campaign_attribution, event_touches
from tests.dashboards.attribution_data import T0, campaign_with_orders

pytestmark = pytest.mark.django_db


def _touches(rows):
    return [
        (row["event"], row["event_id"], row["touch"], row["kind"], row["touch_id"], row["kol_id"])
        for row in rows
    ]


def test_each_order_and_membership_gets_its_first_and_last_touch_within_30_days():
    s = campaign_with_orders()
    a, b, o = s.kol_a.pk, s.kol_b.pk, s.orders
    l1, l2, l3 = s.leads["L1"].pk, s.leads["L2"].pk, s.leads["L3"].pk
    rows = event_touches([s.c1.pk, s.c2.pk, s.c3.pk])
    memberships = {
        row["customer_id"]: row["event_id"] for row in rows if row["event"] == "membership"
    }
    m1, m3 = memberships[s.c1.pk], memberships[s.c3.pk]
    assert sorted(_touches(rows)) == sorted(
        [
            ("order", o["O1"].pk, "first", "weibo_lead", l1, a),
            ("order", o["O1"].pk, "last", "weibo_lead", l1, a),
            # O2 was paid 40 days after the lead: no touch in its window, not attributed.
            ("order", o["O3"].pk, "first", "weibo_lead", l2, b),
            ("order", o["O3"].pk, "last", "weibo_lead", l2, b),
            ("order", o["O4"].pk, "first", "weibo_lead", l3, a),
            ("order", o["O4"].pk, "last", "channel_code", s.scan.pk, None),
            ("membership", m1, "first", "weibo_lead", l1, a),
            ("membership", m1, "last", "weibo_lead", l1, a),
            ("membership", m3, "first", "weibo_lead", l3, a),
            ("membership", m3, "last", "channel_code", s.scan.pk, None),
        ]
    )
    revenue = {row["event_id"]: row["revenue_fen"] for row in rows if row["event"] == "order"}
    assert revenue == {o["O1"].pk: 8000, o["O3"].pk: 5000, o["O4"].pk: 3000}
    code_rows = [row for row in rows if row["kind"] == "channel_code"]
    assert {row["code_id"] for row in code_rows} == {s.code.pk}
    assert {row["campaign_id"] for row in rows if row["kind"] == "weibo_lead"} == {s.campaign.pk}


def test_campaign_figures_by_last_and_first_touch():
    s = campaign_with_orders()
    a, b, c = s.kol_a.pk, s.kol_b.pk, s.campaign.pk
    assert campaign_attribution([c]) == {
        (c, a): {"customers": 2, "members": 1, "orders": 1, "revenue_fen": 8000},
        (c, b): {"customers": 1, "members": 0, "orders": 1, "revenue_fen": 5000},
        (c, None): {"customers": 3, "members": 1, "orders": 2, "revenue_fen": 13000},
    }
    assert campaign_attribution([c], touch="first") == {
        (c, a): {"customers": 2, "members": 2, "orders": 2, "revenue_fen": 11000},
        (c, b): {"customers": 1, "members": 0, "orders": 1, "revenue_fen": 5000},
        (c, None): {"customers": 3, "members": 2, "orders": 3, "revenue_fen": 16000},
    }


def test_window_edges_are_inclusive_and_a_scan_at_the_same_time_wins_the_tie():
    s = campaign_with_orders()
    o1 = s.orders["O1"]
    # Exactly 30 days after the lead: still attributed.
    o1.paid_at = s.leads["L1"].created_at + timedelta(days=30)
    o1.save()  # no action moves a payment: the rule, worked out live
    figures = campaign_attribution([s.campaign.pk], live=True)
    assert figures[(s.campaign.pk, s.kol_a.pk)]["orders"] == 1
    o1.paid_at += timedelta(seconds=1)
    o1.save()
    figures = campaign_attribution([s.campaign.pk], live=True)
    assert figures[(s.campaign.pk, s.kol_a.pk)]["orders"] == 0
    # A scan at the very time of c2's lead: the scan is the first touch, the lead the last.
    follower = s.scan.user.__class__.objects.create(
        account=s.scan.user.account, openid="oTie", customer=s.c2
    )
    scan = ChannelCodeScan.objects.create(
        code=s.code, user=follower, event="scan", applied=True, at=s.leads["L2"].created_at
    )
    rows = [r for r in event_touches([s.c2.pk]) if r["event_id"] == s.orders["O3"].pk]
    assert [(r["touch"], r["kind"], r["touch_id"]) for r in rows] == [
        ("first", "channel_code", scan.pk),
        ("last", "weibo_lead", s.leads["L2"].pk),
    ]


def test_a_scan_not_applied_is_no_touch():
    s = campaign_with_orders()
    ChannelCodeScan.objects.filter(pk=s.scan.pk).update(applied=False)
    c, a = s.campaign.pk, s.kol_a.pk
    assert campaign_attribution([c], live=True)[(c, a)] == {
        "customers": 2,
        "members": 2,
        "orders": 2,
        "revenue_fen": 11000,
    }


def test_unknown_touch_model_is_refused():
    with pytest.raises(ValueError, match=r"touch must be one of \('first', 'last'\), not 'any'"):
        campaign_attribution([1], touch="any")


def test_no_orders_before_the_campaign_window_count():
    s = campaign_with_orders()
    # An order paid before any touch is not attributed.
    from tests.dashboards.attribution_data import order

    order(s.c1, T0 - timedelta(days=1), 4000)
    c, a = s.campaign.pk, s.kol_a.pk
    assert campaign_attribution([c])[(c, a)]["orders"] == 1


def test_a_later_lead_of_another_campaign_takes_the_last_touch():
    from channels_weibo.models import Campaign, CampaignKol
    from tests.channels_weibo.factories import WeiboPostFactory, WeiboUserFactory
    from tests.dashboards.attribution_data import lead

    s = campaign_with_orders()
    brand = s.campaign.account
    root = WeiboPostFactory(account=brand, is_brand_post=True, created_at=T0)
    other = Campaign.objects.create(name="双十一", account=brand, start=T0.date(), end=T0.date())
    other.posts.add(root)
    kol_c = WeiboUserFactory(screen_name="博主C")
    CampaignKol.objects.create(campaign=other, kol=kol_c, fee_fen=1000)
    post_c = WeiboPostFactory(account=brand, author=kol_c, root=root, created_at=T0)
    repost = WeiboPostFactory(account=brand, root=root, parent=post_c, created_at=T0)
    lead(s.c1, repost, T0 + timedelta(hours=5))  # after L1, before O1 and c1's membership
    c, o = s.campaign.pk, other.pk
    assert campaign_attribution([c, o]) == {
        (c, s.kol_a.pk): {"customers": 2, "members": 0, "orders": 0, "revenue_fen": 0},
        (c, s.kol_b.pk): {"customers": 1, "members": 0, "orders": 1, "revenue_fen": 5000},
        (c, None): {"customers": 3, "members": 0, "orders": 1, "revenue_fen": 5000},
        (o, kol_c.pk): {"customers": 1, "members": 1, "orders": 1, "revenue_fen": 8000},
        (o, None): {"customers": 1, "members": 1, "orders": 1, "revenue_fen": 8000},
    }
    # Asked for the first campaign alone, the figures are the same (c1's later lead counts).
    assert campaign_attribution([c])[(c, s.kol_a.pk)]["orders"] == 0
