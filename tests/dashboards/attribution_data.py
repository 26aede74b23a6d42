"""A small KOL campaign with known attributed figures (see `campaign_with_orders`)."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from channels_wechat.codes import apply_code_scan
from channels_wechat.models import ChannelCode, ChannelCodeScan
from channels_weibo.models import Campaign, CampaignKol, WeiboComment
from crm.actions import create_lead
from crm.models import Lead
from members.actions.membership import join_membership
from members.actions.orders import mark_order_paid, refund_order
from members.models import Order
from tests.channels_wechat.factories import WeChatUserFactory
from tests.channels_weibo.factories import (
    WeiboAccountFactory,
    WeiboCommentFactory,
    WeiboPostFactory,
    WeiboUserFactory,
)
from tests.crm.factories import CustomerFactory
from tests.members.factories import OrderFactory

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


@dataclass
class Scenario:
    campaign: Campaign
    kol_a: object
    kol_b: object
    c1: object
    c2: object
    c3: object
    leads: dict
    orders: dict
    code: ChannelCode
    scan: ChannelCodeScan


def lead(customer, source, at) -> Lead:
    """A Weibo lead from `source`, opened by the action (which credits it to its campaign)."""
    created, _new = create_lead(customer, "购买意向", source_channel="weibo", source=source, at=at)
    return created


def order(customer, paid_at, amount_fen, refunded_fen=0, status="paid") -> Order:
    """An order of `customer`, paid at `paid_at` through the action (unless `status` is
    "created"), then refunded `refunded_fen` through the action."""
    created = OrderFactory(customer=customer, paid_at=None, amount_fen=amount_fen, status="created")
    if status == "created":
        return created
    paid, _outcome = mark_order_paid(
        created, transaction_id=f"wx-{created.pk}", paid_at=paid_at, notify=False
    )
    if refunded_fen:
        refund_order(paid, refunded_fen, at=paid_at + timedelta(hours=1))
        paid.refresh_from_db()
    return paid


def scan(code, user, at) -> ChannelCodeScan:
    """`user` follows through `code` at `at`, applied by the action."""
    apply_code_scan(
        code.account, user, None, code.scene, event="subscribe", new_follower=True, at=at
    )
    return ChannelCodeScan.objects.filter(code=code, user=user).latest("pk")


def member(customer, at):
    membership, _created = join_membership(customer, via="wechat", at=at)
    return membership


def campaign_with_orders() -> Scenario:
    """KOL A (fee 500.00 yuan) and KOL B (no fee) repost the campaign's brand post.

    - c1 reposts A's post (lead L1, T0+1h); pays O1 10000 fen refunded 2000 at T0+5d (→ A),
      O2 7000 fen at T0+40d (no touch in 30 days), joins the membership at T0+2d (→ A);
    - c2 comments on B's post (lead L2, T0+2h); pays O3 5000 at T0+1d (→ B); an unpaid order;
    - c3 reposts A's post (lead L3, T0+3h), then follows through a WeChat channel code
      (T0+1d); pays O4 3000 at T0+2d and joins at T0+2d: last touch the code, first touch A.
    """
    brand = WeiboAccountFactory()
    root = WeiboPostFactory(account=brand, is_brand_post=True, created_at=T0 - timedelta(days=1))
    campaign = Campaign.objects.create(
        name="新品种草", account=brand, start=date(2026, 11, 1), end=date(2026, 11, 7)
    )
    campaign.posts.add(root)
    kol_a = WeiboUserFactory(screen_name="博主A", followers_count=2000)
    kol_b = WeiboUserFactory(screen_name="博主B", followers_count=1000)
    CampaignKol.objects.create(campaign=campaign, kol=kol_a, fee_fen=50000)
    CampaignKol.objects.create(campaign=campaign, kol=kol_b, fee_fen=0)
    post_a = WeiboPostFactory(account=brand, author=kol_a, root=root, created_at=T0)
    post_b = WeiboPostFactory(account=brand, author=kol_b, root=root, created_at=T0)
    c1, c2, c3 = CustomerFactory(), CustomerFactory(), CustomerFactory()
    repost1 = WeiboPostFactory(account=brand, root=root, parent=post_a, created_at=T0)
    comment2: WeiboComment = WeiboCommentFactory(post=post_b, created_at=T0)
    repost3 = WeiboPostFactory(account=brand, root=root, parent=post_a, created_at=T0)
    leads = {
        "L1": lead(c1, repost1, T0 + timedelta(hours=1)),
        "L2": lead(c2, comment2, T0 + timedelta(hours=2)),
        "L3": lead(c3, repost3, T0 + timedelta(hours=3)),
    }
    follower = WeChatUserFactory(customer=c3)
    code = ChannelCode.objects.create(
        account=follower.account,
        name="门店海报",
        purpose="store",
        scene="store-1",
        kind="permanent",
    )
    applied = scan(code, follower, T0 + timedelta(days=1))
    orders = {
        "O1": order(c1, T0 + timedelta(days=5), 10000, refunded_fen=2000),
        "O2": order(c1, T0 + timedelta(days=40), 7000),
        "O3": order(c2, T0 + timedelta(days=1), 5000),
        "unpaid": order(c2, None, 9900, status="created"),
        "O4": order(c3, T0 + timedelta(days=2), 3000),
    }
    member(c1, T0 + timedelta(days=2))
    member(c3, T0 + timedelta(days=2))
    return Scenario(campaign, kol_a, kol_b, c1, c2, c3, leads, orders, code, applied)
