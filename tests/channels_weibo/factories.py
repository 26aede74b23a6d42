"""Weibo objects shaped like the API's (reference/weibo-api.md sections 2.3, 2.4)."""

from datetime import datetime, timedelta, timezone

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
