"""The stored campaign credit of Weibo leads (channels_weibo.LeadCredit) against the rule worked
out live: after each action that changes what attribution reads, the campaign figures and every
event's touches read through the stored credit equal the live computation."""

import io
import random
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from channels_wechat.models import ChannelCode
from channels_weibo.lead_credit import rule_credits
from channels_weibo.models import Campaign, CampaignKol, LeadCredit, WeiboPost
from crm.actions import LeadRequest, create_leads, merge_customers, update_lead
from crm.models import Customer, Lead
from dashboards.kpis.attribution import TOUCHES, campaign_attribution, event_touches
from dashboards.models import EventTouch
from members.actions.membership import join_membership
from members.actions.orders import mark_order_paid, refund_order
from tests.channels_wechat.factories import WeChatUserFactory
from tests.channels_weibo.factories import (
    WeiboAccountFactory,
    WeiboCommentFactory,
    WeiboPostFactory,
    WeiboUserFactory,
)
from tests.crm.factories import CustomerFactory
from tests.dashboards.attribution_data import T0, lead, order, scan

pytestmark = pytest.mark.django_db


def assert_stored_is_live() -> dict:
    """The stored credit is the rule's, and so are the figures and touches read through it;
    returns the stored figures (last touch) of every campaign."""
    assert dict(LeadCredit.objects.values_list("lead_id", "campaign_id")) == {
        lead: campaign for lead, (campaign, _kol) in rule_credits().items()
    }
    assert dict(LeadCredit.objects.values_list("lead_id", "kol_id")) == {
        lead: kol for lead, (_campaign, kol) in rule_credits().items()
    }
    campaigns = list(Campaign.objects.values_list("pk", flat=True))
    for touch in TOUCHES:
        assert campaign_attribution(campaigns, touch) == campaign_attribution(
            campaigns, touch, live=True
        )
    customers = list(Customer.objects.values_list("pk", flat=True))
    assert event_touches(customers) == event_touches(customers, live=True)
    return campaign_attribution(campaigns)


class World:
    """Three overlapping campaigns of one brand sharing KOLs, their KOLs' posts, engagements
    with them (reposts and comments, some outside the dates), Weibo leads opened from them by
    the actions, paid orders, memberships and applied channel-code scans; seeded."""

    def __init__(self, seed: int):
        rng = self.rng = random.Random(seed)
        self.brand = WeiboAccountFactory()
        roots = [
            WeiboPostFactory(account=self.brand, is_brand_post=True, created_at=T0 - timedelta(1))
            for _ in range(2)
        ]
        self.kols = [WeiboUserFactory(screen_name=f"博主{n}") for n in range(4)]
        self.campaigns = []
        for n, (start, end) in enumerate([(1, 7), (4, 12), (6, 9)]):
            campaign = Campaign.objects.create(
                name=f"活动{n}",
                account=self.brand,
                start=date(2026, 11, start),
                end=date(2026, 11, end),
            )
            campaign.posts.add(roots[n % 2])
            for kol in rng.sample(self.kols, 2):
                CampaignKol.objects.create(campaign=campaign, kol=kol, fee_fen=10000)
            self.campaigns.append(campaign)
        kol_posts = []
        for kol in self.kols:
            for _ in range(3):
                at = T0 + timedelta(hours=rng.randint(-48, 240))
                if rng.random() < 0.5:
                    post = WeiboPostFactory(
                        account=self.brand, author=kol, root=rng.choice(roots), created_at=at
                    )
                else:
                    post = WeiboPostFactory(author=kol, mentions_brand=True, created_at=at)
                    WeiboPost.objects.filter(pk=post.pk).update(account=self.brand)
                kol_posts.append(post)
        self.customers = [CustomerFactory() for _ in range(8)]
        requests = []
        for _ in range(30):
            post = rng.choice(kol_posts)
            at = post.created_at + timedelta(hours=rng.randint(1, 120))
            if rng.random() < 0.5:
                source = WeiboPostFactory(parent=post, root=post.root, created_at=at)
            else:
                source = WeiboCommentFactory(post=post, created_at=at)
            customer = rng.choice(self.customers)
            if rng.random() < 0.5:
                lead(customer, source, at)
            else:
                requests.append(LeadRequest(customer.pk, "求链接", source, None, at))
        create_leads(requests, source_channel="weibo")
        follower = WeChatUserFactory(customer=self.customers[0])
        code = ChannelCode.objects.create(
            account=follower.account, name="门店", purpose="store", scene="s1", kind="permanent"
        )
        for customer in self.customers[:4]:
            user = WeChatUserFactory(customer=customer, account=follower.account)
            scan(code, user, T0 + timedelta(hours=rng.randint(0, 200)))
        self.orders = [
            order(rng.choice(self.customers), T0 + timedelta(hours=rng.randint(0, 400)), 1000 * n)
            for n in range(1, 16)
        ]
        for customer in self.customers[:3]:
            join_membership(customer, via="wechat", at=T0 + timedelta(hours=rng.randint(0, 300)))


def _admin_save(client, campaign, *, start, end, posts, kols) -> None:
    """Save `campaign` through its admin form: these dates, brand posts and KOLs (kept rows stay,
    others are deleted, new ones added)."""
    prefix = "campaignkol_set"
    rows = list(CampaignKol.objects.filter(campaign=campaign).order_by("pk"))
    data = {
        "name": campaign.name,
        "account": campaign.account_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "posts": ",".join(str(post.pk) for post in posts),
        "created_at_0": "2026-11-01",
        "created_at_1": "10:00:00",
        "notes": "",
        f"{prefix}-INITIAL_FORMS": str(len(rows)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    wanted = {kol.pk for kol in kols}
    for n, row in enumerate(rows):
        data |= {
            f"{prefix}-{n}-id": str(row.pk),
            f"{prefix}-{n}-campaign": str(campaign.pk),
            f"{prefix}-{n}-kol": str(row.kol_id),
            f"{prefix}-{n}-fee_fen": str(row.fee_fen),
        }
        if row.kol_id not in wanted:
            data[f"{prefix}-{n}-DELETE"] = "on"
    new = sorted(wanted - {row.kol_id for row in rows})
    for n, kol_id in enumerate(new, start=len(rows)):
        data |= {f"{prefix}-{n}-kol": str(kol_id), f"{prefix}-{n}-fee_fen": "0"}
    data[f"{prefix}-TOTAL_FORMS"] = str(len(rows) + len(new))
    url = reverse("admin:channels_weibo_campaign_change", args=[campaign.pk])
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leads_opened_by_the_actions_are_credited_as_the_rule_says(seed):
    World(seed)
    figures = assert_stored_is_live()
    assert LeadCredit.objects.exists()
    assert any(f["orders"] for f in figures.values())
    assert len({campaign for campaign, _kol in figures}) >= 2, figures


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_campaign_edits_in_the_admin_move_the_credit(client, marketing_user, seed):
    world = World(seed)
    client.force_login(marketing_user)
    first, second, third = world.campaigns
    # Dates: the first campaign shrinks to two days, the third grows to the whole month.
    _admin_save(
        client,
        first,
        start=date(2026, 11, 2),
        end=date(2026, 11, 3),
        posts=first.posts.all(),
        kols=first.kols.all(),
    )
    assert_stored_is_live()
    _admin_save(
        client,
        third,
        start=date(2026, 11, 1),
        end=date(2026, 11, 30),
        posts=third.posts.all(),
        kols=third.kols.all(),
    )
    assert_stored_is_live()
    # KOL list: the second campaign takes every KOL, then drops all but one.
    _admin_save(
        client,
        second,
        start=second.start,
        end=second.end,
        posts=second.posts.all(),
        kols=world.kols,
    )
    assert_stored_is_live()
    _admin_save(
        client,
        second,
        start=second.start,
        end=second.end,
        posts=second.posts.all(),
        kols=world.kols[:1],
    )
    assert_stored_is_live()
    # Brand posts: the first campaign loses its brand post (only brand mentions count then).
    _admin_save(
        client, first, start=first.start, end=date(2026, 11, 30), posts=[], kols=first.kols.all()
    )
    assert_stored_is_live()
    # Deleted: its leads fall to the other campaigns that reach them, or to none.
    response = client.post(
        reverse("admin:channels_weibo_campaign_delete", args=[first.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not LeadCredit.objects.filter(campaign_id=first.pk).exists()
    assert_stored_is_live()


def test_a_lead_moved_off_weibo_loses_its_credit_and_moved_back_gets_it_again():
    World(4)
    credited = LeadCredit.objects.order_by("pk").first()
    assert credited is not None
    moved = Lead.objects.get(pk=credited.lead_id)
    update_lead(moved, {"source_channel": "manual"})
    assert not LeadCredit.objects.filter(lead_id=moved.pk).exists()
    assert_stored_is_live()
    update_lead(moved, {"source_channel": "weibo"})
    assert LeadCredit.objects.get(lead_id=moved.pk).campaign_id == credited.campaign_id
    assert_stored_is_live()


def test_merges_orders_refunds_and_memberships_read_through_the_stored_credit():
    world = World(5)
    assert_stored_is_live()
    # A merge moves leads (and their credit, which is keyed by lead) and orders to the target.
    merge_customers(world.customers[1], world.customers[2])
    assert_stored_is_live()
    # An order paid through the action, then partly refunded.
    unpaid = order(world.customers[3], None, 4200, status="created")
    mark_order_paid(unpaid, transaction_id="wx-late", paid_at=T0 + timedelta(days=2))
    assert_stored_is_live()
    refund_order(unpaid, 1200, at=T0 + timedelta(days=3))
    assert_stored_is_live()
    join_membership(world.customers[5], via="wechat", at=T0 + timedelta(days=4))
    assert_stored_is_live()
    # A scan applied after the events it now touches (the last touch of the order above).
    follower = WeChatUserFactory(customer=world.customers[3])
    code = ChannelCode.objects.create(
        account=follower.account, name="展会", purpose="event", scene="e1", kind="permanent"
    )
    scan(code, follower, T0 + timedelta(days=2) - timedelta(minutes=1))
    assert_stored_is_live()


def test_rebuild_command_restores_every_credit():
    World(6)
    stored = dict(LeadCredit.objects.values_list("lead_id", "campaign_id"))
    events = EventTouch.objects.count()
    # Each event's touches are stored on PostgreSQL only (the demo's SQLite ranks them live).
    assert (events > 0) == (connection.vendor == "postgresql")
    LeadCredit.objects.all().delete()
    out = io.StringIO()
    EventTouch.objects.all().delete()
    call_command("rebuild_attribution", stdout=out)
    assert out.getvalue().startswith(
        f"{len(stored)} lead(s) credited to a campaign, {events} event(s) attributed in "
    )
    assert EventTouch.objects.count() == events
    assert dict(LeadCredit.objects.values_list("lead_id", "campaign_id")) == stored
    assert_stored_is_live()


def test_the_nightly_task_stores_what_no_action_reported():
    from dashboards.tasks import rebuild_attribution_task

    World(7)
    expected = assert_stored_is_live()
    # Rows written directly (a restore, a script): no action told attribution about them.
    LeadCredit.objects.all().delete()
    EventTouch.objects.all().delete()
    assert campaign_attribution(list(Campaign.objects.values_list("pk", flat=True))) != expected
    result = rebuild_attribution_task.apply().get()
    assert result == {
        "leads_credited": LeadCredit.objects.count(),
        "events_attributed": EventTouch.objects.count(),
    }
    assert assert_stored_is_live() == expected
