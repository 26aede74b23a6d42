"""History import of Weibo events (`manage.py import_history FILE`, one JSON object a line).

Each event goes through the same ingestion code as polling (`channels_weibo.ingest`), keeping
the object's own `created_at`. Importing the same event twice changes nothing the second time
(`import_event` returns "duplicate"). A bad event raises ValueError with a one-line message and
writes nothing. The brand account named by `"account"` must exist (connected or created in the
admin) before its events are imported.

`status`: a Weibo status object (the API's own JSON) under `"data"`. The brand's own posts are
those whose `user` is the account; a post by someone else counts as a mention of the brand
unless it is a repost of a brand post without `@<brand>` in its text (then it is a repost).
A repost carries its original in `retweeted_status`; the `//@name:` chain in its text places it
in the cascade.

    {"type": "status", "account": "5988800001", "data": {"idstr": "5001795324225257",
     "created_at": "Sat Oct 03 10:15:00 +0800 2026", "text": "求链接！多少钱？@花漾美妆",
     "user": {"idstr": "7000000001", "screen_name": "王小仙女12", "followers_count": 321},
     "reposts_count": 0, "comments_count": 1, "attitudes_count": 3}}

`comment`: a Weibo comment object under `"data"`, with its `status` (the post it is on). A
comment by someone else on a brand post is a comment; it also mentions the brand when its text
contains `@<brand>`.

    {"type": "comment", "account": "5988800001", "data": {"idstr": "5001795400000001",
     "created_at": "Sat Oct 03 11:00:00 +0800 2026", "text": "快递一个星期还没到，太差了",
     "user": {"idstr": "7000000002", "screen_name": "李晴天7"},
     "status": {"idstr": "5001795000000001", "created_at": "Fri Oct 02 09:00:00 +0800 2026",
                "text": "【新品上市】花漾水光精华液今天正式发售！",
                "user": {"idstr": "5988800001", "screen_name": "花漾美妆"},
                "reposts_count": 120, "comments_count": 45, "attitudes_count": 300}}}

`follower_count`: the account's follower count on a local day (Asia/Shanghai); a second event
for the same day replaces the count (and returns "duplicate").

    {"type": "follower_count", "account": "5988800001", "day": "2026-10-01",
     "followers_count": 123456}
"""

from datetime import date
from typing import Any

from .ingest import ingest_comments, ingest_statuses
from .models import WeiboAccount, WeiboPost
from .polling import record_follower_count
from .protocol import as_int, idstr


def _account(event: dict[str, Any]) -> WeiboAccount:
    uid = str(event.get("account") or "")
    if not uid:
        raise ValueError(f"{event.get('type')} event has no account (the brand uid)")
    account = WeiboAccount.objects.filter(uid=uid).first()
    if account is None:
        raise ValueError(f"unknown Weibo account {uid}: create or connect it first")
    return account


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"{event.get('type')} event has no data object")
    return data


def import_status(event: dict[str, Any]) -> str:
    account = _account(event)
    data = _data(event)
    try:
        key = idstr(data)
        text = str(data.get("text") or "")
        root = data.get("retweeted_status")
        repost_of_brand = (
            isinstance(root, dict)
            and isinstance(root.get("user"), dict)
            and str(root["user"].get("idstr") or root["user"].get("id")) == account.uid
        )
        by_brand = (
            isinstance(data.get("user"), dict)
            and str(data["user"].get("idstr") or data["user"].get("id")) == account.uid
        )
        mention = not by_brand and (not repost_of_brand or f"@{account.screen_name}" in text)
        existed = WeiboPost.objects.filter(idstr=key, account=account).exists()
        ingest_statuses(account, [data], mention_stream=mention)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"status event: malformed status object ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"status event: {exc}") from exc
    return "duplicate" if existed else "created"


def import_comment(event: dict[str, Any]) -> str:
    account = _account(event)
    data = _data(event)
    try:
        result = ingest_comments(account, [data])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"comment event: malformed comment object ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"comment event: {exc}") from exc
    return "created" if result.created else "duplicate"


def import_follower_count(event: dict[str, Any]) -> str:
    account = _account(event)
    try:
        day = date.fromisoformat(str(event.get("day")))
    except ValueError:
        raise ValueError(f"follower_count event: day must be YYYY-MM-DD, got {event.get('day')!r}")
    count = event.get("followers_count")
    if isinstance(count, bool) or as_int(count, -1) < 0:
        raise ValueError(
            f"follower_count event: followers_count must be a whole number >= 0, got {count!r}"
        )
    created = record_follower_count(account, day, as_int(count))
    return "created" if created else "duplicate"


HANDLERS = {
    "status": import_status,
    "comment": import_comment,
    "follower_count": import_follower_count,
}


def import_event(event: dict[str, Any]) -> str:
    """Import one history event; returns "created" or "duplicate". ValueError if it is bad."""
    if not isinstance(event, dict):
        raise ValueError("an event must be a JSON object")
    handler = HANDLERS.get(str(event.get("type")))
    if handler is None:
        raise ValueError(
            f"unknown Weibo event type {event.get('type')!r} (expected status, comment or follower_count)"
        )
    return handler(event)
