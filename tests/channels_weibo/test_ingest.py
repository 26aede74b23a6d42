"""Ingestion of the API's own objects: reference payloads, keyword rules, cascades, history."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as dj_timezone

from channels_weibo.cascades import build_cascade
from channels_weibo.history import HANDLERS, import_event
from channels_weibo.ingest import ingest_comments, ingest_statuses
from channels_weibo.models import (
    FollowerSnapshot,
    KeywordAlert,
    KeywordRule,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)
from crm.models import Conversation, Customer, Interaction, Lead

from .factories import BRAND, comment, status, user

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def brand(db):
    return WeiboAccount.objects.create(uid="5988800001", screen_name="花漾美妆", token_status="ok")


def test_reference_status_object_parses(brand):
    data = json.loads((FIXTURES / "status_repost.json").read_text())
    ingest_statuses(brand, [data], mention_stream=True)
    repost = WeiboPost.objects.get(idstr="4091509081366576")
    root = WeiboPost.objects.get(idstr="4091468878526327")
    assert repost.root_id == root.pk
    assert (repost.text, repost.reposts_count, repost.comments_count, repost.attitudes_count) == (
        "转发微博",
        50,
        91,
        245,
    )
    assert repost.created_at == datetime(2017, 3, 31, 15, 47, 24, tzinfo=UTC)
    assert (repost.author.uid, repost.author.screen_name, repost.author.followers_count) == (
        "1742566624",
        "思想聚焦",
        18461756,
    )
    assert (repost.author.verified, repost.author.verified_type) == (True, 0)
    assert (root.reposts_count, root.account_id, repost.account_id) == (1992, None, brand.pk)
    assert repost.mentions_brand is True
    assert repost.raw["retweeted_status"] == {"idstr": "4091468878526327"}
    # A plain "转发微博" has no words to score.
    assert (repost.sentiment, repost.sentiment_label) == (None, "neutral")


def test_reference_comment_object_parses(brand):
    data = json.loads((FIXTURES / "comment.json").read_text())
    ingest_comments(brand, [data], mention_stream=True)
    stored = WeiboComment.objects.get()
    assert (stored.idstr, stored.mid, stored.text) == (
        "3526584588286949",
        "2121212245977249",
        "ddddd",
    )
    assert stored.post.idstr == "3481474642286341"
    assert stored.post.author.screen_name == "微博开放平台"
    assert stored.author.verified_type == 220
    assert stored.mentions_brand is True
    assert stored.created_at == datetime(2012, 12, 23, 18, 19, 9, tzinfo=UTC)
    assert Interaction.objects.get().kind == "comment"


def test_bad_object_is_refused_and_nothing_written(brand):
    good = status(5000000000000001, user(7000000001, "小鹿"), "好看 @花漾美妆")
    bad = status(5000000000000002, user(7000000002, "阿飞"), "x")
    del bad["user"]
    with pytest.raises(ValueError, match="^status 5000000000000002 has no user object$"):
        ingest_statuses(brand, [good, bad])
    assert WeiboPost.objects.count() == 0
    assert WeiboUser.objects.count() == 0


@pytest.fixture
def marketing_team(db):
    group = Group.objects.get(name="marketing")
    users = [User.objects.create_user(f"m{i}", is_staff=True) for i in range(2)]
    for u in users:
        u.groups.add(group)
    return users


def test_new_authors_become_follower_customers_once(brand):
    a, b = user(7000000001, "小鹿"), {**user(7000000002, "阿飞"), "gender": "m", "location": ""}
    page = [
        status(5000000000000003, a, "第二条 @花漾美妆", 30),
        status(5000000000000002, b, "好看 @花漾美妆", 20),
        status(5000000000000001, a, "第一条 @花漾美妆", 10),
        status(5000000000000004, BRAND, "【新品上市】", 0),
    ]
    ingest_statuses(brand, page, analyse=False)
    customers = {
        u.uid: (c.name, c.city, c.gender, c.stage, c.first_channel, c.created_at)
        for u in WeiboUser.objects.select_related("customer").order_by("uid")
        if (c := u.customer) is not None
    }
    assert customers == {
        "7000000001": ("小鹿", "徐汇区", "female", "follower", "weibo", _at(10)),
        "7000000002": ("阿飞", "", "male", "follower", "weibo", _at(20)),
    }
    assert WeiboUser.objects.get(uid=BRAND["idstr"]).customer_id is None
    linked = dict(WeiboUser.objects.values_list("uid", "customer_id"))
    ingest_statuses(brand, page, analyse=False)
    assert dict(WeiboUser.objects.values_list("uid", "customer_id")) == linked
    assert Customer.objects.count() == 2
    # An identity whose customer is gone (erased) gets a new one on its next post.
    WeiboUser.objects.filter(uid="7000000002").update(customer=None)
    ingest_statuses(brand, [status(5000000000000005, b, "又来了", 40)], analyse=False)
    relinked = WeiboUser.objects.get(uid="7000000002").customer
    assert relinked is not None and relinked.pk not in linked.values()
    assert (Customer.objects.count(), relinked.created_at) == (3, _at(40))


def _at(minutes):
    return datetime(2026, 10, 1, 1, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def test_keyword_rules_on_chinese_text_with_exclusions_and_actions(brand, marketing_team):
    rule = KeywordRule.objects.create(
        name="购买意向",
        words="多少钱，求链接,哪里买",
        exclusions="代购",
        action_tag=True,
        tag_name="高潜力",
        action_lead=True,
        action_alert=True,
    )
    other = KeywordRule.objects.create(name="别的账号", words="精华液", action_alert=True)
    other.accounts.add(WeiboAccount.objects.create(uid="1111", screen_name="别家"))
    a, b, c = user(7000000001, "小鹿"), user(7000000002, "阿飞"), user(7000000003, "晴天")
    ingest_statuses(
        brand,
        [
            status(5000000000000001, a, "这个精华液多少钱？求链接@花漾美妆", 1),
            status(5000000000000002, b, "有代购吗，哪里买便宜@花漾美妆", 2),
            status(5000000000000003, c, "今天天气不错@花漾美妆", 3),
        ],
        mention_stream=True,
    )
    first = WeiboPost.objects.get(idstr="5000000000000001")
    assert first.keywords == [{"rule": rule.pk, "words": ["多少钱", "求链接"]}]
    assert WeiboPost.objects.get(idstr="5000000000000002").keywords == []
    assert WeiboPost.objects.get(idstr="5000000000000003").keywords == []
    lead = Lead.objects.get()
    assert (lead.customer_id, lead.source_channel, lead.source, lead.origin) == (
        first.author.customer_id,
        "weibo",
        first,
        rule,
    )
    assert lead.owner == marketing_team[0]
    assert lead.customer.stage == "lead"
    assert list(lead.customer.tags.values_list("name", flat=True)) == ["高潜力"]
    alert = KeywordAlert.objects.get()
    assert (alert.rule, alert.post, alert.words) == (rule, first, "多少钱、求链接")
    # The next lead goes to the next marketer.
    ingest_statuses(brand, [status(5000000000000004, b, "求链接！", 4)], mention_stream=True)
    assert (
        Lead.objects.get(source_id=str(WeiboPost.objects.get(idstr="5000000000000004").pk)).owner
        == marketing_team[1]
    )


def test_cascade_rebuilt_from_chain_on_known_tree(brand):
    root = status(5000000000000100, BRAND, "【新品上市】花漾水光精华液", 0, reposts=5)
    a, b, c, d, e = (user(7000000010 + i, n, 1000 * (i + 1)) for i, n in enumerate("甲乙丙丁戊"))
    reposts = [
        status(5000000000000101, a, "好看", 10, root),
        status(5000000000000102, b, "种草//@甲:好看", 20, root),
        status(5000000000000103, c, "赞//@乙：种草//@甲:好看", 30, root),
        status(5000000000000104, d, "转发微博", 40, root),
        status(5000000000000105, e, "//@不认识:哈哈", 50, root),
    ]
    # Newest first, as repost_timeline returns them; the child before its parent.
    ingest_statuses(brand, list(reversed(reposts[2:])))
    ingest_statuses(brand, list(reversed(reposts[:2])))
    parents = dict(
        WeiboPost.objects.filter(root__isnull=False).values_list(
            "author__screen_name", "parent__author__screen_name"
        )
    )
    assert parents == {"甲": None, "乙": "甲", "丙": "乙", "丁": None, "戊": None}
    assert WeiboPost.objects.get(author__screen_name="戊").parent_name == "不认识"
    cascade = build_cascade(WeiboPost.objects.get(idstr="5000000000000100"))
    assert (cascade["reposts"], cascade["depth"], cascade["breadth"]) == (5, 3, 3)
    assert cascade["largest_subcascades"][0] == {
        "idstr": "5000000000000101",
        "author": "甲",
        "size": 3,
    }
    assert [s["author"] for s in cascade["top_spreaders"]] == ["甲", "乙"]
    assert cascade["reach"] == 286000 + 1000 + 2000 + 3000 + 4000 + 5000


def test_cascade_parent_is_the_latest_earlier_repost_by_that_name(brand):
    root = status(5000000000000200, BRAND, "【直播预告】", 0)
    a, b = user(7000000020, "甲"), user(7000000021, "乙")
    first_a = status(5000000000000201, a, "好看", 10, root)
    second_a = status(5000000000000202, a, "再转一次", 20, root)
    child = status(5000000000000203, b, "种草//@甲:再转一次", 30, root)
    late_a = status(5000000000000204, a, "第三次", 40, root)  # after the child: not its parent
    ingest_statuses(brand, [late_a, child])  # the child arrives first, with a later repost
    assert WeiboPost.objects.get(idstr="5000000000000203").parent_id is None

    ingest_statuses(brand, [second_a, first_a])
    ingest_statuses(brand, [late_a, child])  # replayed: the parent stays

    stored = WeiboPost.objects.get(idstr="5000000000000203")
    assert (stored.parent.idstr, stored.parent_name) == ("5000000000000202", "甲")


def test_storing_a_page_costs_the_same_queries_whatever_its_size(brand):
    root = status(5000000000000300, BRAND, "【新品】", 0)

    def page(start, size):
        fans = [user(7100000000 + start + i, f"粉丝{start + i}") for i in range(size)]
        return [
            status(5000000000001000 + start + i, fan, f"好看//@粉丝{start + i - 1}:好看", i, root)
            for i, fan in enumerate(fans)
        ]

    ingest_statuses(brand, page(0, 5), analyse=False)
    counts = []
    for start, size in ((100, 10), (200, 150)):
        with CaptureQueriesContext(connection) as queries:
            ingest_statuses(brand, page(start, size), analyse=False)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    linked = WeiboPost.objects.filter(root__idstr="5000000000000300", parent__isnull=False)
    assert linked.count() == 4 + 9 + 149  # each fan's parent is the fan before, in the page


def test_negative_recent_mention_opens_a_complaint_case(brand):
    now = dj_timezone.now().astimezone(timezone(timedelta(hours=8)))
    obj = status(
        5000000000000200, user(7000000020, "生气的人"), "快递一个星期还没到，太差了@花漾美妆"
    )
    obj["created_at"] = now.strftime("%a %b %d %H:%M:%S %z %Y")
    ingest_statuses(brand, [obj], mention_stream=True)
    post = WeiboPost.objects.get()
    assert post.sentiment_label == "negative"
    case = Conversation.objects.get()
    assert (case.kind, case.channel, case.account, case.external_user, case.subject) == (
        "complaint",
        "weibo",
        "5988800001",
        "7000000020",
        post,
    )


def test_history_events_are_idempotent(brand):
    on = status(5000000000000300, BRAND, "会员日福利来啦", 0, comments=1)
    events = [
        {"type": "status", "account": "5988800001", "data": on},
        {
            "type": "status",
            "account": "5988800001",
            "data": status(5000000000000301, user(7000000030, "小A"), "求链接 @花漾美妆", 5),
        },
        {
            "type": "comment",
            "account": "5988800001",
            "data": comment(5000000000000302, user(7000000031, "小B"), "包装超好看，推荐！", on, 6),
        },
        {
            "type": "follower_count",
            "account": "5988800001",
            "day": "2026-10-01",
            "followers_count": 123456,
        },
    ]
    assert [import_event(e) for e in events] == ["created"] * 4
    assert [import_event(e) for e in events] == ["duplicate"] * 4
    assert set(HANDLERS) == {"status", "comment", "follower_count"}
    brand_post = WeiboPost.objects.get(idstr="5000000000000300")
    assert (brand_post.is_brand_post, brand_post.mentions_brand, brand_post.account_id) == (
        True,
        False,
        brand.pk,
    )
    assert WeiboPost.objects.get(idstr="5000000000000301").mentions_brand is True
    c = WeiboComment.objects.get()
    assert (c.post_id, c.mentions_brand, c.sentiment_label) == (brand_post.pk, False, "positive")
    assert FollowerSnapshot.objects.get().followers_count == 123456


@pytest.mark.parametrize(
    "event,message",
    [
        (
            {"type": "tweet"},
            "unknown Weibo event type 'tweet' (expected status, comment or follower_count)",
        ),
        ({"type": "status", "data": {}}, "status event has no account (the brand uid)"),
        (
            {"type": "status", "account": "42", "data": {}},
            "unknown Weibo account 42: create or connect it first",
        ),
        ({"type": "status", "account": "5988800001"}, "status event has no data object"),
        (
            {"type": "status", "account": "5988800001", "data": {"idstr": "12"}},
            "status event: status 12 has no user object",
        ),
        (
            {
                "type": "comment",
                "account": "5988800001",
                "data": {
                    "idstr": "13",
                    "user": {"idstr": "1"},
                    "created_at": "Sat Oct 03 11:00:00 +0800 2026",
                },
            },
            "comment event: comment 13 has no status object",
        ),
        (
            {
                "type": "follower_count",
                "account": "5988800001",
                "day": "10/01",
                "followers_count": 1,
            },
            "follower_count event: day must be YYYY-MM-DD, got '10/01'",
        ),
        (
            {
                "type": "follower_count",
                "account": "5988800001",
                "day": "2026-10-01",
                "followers_count": -5,
            },
            "follower_count event: followers_count must be a whole number >= 0, got -5",
        ),
    ],
)
def test_bad_history_event_raises_one_line(brand, event, message):
    with pytest.raises(ValueError) as info:
        import_event(event)
    assert str(info.value) == message
    assert WeiboPost.objects.count() == FollowerSnapshot.objects.count() == 0
