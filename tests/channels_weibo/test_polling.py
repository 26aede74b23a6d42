"""A full poll cycle against the sandbox over loopback, replays, rate limits and tokens."""

import json
import urllib.request

import pytest

from channels_weibo.models import (
    FollowerSnapshot,
    TokenStatus,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)
from channels_weibo.polling import poll_account, snapshot_followers
from crm.models import Customer, Interaction


def control(world, path, payload):
    request = urllib.request.Request(
        world.base + path,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def expected(world):
    brand = "5988800001"
    mention = "@花漾美妆"
    statuses = world.statuses.values()
    return {
        "mentions": {
            str(s["id"])
            for s in statuses
            if mention in s["text"].split("//@")[0] and s["user"]["idstr"] != brand
        },
        "brand_posts": {str(s["id"]) for s in statuses if s["user"]["idstr"] == brand},
        "reposts": {
            str(s["id"])
            for s in statuses
            if s.get("retweeted_status") and s["retweeted_status"]["user"]["idstr"] == brand
        },
        "comments": {
            str(c["id"])
            for c in world.comments.values()
            if c["user"]["idstr"] != brand
            and (c["status"]["user"]["idstr"] == brand or mention in c["text"])
        },
    }


def test_full_poll_cycle_stores_every_stream(weibo_sandbox, account):
    want = expected(weibo_sandbox)
    result = poll_account(account)
    assert result["status"] == "ok", result
    assert (
        set(WeiboPost.objects.filter(is_brand_post=True).values_list("idstr", flat=True))
        == want["brand_posts"]
    )
    assert (
        set(WeiboPost.objects.filter(mentions_brand=True).values_list("idstr", flat=True))
        == want["mentions"]
    )
    assert (
        set(WeiboPost.objects.filter(root__is_brand_post=True).values_list("idstr", flat=True))
        == want["reposts"]
    )
    assert (
        set(WeiboComment.objects.exclude(author__uid="5988800001").values_list("idstr", flat=True))
        == want["comments"]
    )
    # Counters are the sandbox's.
    some = next(iter(want["brand_posts"]))
    raw = weibo_sandbox.statuses[int(some)]
    post = WeiboPost.objects.get(idstr=some)
    assert (post.reposts_count, post.comments_count, post.attitudes_count) == (
        raw["reposts_count"],
        raw["comments_count"],
        raw["attitudes_count"],
    )
    # Every other author became a follower customer; the brand did not.
    assert WeiboUser.objects.get(uid="5988800001").customer_id is None
    assert not WeiboUser.objects.exclude(uid="5988800001").filter(customer__isnull=True).exists()
    assert set(Customer.objects.values_list("stage", "first_channel").distinct()) <= {
        ("follower", "weibo"),
        ("lead", "weibo"),
    }
    # One interaction per mention, repost and comment by others.
    assert Interaction.objects.filter(kind="mention").count() == len(
        want["mentions"] - want["reposts"]
    )
    assert Interaction.objects.filter(kind="repost").count() == len(want["reposts"])
    assert Interaction.objects.filter(kind="comment").count() == len(want["comments"])
    account.refresh_from_db()
    assert account.cursors["mentions"] == str(max(int(i) for i in want["mentions"]))
    assert account.last_poll_error == ""


def test_replayed_poll_changes_nothing(weibo_sandbox, account):
    poll_account(account)
    counts = (WeiboPost.objects.count(), WeiboComment.objects.count(), Interaction.objects.count())
    account.cursors = {}  # the same pages come back
    account.save()
    result = poll_account(account)
    assert result["status"] == "ok"
    assert result["created"] == 0
    assert (
        WeiboPost.objects.count(),
        WeiboComment.objects.count(),
        Interaction.objects.count(),
    ) == counts


def test_new_activity_arrives_on_next_poll(weibo_sandbox, account):
    poll_account(account)
    before = WeiboComment.objects.count()
    control(weibo_sandbox, "/sandbox/activity", {"count": 2})
    result = poll_account(account)
    assert result["status"] == "ok"
    assert WeiboComment.objects.count() >= before + 2


def test_rate_limit_leaves_the_cursor_where_it_was(weibo_sandbox, account):
    account.cursors = {"comments_to_me": "5000000000000001"}
    account.save()
    control(
        weibo_sandbox,
        "/sandbox/fail",
        {
            "path": "/2/comments/to_me.json",
            "error_code": 10023,
            "times": 1,
            "reset_time_in_seconds": 1200,
        },
    )
    result = poll_account(account)
    account.refresh_from_db()
    assert result["status"] == "rate_limited"
    assert result["error"] == "10023: sandbox failure"
    assert account.cursors["comments_to_me"] == "5000000000000001"
    assert "mentions" in account.cursors  # streams read before the limit did advance
    assert 1190 <= (account.rate_limited_until - account.last_polled_at).total_seconds() <= 1200
    # Until the reset the account is not polled at all.
    assert poll_account(account)["status"] == "rate_limited"


def test_expired_token_is_marked_and_not_retried(weibo_sandbox, account):
    control(weibo_sandbox, "/sandbox/expire", {"access_token": account.access_token})
    result = poll_account(account)
    account = WeiboAccount.objects.get(pk=account.pk)
    assert result == {
        "status": "token_expired",
        "error": "21327: expired_token",
        "created": 0,
        "seen": 0,
    }
    assert (account.token_status, account.token_error) == (
        TokenStatus.EXPIRED,
        "21327: expired_token",
    )
    assert poll_account(account) == {"status": "token_expired"}


def test_daily_follower_snapshot_from_users_counts(weibo_sandbox, account):
    assert snapshot_followers(account)["status"] == "ok"
    weibo_sandbox.followers["5988800001"] = 286500
    snapshot_followers(account)
    snapshot = FollowerSnapshot.objects.get()
    assert (snapshot.account_id, snapshot.followers_count) == (account.pk, 286500)


@pytest.mark.parametrize("code", [10022, 10024])
def test_other_rate_limits_back_off_too(weibo_sandbox, account, code):
    control(
        weibo_sandbox, "/sandbox/fail", {"path": "/2/statuses/mentions.json", "error_code": code}
    )
    result = poll_account(account)
    account.refresh_from_db()
    assert result["status"] == "rate_limited"
    assert account.cursors == {}
    assert account.rate_limited_until is not None
