"""#16: a Weibo handoff's scan is a touch carrying its lead's campaign and KOL; and the
attribution rule gives the same figures in Python (the demo's SQLite file) as in PostgreSQL."""

from datetime import timedelta

import pytest

from channels_wechat.models import ChannelCode, ChannelCodeScan
from crm.models import Handoff
from dashboards.kpis import attribution_portable as portable
from dashboards.kpis.attribution import WINDOW, campaign_attribution, event_touches
from tests.channels_wechat.factories import WeChatUserFactory
from tests.dashboards.attribution_data import T0, campaign_with_orders

pytestmark = pytest.mark.django_db


def _with_handoff():
    """The scenario, and c2 (lead L2 from KOL B) follows through L2's handoff code at T0+5h,
    before paying O3 at T0+1d."""
    s = campaign_with_orders()
    follower = WeChatUserFactory(customer=s.c2, account=s.code.account)
    code = ChannelCode.objects.create(
        account=s.code.account,
        name="微博引流",
        purpose="weibo_handoff",
        scene="ho_test",
        kind="temporary",
    )
    handoff = Handoff.objects.create(
        customer=s.c2,
        weibo_uid="7000000002",
        purpose="lead",
        token_hash="0" * 64,
        lead=s.leads["L2"],
        appid=s.code.account.appid,
        scene="ho_test",
        expires_at=T0 + timedelta(days=1),
        used_at=T0 + timedelta(hours=5),
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
