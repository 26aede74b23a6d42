"""The hand-built datasets of the KPI tests, shared by the dashboards tests (through conftest)
and the privacy tests: every expected value is worked out in the tests that use them.

- `dataset`: WeChat conversations, messages and follows on two accounts around START..END;
- `weibo`: two Weibo accounts, posts, mentions, comments, follower snapshots and leads;
- `cohort`: customers at each step of the cross-channel funnel.
"""

import zoneinfo
from datetime import date, datetime, timedelta

import pytest

from channels_weibo.models import FollowerSnapshot, WeiboAccount, WeiboComment, WeiboPost, WeiboUser
from crm.actions import advance_stage, create_lead, merge_customers, record_interaction, set_stage
from crm.models import Conversation, Lead, Message
from tests.crm.factories import CustomerFactory

START, END = date(2026, 11, 1), date(2026, 11, 3)
SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def local(*args):
    return datetime(*args, tzinfo=SH)


def conversation(account, opened, first=None, resolved=None, rating=None, assignee=None):
    return Conversation.objects.create(
        channel="wechat",
        account=account,
        external_user=f"o-{opened.timestamp()}",
        customer=CustomerFactory(),
        opened_at=opened,
        first_response_at=opened + timedelta(seconds=first) if first is not None else None,
        resolved_at=opened + timedelta(seconds=resolved) if resolved is not None else None,
        status="resolved" if resolved is not None else "pending",
        rating=rating,
        assignee=assignee,
    )


def message(account, at, direction="in", msg_type="text", status=None, kind=None):
    customer = CustomerFactory()
    return Message.objects.create(
        customer=customer,
        channel="wechat",
        account=account,
        external_user="o",
        sent_at=at,
        direction=direction,
        msg_type=msg_type,
        sender_kind=kind or ("customer" if direction == "in" else "agent"),
        delivery_status=status or ("received" if direction == "in" else "sent"),
    )


@pytest.fixture
def dataset(db, agent_user):
    conversation(
        "wxA", local(2026, 11, 1, 10, 0), first=60, resolved=600, rating=5, assignee=agent_user
    )  # c1
    conversation("wxA", local(2026, 11, 1, 23, 59), first=3600)  # c2: pending
    conversation(
        "wxA",
        local(2026, 11, 2, 9, 0),
        first=49 * 3600,
        resolved=50 * 3600,
        rating=3,
        assignee=agent_user,
    )  # c3: answered after 48 h
    conversation("wxA", local(2026, 11, 3, 23, 59, 30), resolved=120, rating=4)  # c4: no response
    conversation("wxA", local(2026, 10, 31, 23, 59), first=10, resolved=20, rating=1)  # before
    conversation("wxA", local(2026, 11, 4, 0, 0), first=10)  # after the period
    conversation("wxB", local(2026, 11, 2, 12, 0), first=30, resolved=40, rating=2)  # other account
    message("wxA", local(2026, 10, 31, 23, 59, 59))  # before: not counted
    message("wxA", local(2026, 11, 1, 0, 0))  # in
    message("wxA", local(2026, 11, 3, 23, 59, 59))  # in
    message("wxA", local(2026, 11, 2, 8, 0), msg_type="event")  # event: not a message
    message("wxA", local(2026, 11, 2, 8, 1), direction="out")  # out (agent)
    message("wxA", local(2026, 11, 2, 8, 2), direction="out", kind="auto_reply")  # out
    message("wxA", local(2026, 11, 2, 8, 3), direction="out", status="failed")  # not delivered
    message("wxB", local(2026, 11, 2, 8, 0))  # other account
    for kind, at in (
        ("subscribe", local(2026, 11, 1, 9)),
        ("subscribe", local(2026, 11, 3, 9)),
        ("unsubscribe", local(2026, 11, 3, 10)),
        ("subscribe", local(2026, 11, 4, 0)),
    ):
        record_interaction(
            CustomerFactory(), kind, "wechat", occurred_at=at, data={"account": "wxA"}
        )


_ids = iter(range(5000000000000000, 6000000000000000))


def post(account, author, at, *, brand=False, root=None, counters=(0, 0, 0), **fields):
    reposts, comments, likes = counters
    return WeiboPost.objects.create(
        idstr=str(next(_ids)),
        account=account,
        author=author,
        text=fields.pop("text", "微博"),
        created_at=at,
        is_brand_post=brand,
        root=root,
        reposts_count=reposts,
        comments_count=comments,
        attitudes_count=likes,
        **fields,
    )


def comment(account, on, author, at, **fields):
    return WeiboComment.objects.create(
        idstr=str(next(_ids)), account=account, post=on, author=author, created_at=at, **fields
    )


@pytest.fixture
def weibo(db):
    a = WeiboAccount.objects.create(uid="1001", screen_name="品牌官微")
    b = WeiboAccount.objects.create(uid="2002", screen_name="品牌客服")
    brand_a = WeiboUser.objects.create(uid="1001", screen_name="品牌官微")
    brand_b = WeiboUser.objects.create(uid="2002", screen_name="品牌客服")
    fan1 = WeiboUser.objects.create(uid="3001", screen_name="小红", followers_count=900000)
    fan2 = WeiboUser.objects.create(uid="3002", screen_name="阿明", followers_count=200)
    for account, day, count in (
        (a, date(2026, 10, 30), 1000),  # latest before the period: 1000
        (a, date(2026, 11, 1), 1100),
        (a, date(2026, 11, 3), 1300),  # latest on or before the end: 1300
        (a, date(2026, 11, 5), 1500),  # after the period
        (b, date(2026, 11, 2), 500),  # B has nothing before the period
    ):
        FollowerSnapshot.objects.create(account=account, day=day, followers_count=count)
    p1 = post(a, brand_a, local(2026, 11, 1, 10), brand=True, counters=(10, 5, 100))
    post(a, brand_a, local(2026, 11, 3, 23, 59), brand=True, counters=(0, 3, 7))
    other = post(None, fan2, local(2026, 10, 20), counters=(50, 50, 50))
    post(a, brand_a, local(2026, 11, 2), brand=True, root=other, counters=(9, 9, 9))  # a repost
    post(a, brand_a, local(2026, 10, 31, 23, 59), brand=True, counters=(9, 9, 9))  # before
    post(b, brand_b, local(2026, 11, 2), brand=True, counters=(1, 1, 1))
    post(a, fan1, local(2026, 11, 1, 9), mentions_brand=True, sentiment_label="positive")  # m1
    m2 = post(a, fan2, local(2026, 11, 2), keywords=["漏水"], sentiment_label="negative")  # m2
    post(a, fan2, local(2026, 11, 2, 1), sentiment_label="negative")  # neither mention nor rule
    m4 = comment(a, p1, fan1, local(2026, 11, 3), mentions_brand=True, sentiment_label="neutral")
    comment(a, p1, brand_a, local(2026, 11, 3), mentions_brand=True, sentiment_label="positive")
    post(a, fan1, local(2026, 10, 31, 23, 59), mentions_brand=True, sentiment_label="positive")
    post(b, fan1, local(2026, 11, 2), mentions_brand=True, sentiment_label="positive")  # m7
    converted, _ = create_lead(
        CustomerFactory(), "漏水投诉", source_channel="weibo", source=m2, at=local(2026, 11, 2)
    )
    Lead.objects.filter(pk=converted.pk).update(status="converted")
    create_lead(CustomerFactory(), "咨询", source_channel="weibo", source=m4, at=local(2026, 11, 3))
    create_lead(CustomerFactory(), "手工", source_channel="weibo", at=local(2026, 11, 2))
    create_lead(CustomerFactory(), "微信", source_channel="wechat", at=local(2026, 11, 2))


@pytest.fixture
def cohort(db):
    at = local(2026, 11, 2, 10)
    weibo_lead = CustomerFactory(first_channel="weibo", created_at=at)  # c1
    create_lead(weibo_lead, title="想买", source_channel="weibo")
    record_interaction(weibo_lead, "subscribe", "wechat", occurred_at=at, data={"account": "wxA"})
    paid = CustomerFactory(first_channel="wechat", created_at=at)  # c2
    advance_stage(paid, "customer", at=at)
    demoted = CustomerFactory(first_channel="manual", created_at=local(2026, 11, 3, 23, 59))  # c3
    set_stage(demoted, "member")
    set_stage(demoted, "follower")  # set back by hand: it still reached member
    CustomerFactory(first_channel="weibo", created_at=local(2026, 11, 1, 0, 0))  # c4
    CustomerFactory(first_channel="weibo", created_at=local(2026, 10, 31, 23, 59))  # before
    duplicate = CustomerFactory(first_channel="weibo", created_at=at)  # merged away
    merge_customers(duplicate, weibo_lead)
    return weibo_lead
