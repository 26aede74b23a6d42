"""Staff pages (listening, cascade, campaign), OAuth connect and publishing against the sandbox."""

import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from channels_weibo.actions import publish_due_posts
from channels_weibo.campaigns import campaign_stats
from channels_weibo.ingest import ingest_statuses
from channels_weibo.lead_credit import credit_campaign
from channels_weibo.models import (
    Campaign,
    FollowerSnapshot,
    KeywordRule,
    ScheduledPost,
    TokenStatus,
    WeiboAccount,
    WeiboPost,
    WeiboUser,
)
from channels_weibo.panels import customer_panel
from crm.models import Lead

from .factories import BRAND, status, user


@pytest.fixture
def brand(db):
    return WeiboAccount.objects.create(uid="5988800001", screen_name="花漾美妆", token_status="ok")


@pytest.fixture
def staff_client(client, marketing_user):
    client.force_login(marketing_user)
    return client


@pytest.fixture
def cascade_data(brand):
    root = status(5000000000000001, BRAND, "【新品上市】花漾水光精华液", 0, reposts=3)
    ingest_statuses(brand, [root])
    ingest_statuses(
        brand,
        [
            status(
                5000000000000002,
                user(6100000001, "美妆博主小鹿", 1830000, 0),
                "好物推荐 @花漾美妆",
                5,
                root,
                reposts=1,
                comments=4,
                likes=30,
            ),
            status(
                5000000000000003,
                user(7000000001, "晴天"),
                "好看，求链接//@美妆博主小鹿:好物推荐",
                9,
                root,
            ),
            status(5000000000000004, user(7000000002, "阿飞"), "快递太慢了，差评 @花漾美妆", 12),
        ],
    )
    return root


def test_mentions_page_filters_by_sentiment(staff_client, cascade_data):
    page = staff_client.get("/weibo/mentions/?sentiment=negative", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    body = page.content.decode()
    assert "快递太慢了，差评" in body
    assert "好物推荐" not in body
    assert "Negative: 1" in body


def test_mentions_page_needs_staff(client, cascade_data):
    response = client.get("/weibo/mentions/")
    assert (response.status_code, response["Location"]) == (
        302,
        "/admin/login/?next=/weibo/mentions/",
    )


def test_post_page_shows_the_cascade_tree(staff_client, cascade_data):
    body = staff_client.get(
        "/weibo/posts/5000000000000001/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "2 reposts, depth 2, breadth 1" in body
    tree = body.split('id="cascade-tree"')[1].split("</ul>\n")[0]
    assert tree.index("@花漾美妆") < tree.index("@美妆博主小鹿") < tree.index("@晴天")
    assert staff_client.get("/weibo/posts/999/").status_code == 404


def test_campaign_stats_per_kol(brand, cascade_data, marketing_user):
    rule = KeywordRule.objects.create(name="购买意向", words="求链接", action_lead=True)
    kol = WeiboUser.objects.get(uid="6100000001")
    kol.kol_category = "big_v"
    kol.save()
    # The lead rule was created after ingestion: a new repost via the KOL triggers it.
    ingest_statuses(
        brand,
        [
            status(
                5000000000000005,
                user(7000000003, "小A", 300),
                "求链接//@美妆博主小鹿:好物推荐",
                20,
                cascade_data,
            )
        ],
    )
    day = WeiboPost.objects.get(idstr="5000000000000001").created_at.date()
    FollowerSnapshot.objects.create(
        account=brand, day=day - timedelta(days=1), followers_count=1000
    )
    FollowerSnapshot.objects.create(account=brand, day=day, followers_count=1250)
    campaign = Campaign.objects.create(name="新品种草", account=brand, start=day, end=day)
    campaign.posts.add(WeiboPost.objects.get(idstr="5000000000000001"))
    campaign.kols.add(kol)
    credit_campaign(campaign.pk)  # what saving it in the admin does
    with translation.override("zh-hans"):
        stats = campaign_stats(campaign)
    assert stats["kols"] == [
        {
            "kol_id": kol.pk,
            "uid": "6100000001",
            "screen_name": "美妆博主小鹿",
            "category": "big_v",
            "category_label": "大V",
            "followers": 1830000,
            "posts": 1,
            "reach": 1830000 + 100 + 300,
            "reposts": 2,
            "comments": 4,
            "likes": 30,
            "leads": 1,
            # The lead's customer, by the attribution rule's SQL; no fee, no order yet.
            "fee_fen": 0,
            "fee_yuan": "0.00",
            "customers": 1,
            "members": 0,
            "orders": 0,
            "revenue_fen": 0,
            "revenue_yuan": "0.00",
            "roi": None,
        }
    ]
    assert stats["total"]["new_followers"] == 250
    assert Lead.objects.get().origin == rule


def test_question_quoted_down_the_chain_is_a_lead_only_for_who_asked(brand, cascade_data):
    KeywordRule.objects.create(name="购买意向", words="求链接", action_lead=True)
    kol = WeiboUser.objects.get(uid="6100000001")
    asked = status(
        5000000000000005,
        user(7000000003, "小A"),
        "求链接//@美妆博主小鹿:好物推荐",
        20,
        cascade_data,
    )
    quoted = status(
        5000000000000006,
        user(7000000004, "小B"),
        "//@小A:求链接//@美妆博主小鹿:好物推荐",
        30,
        cascade_data,
    )
    ingest_statuses(brand, [quoted, asked])
    lead = Lead.objects.get()
    assert (lead.customer.name, lead.source_id, lead.title) == (
        "小A",
        str(WeiboPost.objects.get(idstr="5000000000000005").pk),
        "购买意向：求链接//@美妆博主小鹿:好物推荐",
    )
    assert WeiboPost.objects.get(idstr="5000000000000006").keywords == []
    day = WeiboPost.objects.get(idstr="5000000000000001").created_at.date()
    campaign = Campaign.objects.create(name="新品种草", account=brand, start=day, end=day)
    campaign.posts.add(WeiboPost.objects.get(idstr="5000000000000001"))
    campaign.kols.add(kol)
    assert [k["leads"] for k in campaign_stats(campaign)["kols"]] == [1]


def test_customer_panel_shows_weibo_identity(cascade_data):
    customer = WeiboUser.objects.get(uid="7000000002").customer
    title, html = customer_panel(customer)
    assert str(title) == "微博"
    assert "@阿飞" in html and "快递太慢了，差评" in html


def test_oauth_connect_flow_against_the_sandbox(staff_client, weibo_sandbox, marketing_user):
    start = staff_client.get("/weibo/connect/")
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(weibo_sandbox.base + "/oauth2/authorize?client_id=3345678901")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(authorize)
    except urllib.error.HTTPError as exc:
        callback = exc.headers["Location"]
    assert callback.startswith("http://testserver/weibo/oauth/callback/?code=")
    done = staff_client.get(callback.replace("http://testserver", ""))
    account = WeiboAccount.objects.get(uid="5988800001")
    assert (
        done.status_code == 302
        and done["Location"] == f"/admin/channels_weibo/weiboaccount/{account.pk}/change/"
    )
    assert (account.screen_name, account.token_status) == ("花漾美妆", TokenStatus.OK)
    assert account.access_token.startswith("2.00")
    assert 7 * 86400 - 60 < (account.token_expires_at - timezone.now()).total_seconds() <= 7 * 86400
    # The code is single-use: replaying the callback is refused and changes nothing.
    replay = staff_client.get(callback.replace("http://testserver", ""), HTTP_ACCEPT_LANGUAGE="en")
    assert replay.status_code == 302
    assert WeiboAccount.objects.get().access_token == account.access_token


def test_scheduled_post_is_published_through_statuses_share(weibo_sandbox, account):
    due = ScheduledPost.objects.create(
        account=account, text="周末直播预告：今晚8点不见不散！", publish_at=timezone.now()
    )
    later = ScheduledPost.objects.create(
        account=account, text="明天的", publish_at=timezone.now() + timedelta(days=1)
    )
    assert publish_due_posts() == 1
    due.refresh_from_db()
    assert (due.status, due.error) == ("published", "")
    assert due.post.text == "周末直播预告：今晚8点不见不散！"
    assert due.post.is_brand_post and due.result_idstr == due.post.idstr
    assert int(due.result_idstr) in weibo_sandbox.statuses
    assert ScheduledPost.objects.get(pk=later.pk).status == "scheduled"
    assert publish_due_posts() == 0


def test_publishing_error_is_shown_on_the_post(weibo_sandbox, account):
    post = ScheduledPost.objects.create(account=account, text="x" * 2001, publish_at=timezone.now())
    publish_due_posts()
    post.refresh_from_db()
    assert (post.status, post.error) == ("failed", "10017: parameter (status)'s value invalid")


def test_admin_account_list_warns_of_expiring_token(staff_client, admin_user, client, db):
    WeiboAccount.objects.create(
        uid="1",
        screen_name="快过期",
        token_status="ok",
        access_token="t",
        token_expires_at=timezone.now() + timedelta(days=1),
    )
    WeiboAccount.objects.create(
        uid="2", screen_name="已过期", token_status="expired", access_token="t"
    )
    client.force_login(admin_user)
    body = client.get(
        "/admin/channels_weibo/weiboaccount/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "快过期 (1): the Weibo authorisation expires at" in body
    assert "已过期 (2): Expired: authorise again" in body


@pytest.mark.parametrize("url", ["/weibo/mentions/", "/inbox/", "/dashboards/wechat/"])
def test_staff_pages_outside_the_admin_carry_the_site_name(admin_client, url):
    body = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<title>" in body and "社交客户关系管理" in body
    assert "Django" not in body.split("<body")[1].split("</header>")[0]  # not "Django 管理"
