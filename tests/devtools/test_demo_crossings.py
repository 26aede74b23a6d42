"""#16 item 5: the demo's cross-channel story comes only from the product's paths (handoff links,
channel-code scans, SMS-verified joins, JSAPI payments through the sandbox's notifications), so
the funnel's Weibo → WeChat step and the KOL campaign's revenue are non-zero and no identity is
linked by a made-up unionid."""

import io
from datetime import timedelta

from django.db.models import Count, Sum
from django.utils import timezone

from channels_wechat.models import ChannelCode, ChannelCodeScan, WeChatUser
from channels_weibo.campaigns import campaign_stats
from channels_weibo.models import Campaign, WeiboUser
from crm.models import CustomerKey, Handoff, Interaction, MergeRecord
from dashboards.kpis.funnel import funnel
from devtools.demo import crossings
from devtools.demo import members as members_demo
from devtools.demo import wechat as wechat_demo
from devtools.demo import weibo as weibo_demo
from members.models import Membership, Order, PhoneVerification

from .platforms import demo_platforms


def _load_through_the_platforms(settings, live_server):
    out = io.StringIO()
    with demo_platforms(settings, live_server.url):
        wechat_demo._setup_account()
        members_demo._setup()
        weibo_demo.load(out)
        crossings.load(out)
        crossings.load(out)  # a second run adds nothing
    return out.getvalue()


def test_demo_crosses_channels_only_through_the_real_paths(settings, live_server):
    out = _load_through_the_platforms(settings, live_server)

    assert "crossings: skipped" not in out, out
    assert "crossings: already loaded" in out
    used = Handoff.objects.filter(used_at__isnull=False)
    sent = Handoff.objects.exclude(sent_by="")
    assert sent.count() == crossings.HANDOFFS
    assert 0 < used.count() < sent.count()  # a few never opened their link
    # Every crossing is a handoff merge: the Weibo customer survives, the follower merged in.
    assert MergeRecord.objects.filter(reason="handoff").count() == used.count()
    assert not MergeRecord.objects.exclude(reason="handoff").exists()
    weibo_customers = set(WeiboUser.objects.values_list("customer_id", flat=True))
    assert not CustomerKey.objects.filter(kind="unionid", customer_id__in=weibo_customers).exists()
    assert not WeChatUser.objects.exclude(unionid="").exists()  # the sandbox issued none

    today = timezone.localdate()
    figures = funnel(today - timedelta(days=120), today)
    assert figures["weibo_to_wechat"] == used.count()
    assert figures["weibo_to_wechat_by_path"]["handoff_qr"] == used.count()

    # The channel codes exist at WeChat and every follow through them applied (none unknown).
    codes = ChannelCode.objects.exclude(purpose="weibo_handoff")
    assert sorted(codes.values_list("purpose", flat=True)) == ["campaign", "kol", "kol", "kol"] + [
        "kol",
        "store",
        "store",
    ]
    assert ChannelCodeScan.objects.filter(code__in=codes, applied=True).count() == (
        crossings.SCAN_PEOPLE
    )
    assert not ChannelCodeScan.objects.filter(applied=False).exists()
    assert not Interaction.objects.filter(data__reason="unknown").exists()

    # SMS-verified joins: one verification per joiner, each a member with that phone as a key.
    assert PhoneVerification.objects.filter(verified_at__isnull=False).count() == crossings.JOINERS
    assert Membership.objects.count() == crossings.JOINERS
    assert CustomerKey.objects.filter(kind="phone").count() == crossings.JOINERS

    # Payments: every journey order was paid through the sandbox's notification to the hook.
    orders = Order.objects.filter(out_trade_no__startswith=crossings.ORDER_PREFIX)
    assert orders.count() > 0
    assert set(orders.values_list("status", "channel").distinct()) == {("paid", "jsapi")}
    assert not orders.filter(transaction_id="").exists()

    # The KOL campaign's revenue: the orders of customers who crossed through a KOL lead's
    # handoff, credited to that KOL (the handoff scan is a touch carrying the lead's KOL).
    campaign = Campaign.objects.get()
    stats = campaign_stats(campaign)
    assert stats["total"]["revenue_fen"] > 0
    kol_revenue = sum(row["revenue_fen"] for row in stats["kols"])
    assert kol_revenue == stats["total"]["revenue_fen"]
    crossed = orders.filter(customer__handoffs__used_at__isnull=False)
    assert crossed.exists()
    by_code = orders.filter(customer__wechat_users__code_scans__code__in=codes).aggregate(
        n=Count("pk", distinct=True), revenue=Sum("amount_fen")
    )
    assert by_code["n"] > 0 and by_code["revenue"] > 0
