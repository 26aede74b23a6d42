"""#16: a Weibo handoff's scan is a touch carrying its lead's campaign and KOL; and the
attribution rule gives the same figures in Python (the demo's SQLite file) as in PostgreSQL."""

from datetime import timedelta

import pytest

from channels_wechat.models import ChannelCode, ChannelCodeScan
from crm.actions import delete_leads
from crm.models import Handoff, Lead
from dashboards.kpis import attribution_portable as portable
from dashboards.kpis.attribution import WINDOW, campaign_attribution, event_touches
from dashboards.kpis.attribution_store import refresh_customers
from dashboards.models import EventTouch
from tests.channels_wechat.factories import WeChatUserFactory
from tests.dashboards.attribution_data import T0, campaign_with_orders

pytestmark = pytest.mark.django_db


def _with_handoff(via: str = "qr"):
    """The scenario, and c2 (lead L2 from KOL B) claims L2's handoff at T0+5h, before paying O3
    at T0+1d: by following through its code (`qr`: the code and the scan), or by opening its
    link inside WeChat (`oauth`: no code, no scan). The code is None for `oauth`."""
    s = campaign_with_orders()
    follower = WeChatUserFactory(customer=s.c2, account=s.code.account)
    handoff = Handoff.objects.create(
        customer=s.c2,
        weibo_uid="7000000002",
        purpose="lead",
        token_hash="0" * 64,
        lead=s.leads["L2"],
        appid=s.code.account.appid,
        scene="ho_test" if via == "qr" else "",
        expires_at=T0 + timedelta(days=1),
        used_at=T0 + timedelta(hours=5),
        used_via=via,
    )
    if via == "oauth":
        return s, handoff, None
    code = ChannelCode.objects.create(
        account=s.code.account,
        name="微博引流",
        purpose="weibo_handoff",
        scene="ho_test",
        kind="temporary",
    )
    ChannelCodeScan.objects.create(
        code=code, user=follower, event="subscribe", applied=True, at=T0 + timedelta(hours=5)
    )
    return s, handoff, code


def test_the_handoff_scan_is_the_last_touch_and_keeps_the_kol():
    s, handoff, code = _with_handoff()
    rows = [r for r in event_touches([s.c2.pk]) if r["event_id"] == s.orders["O3"].pk]
    last = next(r for r in rows if r["touch"] == "last")
    first = next(r for r in rows if r["touch"] == "first")
    assert (last["kind"], last["touch_id"], last["code_id"], last["kol_id"]) == (
        "handoff",
        handoff.pk,
        code.pk,
        s.kol_b.pk,
    )
    assert (first["kind"], first["touch_id"]) == ("weibo_lead", s.leads["L2"].pk)
    c, b = s.campaign.pk, s.kol_b.pk
    assert campaign_attribution([c])[(c, b)] == {
        "customers": 1,
        "members": 0,
        "orders": 1,
        "revenue_fen": 5000,
    }


def test_python_and_postgresql_give_the_same_figures():
    s, _handoff, _code = _with_handoff()
    customers = [s.c1.pk, s.c2.pk, s.c3.pk]
    assert portable.event_touches(customers, WINDOW) == event_touches(customers)
    for touch in ("first", "last"):
        assert portable.campaign_attribution([s.campaign.pk], touch, WINDOW) == (
            campaign_attribution([s.campaign.pk], touch=touch)
        )


def test_a_handoff_opened_inside_wechat_is_the_same_touch_without_a_code():
    s, handoff, _no_code = _with_handoff(via="oauth")
    rows = [r for r in event_touches([s.c2.pk]) if r["event_id"] == s.orders["O3"].pk]
    last = next(r for r in rows if r["touch"] == "last")
    assert (last["kind"], last["touch_id"], last["code_id"], last["kol_id"], last["touch_at"]) == (
        "handoff",
        handoff.pk,
        None,
        s.kol_b.pk,
        T0 + timedelta(hours=5),
    )
    customers = [s.c1.pk, s.c2.pk, s.c3.pk]
    assert portable.event_touches(customers, WINDOW) == event_touches(customers)
    # The stored touches, as the claim's refresh writes them, are the rule's.
    refresh_customers(customers)
    stored = EventTouch.objects.get(event="order", event_id=s.orders["O3"].pk)
    assert (stored.last_kind, stored.last_id) == ("handoff", handoff.pk)
    for touch in ("first", "last"):
        assert campaign_attribution([s.campaign.pk], touch=touch) == campaign_attribution(
            [s.campaign.pk], touch=touch, live=True
        )
    # Claimed through its QR code instead, the handoff is not a second touch beside the scan.
    Handoff.objects.filter(pk=handoff.pk).update(used_via="qr")
    rows = [r for r in event_touches([s.c2.pk]) if r["event_id"] == s.orders["O3"].pk]
    assert {(r["touch"], r["kind"]) for r in rows} == {
        ("first", "weibo_lead"),
        ("last", "weibo_lead"),
    }


def _with_campaign_handoff():
    """The scenario, and c4, who commented on KOL B's post, is sent the handoff link from the
    campaign a day after it ended (T0+6d: the lead it opens is outside the campaign's dates),
    follows through it at T0+6d+1h and pays O5 (6000 fen) at T0+7d."""
    from channels_weibo.lead_credit import credit_leads
    from channels_weibo.models import CampaignHandoff, WeiboPost
    from tests.channels_weibo.factories import WeiboCommentFactory
    from tests.crm.factories import CustomerFactory
    from tests.dashboards.attribution_data import lead, order

    s = campaign_with_orders()
    c4 = CustomerFactory()
    post_b = WeiboPost.objects.get(author=s.kol_b)
    comment = WeiboCommentFactory(post=post_b, created_at=T0 + timedelta(hours=4))
    l4 = lead(c4, comment, T0 + timedelta(days=6))
    handoff = Handoff.objects.create(
        customer=c4,
        weibo_uid=comment.author.uid,
        purpose="campaign",
        token_hash="4" * 64,
        lead=l4,
        appid=s.code.account.appid,
        scene="ho_campaign",
        expires_at=T0 + timedelta(days=7),
        used_at=T0 + timedelta(days=6, hours=1),
    )
    CampaignHandoff.objects.create(handoff=handoff, campaign=s.campaign, kol=s.kol_b)
    credit_leads([l4.pk])  # what send_campaign_handoff does with the CampaignHandoff it writes
    code = ChannelCode.objects.create(
        account=s.code.account,
        name="微博引流",
        purpose="weibo_handoff",
        scene="ho_campaign",
        kind="temporary",
    )
    follower = WeChatUserFactory(customer=c4, account=s.code.account)
    ChannelCodeScan.objects.create(
        code=code, user=follower, event="subscribe", applied=True, at=handoff.used_at
    )
    o5 = order(c4, T0 + timedelta(days=7), 6000)
    return s, c4, l4, handoff, o5


def test_a_campaign_handoff_credits_its_campaign_and_kol_first_and_last():
    s, c4, l4, handoff, o5 = _with_campaign_handoff()
    c, b = s.campaign.pk, s.kol_b.pk
    rows = [r for r in event_touches([c4.pk]) if r["event_id"] == o5.pk]
    assert [
        (r["touch"], r["kind"], r["touch_id"], r["campaign_id"], r["kol_id"]) for r in rows
    ] == [
        ("first", "weibo_lead", l4.pk, c, b),
        ("last", "handoff", handoff.pk, c, b),
    ]
    for touch in ("first", "last"):
        assert campaign_attribution([c], touch=touch)[(c, b)] == {
            "customers": 2,
            "members": 0,
            "orders": 2,
            "revenue_fen": 11000,
        }
    # The campaign page counts the handoff's lead under KOL B although it was opened later.
    from channels_weibo.campaigns import campaign_stats

    leads = {row["kol_id"]: row["leads"] for row in campaign_stats(s.campaign)["kols"]}
    assert leads == {s.kol_a.pk: 2, b: 2}


def test_a_campaign_handoff_whose_lead_was_deleted_keeps_its_credit():
    s, c4, l4, handoff, o5 = _with_campaign_handoff()
    delete_leads(Lead.objects.filter(pk=l4.pk))
    rows = [r for r in event_touches([c4.pk]) if r["event_id"] == o5.pk]
    assert [(r["touch"], r["kind"], r["campaign_id"], r["kol_id"]) for r in rows] == [
        ("first", "handoff", s.campaign.pk, s.kol_b.pk),
        ("last", "handoff", s.campaign.pk, s.kol_b.pk),
    ]
    assert campaign_attribution([s.campaign.pk])[(s.campaign.pk, s.kol_b.pk)]["orders"] == 2


@pytest.mark.parametrize("lead_deleted", [False, True])
def test_python_and_postgresql_agree_on_campaign_handoffs(lead_deleted):
    s, c4, l4, _handoff, _o5 = _with_campaign_handoff()
    if lead_deleted:
        delete_leads(Lead.objects.filter(pk=l4.pk))
    customers = [s.c1.pk, s.c2.pk, s.c3.pk, c4.pk]
    assert portable.event_touches(customers, WINDOW) == event_touches(customers)
    for touch in ("first", "last"):
        assert portable.campaign_attribution([s.campaign.pk], touch, WINDOW) == (
            campaign_attribution([s.campaign.pk], touch=touch)
        )
