"""Polling a brand account: mentions, comments, reposts of its posts, its own posts, followers.

Each stream is read from its `since_id` cursor, newest page first, walking down with `max_id`;
every page is ingested as it arrives (idempotent), and the cursor moves to the newest id only
once the stream was read to the end. A rate-limit error (10022/10023/10024) stops the poll and
leaves that cursor where it was (the pages already stored are simply replayed next time); the
account is not polled again before `rate_limited_until`. An expired or revoked token is marked
on the account (shown in the admin) and the account is not polled until it is authorised again.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from .client import RateLimited, TokenInvalid, TransientError, WeiboClient, WeiboError, paged
from .ingest import IngestResult, ingest_comments, ingest_statuses
from .models import FollowerSnapshot, TokenStatus, WeiboAccount, WeiboPost
from .protocol import as_int

logger = logging.getLogger(__name__)

# Brand posts younger than this have their reposts polled.
REPOST_WINDOW = timedelta(days=14)
MAX_BACKOFF = timedelta(hours=1)


def client_for(account: WeiboAccount) -> WeiboClient:
    return WeiboClient(account.access_token)


def _newest(items: list[dict]) -> int:
    return max(int(item.get("idstr") or item["id"]) for item in items)


def _read_stream(account, name, fetch, key, ingest, result: IngestResult, cursor_key=None):
    cursor_key = cursor_key or name
    since_id = account.cursors.get(cursor_key, "")
    newest = int(since_id) if since_id else 0
    for items in paged(fetch, key, since_id=since_id):
        result += ingest(account, items)
        newest = max(newest, _newest(items))
    if newest:
        account.cursors[cursor_key] = str(newest)


def poll_account(account: WeiboAccount) -> dict:
    """One poll of every stream of the account. Returns what happened (for logs and tests).

    Never raises for platform errors: they are recorded on the account.
    """
    now = timezone.now()
    if not account.token_usable:
        return {"status": "token_" + account.token_status}
    if account.rate_limited_until and account.rate_limited_until > now:
        return {"status": "rate_limited", "until": account.rate_limited_until.isoformat()}
    api = client_for(account)
    result = IngestResult()
    streams = [
        (
            "mentions",
            api.statuses_mentions,
            "statuses",
            lambda a, items: ingest_statuses(a, items, mention_stream=True),
        ),
        (
            "comment_mentions",
            api.comments_mentions,
            "comments",
            lambda a, items: ingest_comments(a, items, mention_stream=True),
        ),
        ("comments_to_me", api.comments_to_me, "comments", ingest_comments),
        (
            "timeline",
            lambda **kw: api.user_timeline(account.uid, **kw),
            "statuses",
            ingest_statuses,
        ),
    ]
    status = "ok"
    error = ""
    try:
        for name, fetch, key, ingest in streams:
            _read_stream(account, name, fetch, key, ingest, result)
        # Counters of recent brand posts: the newest page again, without since_id.
        recent = api.user_timeline(account.uid, count=100).get("statuses") or []
        if recent:
            result += ingest_statuses(account, recent)
        since = now - REPOST_WINDOW
        active_posts = WeiboPost.objects.filter(
            account=account, is_brand_post=True, root__isnull=True, created_at__gte=since
        ).values_list("idstr", flat=True)
        for post_id in active_posts:
            _read_stream(
                account,
                "reposts",
                lambda pid=post_id, **kw: api.repost_timeline(pid, **kw),
                "reposts",
                ingest_statuses,
                result,
                cursor_key=f"reposts:{post_id}",
            )
        account.cursors = {
            k: v
            for k, v in account.cursors.items()
            if not k.startswith("reposts:") or k[8:] in set(active_posts)
        }
        account.rate_limited_until = None
    except RateLimited as exc:
        wait = timedelta(seconds=exc.reset_in) if exc.reset_in else _until_next_hour(now)
        account.rate_limited_until = now + min(wait, MAX_BACKOFF)
        status, error = "rate_limited", f"{exc.code}: {exc.message}"
        logger.warning(
            "weibo %s rate limited (%s) until %s", account.uid, exc.code, account.rate_limited_until
        )
    except TokenInvalid as exc:
        mark_token_invalid(account, exc)
        status, error = "token_" + account.token_status, f"{exc.code}: {exc.message}"
    except TransientError as exc:
        status, error = "retry", f"{exc.code}: {exc.message}"
    except WeiboError as exc:
        status, error = "error", f"{exc.code}: {exc.message}"
    account.last_polled_at = now
    account.last_poll_error = error[:255]
    account.save(
        update_fields=[
            "cursors",
            "rate_limited_until",
            "last_polled_at",
            "last_poll_error",
            "token_status",
            "token_error",
        ]
    )
    return {"status": status, "error": error, "created": result.created, "seen": result.seen}


def _until_next_hour(now):
    return (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)) - now


def mark_token_invalid(account: WeiboAccount, exc: TokenInvalid) -> None:
    account.token_status = TokenStatus.REVOKED if exc.revoked else TokenStatus.EXPIRED
    account.token_error = f"{exc.code}: {exc.message}"[:255]
    WeiboAccount.objects.filter(pk=account.pk).update(
        token_status=account.token_status, token_error=account.token_error
    )
    logger.warning("weibo %s token unusable (%s): re-authorisation needed", account.uid, exc.code)


def record_follower_count(account: WeiboAccount, day, followers_count: int, **counts) -> bool:
    """Store the day's follower count (the last reading of a day wins). Returns created."""
    _snapshot, created = FollowerSnapshot.objects.update_or_create(
        account=account,
        day=day,
        defaults={"followers_count": int(followers_count), **counts, "taken_at": timezone.now()},
    )
    return created


def snapshot_followers(account: WeiboAccount) -> dict:
    """Today's (Asia/Shanghai) follower snapshot from users/counts."""
    if not account.token_usable:
        return {"status": "token_" + account.token_status}
    try:
        rows = client_for(account).user_counts([account.uid])
    except TokenInvalid as exc:
        mark_token_invalid(account, exc)
        return {"status": "token_" + account.token_status}
    except WeiboError as exc:
        return {"status": "error", "error": f"{exc.code}: {exc.message}"}
    row = next((r for r in rows if str(r.get("id")) == account.uid), None)
    if row is None:
        return {"status": "error", "error": "users/counts did not return the account"}
    day = timezone.localdate()
    record_follower_count(
        account,
        day,
        as_int(row.get("followers_count")),
        friends_count=as_int(row.get("friends_count")),
        statuses_count=as_int(row.get("statuses_count")),
    )
    return {
        "status": "ok",
        "day": day.isoformat(),
        "followers_count": as_int(row["followers_count"]),
    }
