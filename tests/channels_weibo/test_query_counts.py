"""Query-count guards of the Weibo API lists: 2 rows and 20 cost the same queries."""

import pytest

from tests.conftest import client_for

from .factories import (
    CampaignFactory,
    KeywordRuleFactory,
    WeiboAccountFactory,
    WeiboPostFactory,
)


def _accounts(count):
    WeiboAccountFactory.create_batch(count)


def _posts(count):
    """Reposts of a brand post through another repost: author, account, root and parent set."""
    for _ in range(count):
        root = WeiboPostFactory(is_brand_post=True, mentions_brand=False)
        parent = WeiboPostFactory(account=root.account, root=root)
        WeiboPostFactory(account=root.account, root=root, parent=parent)


def _mentions(count):
    for _ in range(count):
        WeiboPostFactory(root=WeiboPostFactory(is_brand_post=True, mentions_brand=False))


def _rules(count):
    for rule in KeywordRuleFactory.create_batch(count):
        rule.accounts.add(WeiboAccountFactory(), WeiboAccountFactory())


def _campaigns(count):
    for campaign in CampaignFactory.create_batch(count):
        posts = WeiboPostFactory.create_batch(2, account=campaign.account, is_brand_post=True)
        campaign.posts.add(*posts)
        campaign.kols.add(*(post.author for post in posts))


@pytest.mark.parametrize(
    "url,make,rows_per_make",
    [
        ("/api/v1/weibo/accounts/", _accounts, 1),
        ("/api/v1/weibo/posts/", _posts, 3),
        ("/api/v1/weibo/mentions/", _mentions, 1),
        ("/api/v1/weibo/keyword-rules/", _rules, 1),
        ("/api/v1/weibo/campaigns/", _campaigns, 1),
    ],
)
def test_weibo_list_costs_the_same_queries_for_2_and_20_rows(
    url, make, rows_per_make, marketing_user, get_counting_queries
):
    api = client_for(marketing_user)
    make(2)
    few, response = get_counting_queries(api, url)
    assert response.json()["count"] == 2 * rows_per_make
    make(18)
    many, response = get_counting_queries(api, url)
    assert response.json()["count"] == 20 * rows_per_make
    assert many == few
