"""Weibo objects shaped like the API's (reference/weibo-api.md sections 2.3, 2.4), and
factory_boy factories of the channels_weibo rows (`...Factory`)."""

from datetime import datetime, timedelta, timezone

import factory
from django.utils import timezone as django_timezone

from channels_weibo.models import (
    Campaign,
    KeywordRule,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)

CST = timezone(timedelta(hours=8))
BASE = datetime(2026, 10, 1, 9, 0, tzinfo=CST)


def user(uid, name, followers=100, verified_type=-1):
    return {
        "id": int(uid),
        "idstr": str(uid),
        "screen_name": name,
        "name": name,
        "location": "上海 徐汇区",
        "gender": "f",
        "followers_count": followers,
        "friends_count": 10,
        "statuses_count": 20,
        "verified": verified_type >= 0,
        "verified_type": verified_type,
    }


BRAND = user("5988800001", "花漾美妆", 286000, 2)


def status(sid, author, text, minutes=0, root=None, **counters):
    obj = {
        "created_at": (BASE + timedelta(minutes=minutes)).strftime("%a %b %d %H:%M:%S %z %Y"),
        "id": int(sid),
        "idstr": str(sid),
        "mid": str(sid),
        "text": text,
        "user": author,
        "reposts_count": counters.get("reposts", 0),
        "comments_count": counters.get("comments", 0),
        "attitudes_count": counters.get("likes", 0),
    }
    if root is not None:
        obj["retweeted_status"] = root
    return obj


def comment(cid, author, text, on, minutes=0):
    return {
        "created_at": (BASE + timedelta(minutes=minutes)).strftime("%a %b %d %H:%M:%S %z %Y"),
        "id": int(cid),
        "idstr": str(cid),
        "mid": str(cid),
        "text": text,
        "user": author,
        "status": on,
    }


class WeiboAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeiboAccount
        django_get_or_create = ("uid",)

    uid = factory.Sequence(lambda n: str(5900000000 + n))
    screen_name = factory.Sequence(lambda n: f"品牌号{n}")


class WeiboUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeiboUser
        django_get_or_create = ("uid",)

    uid = factory.Sequence(lambda n: str(7100000000 + n))
    screen_name = factory.Sequence(lambda n: f"微博网友{n}")


class WeiboPostFactory(factory.django.DjangoModelFactory):
    """A post by a fan that mentions the brand account (`is_brand_post=True` for the brand's)."""

    class Meta:
        model = WeiboPost

    idstr = factory.Sequence(lambda n: str(4900000000000000 + n))
    account = factory.SubFactory(WeiboAccountFactory)
    author = factory.SubFactory(WeiboUserFactory)
    text = factory.Sequence(lambda n: f"@品牌 第{n}条微博")
    created_at = factory.LazyFunction(django_timezone.now)
    mentions_brand = True
    sentiment_label = "neutral"


class WeiboCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeiboComment

    idstr = factory.Sequence(lambda n: str(4800000000000000 + n))
    account = factory.SelfAttribute("post.account")
    post = factory.SubFactory(WeiboPostFactory)
    author = factory.SubFactory(WeiboUserFactory)
    text = factory.Sequence(lambda n: f"评论{n}")
    created_at = factory.LazyFunction(django_timezone.now)


class KeywordRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KeywordRule

    name = factory.Sequence(lambda n: f"规则{n}")
    words = "求链接，多少钱"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"活动{n}")
    account = factory.SubFactory(WeiboAccountFactory)
    start = factory.LazyFunction(lambda: django_timezone.localdate() - timedelta(days=7))
    end = factory.LazyFunction(django_timezone.localdate)
