"""A KOL's fee and what the campaign returned on it: the through model (and its migration),
the admin inline, the campaign page and API figures, and the page's query count."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from channels_weibo.models import CampaignKol, WeiboUser
from tests.channels_weibo.factories import CampaignFactory, WeiboPostFactory, WeiboUserFactory
from tests.conftest import client_for
from tests.dashboards.attribution_data import campaign_with_orders

pytestmark = pytest.mark.django_db


def test_migration_keeps_the_kols_of_existing_campaigns():
    executor = MigrationExecutor(connection)
    before = [("channels_weibo", "0002_weibopost_cascade_indexes")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    account = old.get_model("channels_weibo", "WeiboAccount").objects.create(
        uid="1", screen_name="品牌"
    )
    kol = old.get_model("channels_weibo", "WeiboUser").objects.create(uid="2", screen_name="博主")
    campaign = old.get_model("channels_weibo", "Campaign").objects.create(
        name="老活动", account=account, start="2026-11-01", end="2026-11-02"
    )
    campaign.kols.add(kol)
    with connection.cursor() as cursor:  # run the deferred FK checks before the ALTER TABLE
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("channels_weibo"))
    row = CampaignKol.objects.get()
    assert (row.campaign_id, row.kol_id, row.fee_fen) == (campaign.pk, kol.pk, 0)
    assert list(WeiboUser.objects.get(pk=kol.pk).campaigns.values_list("name", flat=True)) == [
        "老活动"
    ]


def test_admin_inline_sets_the_fee(client, marketing_user):
    campaign = CampaignFactory()
    kol = WeiboUserFactory()
    client.force_login(marketing_user)
    url = reverse("admin:channels_weibo_campaign_change", args=[campaign.pk])
    assert client.get(url).status_code == 200
    prefix = "campaignkol_set"
    response = client.post(
        url,
        {
            "name": campaign.name,
            "account": campaign.account_id,
            "start": campaign.start.isoformat(),
            "end": campaign.end.isoformat(),
            "created_at_0": "2026-11-01",
            "created_at_1": "10:00:00",
            "notes": "",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
            f"{prefix}-0-kol": str(kol.pk),
            f"{prefix}-0-fee_fen": "50000",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(CampaignKol.objects.values_list("campaign_id", "kol_id", "fee_fen")) == [
        (campaign.pk, kol.pk, 50000)
    ]


def test_admin_inline_refuses_a_negative_fee(client, marketing_user):
    campaign = CampaignFactory()
    kol = WeiboUserFactory()
    client.force_login(marketing_user)
    url = reverse("admin:channels_weibo_campaign_change", args=[campaign.pk])
    prefix = "campaignkol_set"
    response = client.post(
        url,
        {
            "name": campaign.name,
            "account": campaign.account_id,
            "start": campaign.start.isoformat(),
            "end": campaign.end.isoformat(),
            "created_at_0": "2026-11-01",
            "created_at_1": "10:00:00",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
            f"{prefix}-0-kol": str(kol.pk),
            f"{prefix}-0-fee_fen": "-1",
        },
    )
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {"fee_fen": ["确保该值大于或等于0。"]}
    ]
    assert CampaignKol.objects.count() == 0


def _cells(html: str, row: str) -> list[str]:
    import re

    return re.findall(r'<t[dh] class="(?:fee|customers|members|orders|revenue|roi)">([^<]*)<', row)


def test_campaign_page_shows_fee_revenue_and_return(client, marketing_user):
    s = campaign_with_orders()
    client.force_login(marketing_user)
    body = client.get(reverse("weibo-campaign", args=[s.campaign.pk])).content.decode()
    rows = body.split('id="weibo-campaign"')[1].split("<tr>")
    kol_a = next(r for r in rows if "@博主A" in r)
    kol_b = next(r for r in rows if "@博主B" in r)
    total = rows[-1]
    # fee, customers, members, orders, revenue (yuan), return on the fee
    assert _cells(body, kol_a) == ["500.00", "2", "1", "1", "80.00", "0.16"]
    assert _cells(body, kol_b) == ["0.00", "1", "0", "1", "50.00", "—"]
    assert _cells(body, total) == ["500.00", "3", "1", "2", "130.00", "0.26"]


def test_campaign_api_gives_the_same_figures(marketing_user):
    s = campaign_with_orders()
    response = client_for(marketing_user).get(f"/api/v1/weibo/campaigns/{s.campaign.pk}/stats/")
    assert response.status_code == 200
    kols = {k["screen_name"]: k for k in response.json()["kols"]}
    assert {
        name: (k["fee_fen"], k["customers"], k["members"], k["orders"], k["revenue_fen"], k["roi"])
        for name, k in kols.items()
    } == {"博主A": (50000, 2, 1, 1, 8000, 0.16), "博主B": (0, 1, 0, 1, 5000, None)}
    total = response.json()["total"]
    assert (total["fee_fen"], total["revenue_fen"], total["roi"]) == (50000, 13000, 0.26)


def _campaign_with_kols(count: int):
    campaign = CampaignFactory()
    root = WeiboPostFactory(account=campaign.account, is_brand_post=True)
    campaign.posts.add(root)
    for i in range(count):
        kol = WeiboUserFactory()
        CampaignKol.objects.create(campaign=campaign, kol=kol, fee_fen=100 * i)
        WeiboPostFactory(account=campaign.account, author=kol, root=root)
    return campaign


@pytest.mark.parametrize("kols", [1, 4])
def test_campaign_page_attribution_costs_two_queries_whatever_the_kols(
    client, marketing_user, django_assert_num_queries, kols
):
    """The fees and the attribution are one query each; the rest is the per-KOL reach."""
    campaign = _campaign_with_kols(kols)
    client.force_login(marketing_user)
    url = reverse("weibo-campaign", args=[campaign.pk])
    client.get(url)  # content types and permissions cached, as on every page after the first
    # Session, user, permissions, campaign, snapshots and content types: 8; 5 per KOL
    # (posts, sums, children, comments, leads + reach share it); fees 1; attribution 1; the
    # leads of the handoffs sent from the campaign 1.
    with django_assert_num_queries(EXPECTED_BASE + 5 * kols) as captured:
        assert client.get(url).status_code == 200
    # The attribution reads what is stored: each event's touches and the leads' credit.
    attribution = [q for q in captured.captured_queries if "dashboards_eventtouch" in q["sql"]]
    fees = [q for q in captured.captured_queries if "fee_fen" in q["sql"]]
    assert (len(attribution), len(fees)) == (1, 1)


EXPECTED_BASE = 13
