"""The REST API under /api/v1/weibo/: ids as strings, filters, ordering, roles, errors."""

import pytest

from channels_weibo.ingest import ingest_statuses
from channels_weibo.models import KeywordRule, WeiboAccount, WeiboPost
from tests.conftest import client_for

from .factories import BRAND, status, user

BIG_MID = "5612814510546515491"  # beyond 2^53: a float parser would give ...5490 or ...5500


@pytest.fixture
def brand(db):
    return WeiboAccount.objects.create(
        uid="5988800001", screen_name="花漾美妆", token_status="ok", access_token="secret-token"
    )


@pytest.fixture
def posts(brand):
    rule = KeywordRule.objects.create(name="购买意向", words="求链接")
    root = status(5000000000000001, BRAND, "新品上市", 0, reposts=2, comments=5, likes=9)
    root["mid"] = BIG_MID
    ingest_statuses(brand, [root])
    ingest_statuses(
        brand,
        [
            status(
                5000000000000002, user(7000000001, "小鹿", 5000, 0), "太好用了，爱了 @花漾美妆", 5
            ),
            status(5000000000000003, user(7000000002, "阿飞"), "快递太慢了，差评 @花漾美妆", 6),
            status(5000000000000004, user(7000000003, "晴天"), "好看，求链接//@小鹿:好看", 7, root),
        ],
        mention_stream=False,
    )
    return rule


def test_nineteen_digit_mid_survives_the_api_intact(api, posts):
    response = api.get("/api/v1/weibo/posts/5000000000000001/")
    assert response.status_code == 200
    assert b'"mid":"5612814510546515491"' in response.content
    assert response.json()["idstr"] == "5000000000000001"
    assert (response.json()["reposts_count"], response.json()["attitudes_count"]) == (2, 9)


def test_posts_filter_by_sentiment_keyword_and_account(api, posts):
    negative = api.get("/api/v1/weibo/posts/?sentiment=negative").json()
    assert [p["idstr"] for p in negative["results"]] == ["5000000000000003"]
    matched = api.get(f"/api/v1/weibo/posts/?keyword={posts.pk}").json()
    assert [p["idstr"] for p in matched["results"]] == ["5000000000000004"]
    assert matched["results"][0]["root"] == "5000000000000001"
    assert api.get("/api/v1/weibo/posts/?account=1").json()["count"] == 0
    brand_only = api.get("/api/v1/weibo/posts/?is_brand_post=true").json()
    assert [p["idstr"] for p in brand_only["results"]] == ["5000000000000001"]


def test_posts_ordering_is_whitelisted(api, posts):
    ordered = api.get("/api/v1/weibo/posts/?ordering=-attitudes_count").json()
    assert ordered["results"][0]["idstr"] == "5000000000000001"
    # An unknown field is ignored, not an error, and not used.
    assert api.get("/api/v1/weibo/posts/?ordering=raw").status_code == 200


def test_mentions_list_is_the_listening_set(api, posts):
    found = api.get("/api/v1/weibo/mentions/").json()
    assert [p["idstr"] for p in found["results"]] == [
        "5000000000000004",
        "5000000000000003",
        "5000000000000002",
    ]


def test_cascade_endpoint(api, posts):
    cascade = api.get("/api/v1/weibo/posts/5000000000000001/cascade/").json()
    assert (cascade["reposts"], cascade["depth"], cascade["root"]["children"][0]["idstr"]) == (
        1,
        1,
        "5000000000000004",
    )


def test_accounts_never_show_tokens(api, brand):
    body = api.get("/api/v1/weibo/accounts/5988800001/").json()
    assert body["uid"] == "5988800001"
    assert "access_token" not in body and "app_secret" not in body
    assert b"secret-token" not in api.get("/api/v1/weibo/accounts/").content


def test_keyword_rule_create_and_field_errors(api, brand):
    created = api.post(
        "/api/v1/weibo/keyword-rules/",
        {
            "name": "代理",
            "words": "代理，加盟",
            "exclusions": "假货",
            "accounts": ["5988800001"],
            "action_lead": True,
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["word_list"], created.json()["accounts"]) == (
        ["代理", "加盟"],
        ["5988800001"],
    )
    empty = api.post(
        "/api/v1/weibo/keyword-rules/",
        {"name": "空", "words": " ， "},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (empty.status_code, empty.json()) == (400, {"words": ["Give at least one word."]})
    clash = api.post(
        "/api/v1/weibo/keyword-rules/",
        {"name": "冲突", "words": "代理", "exclusions": "代理"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (clash.status_code, clash.json()) == (
        400,
        {"exclusions": ["A word cannot also be an exclusion: 代理."]},
    )
    unknown = api.post(
        "/api/v1/weibo/keyword-rules/",
        {"name": "x", "words": "y", "accounts": ["42"]},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"accounts": ["Object with uid=42 does not exist."]},
    )
    assert KeywordRule.objects.count() == 1


@pytest.mark.parametrize(
    "role,read,write",
    [("marketing", 200, 201), ("agent", 403, 403), ("manager", 200, 403), ("anonymous", 401, 401)],
)
def test_keyword_rule_permissions_by_role(role_clients, brand, role, read, write):
    client = role_clients[role]
    assert client.get("/api/v1/weibo/keyword-rules/").status_code == read
    assert (
        client.post(
            "/api/v1/weibo/keyword-rules/", {"name": "n", "words": "w"}, format="json"
        ).status_code
        == write
    )


def test_agent_reads_posts(agent_user, posts):
    assert (
        client_for(agent_user).get("/api/v1/weibo/posts/").json()["count"]
        == WeiboPost.objects.count()
    )
