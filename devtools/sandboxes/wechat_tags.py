"""WeChat user tags (用户标签管理) in the sandbox, with WeChat's limits and errcodes.

- `POST /cgi-bin/tags/create` {"tag": {"name"}}: 45157 name exists, 45158 name over 30
  characters, 45056 more than 100 tags; ids start at 100 (0-2 are WeChat's own).
- `GET /cgi-bin/tags/get`: {"tags": [{id, name, count}]}.
- `POST /cgi-bin/tags/members/batchtagging` | `batchuntagging` {"openid_list", "tagid"}:
  40032 for more than 50 openids (or none), 45159 unknown tag, 40003 an openid that is not a
  follower, 45059 a follower with 20 tags already.
- `POST /cgi-bin/user/tag/get` {"tagid", "next_openid"}: 10,000 openids a page.
- `POST /cgi-bin/tags/getidlist` {"openid"}: {"tagid_list"}.
- `GET /sandbox/tags?appid=`: every tag with its members (for tests).
"""

from typing import Any

from .wechat import _error, route

MAX_TAGS, MAX_NAME, MAX_PER_CALL, MAX_TAGS_PER_USER, PAGE = 100, 30, 50, 20, 10_000


def tag_state(handler) -> dict[str, Any]:
    return handler.state.extra.setdefault("tags", {"next_id": 100, "tags": {}})


def _account_tags(handler, appid: str) -> dict[int, dict[str, Any]]:
    return tag_state(handler)["tags"].setdefault(appid, {})


def _begin(handler, query, path: str):
    failure = handler._injected_failure(path)
    if failure:
        return "", {}, failure
    body = handler._json() if handler.command == "POST" else {}
    appid, refused = handler._token_appid(query)
    return appid, body, refused


@route("POST", "/cgi-bin/tags/create")
def create(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/tags/create")
    if refused:
        return refused
    name = str((body.get("tag") or {}).get("name") or "")
    with handler.state.lock:
        tags = _account_tags(handler, appid)
        if not name:
            return _error(40003, "invalid tag name")
        if len(name) > MAX_NAME:
            return _error(45158, "tag name too long")
        if any(t["name"] == name for t in tags.values()):
            return _error(45157, "invalid tag name: tag name already exists")
        if len(tags) >= MAX_TAGS:
            return _error(45056, "too many tags: at most 100")
        state = tag_state(handler)
        tag_id = state["next_id"]
        state["next_id"] += 1
        tags[tag_id] = {"id": tag_id, "name": name, "members": set()}
    return {"tag": {"id": tag_id, "name": name}}


@route("GET", "/cgi-bin/tags/get")
def get(handler, query):
    appid, _body, refused = _begin(handler, query, "/cgi-bin/tags/get")
    if refused:
        return refused
    with handler.state.lock:
        tags = _account_tags(handler, appid)
        return {
            "tags": [
                {"id": t["id"], "name": t["name"], "count": len(t["members"])}
                for t in tags.values()
            ]
        }


def _batch(handler, query, untag: bool):
    path = f"/cgi-bin/tags/members/{'batchuntagging' if untag else 'batchtagging'}"
    appid, body, refused = _begin(handler, query, path)
    if refused:
        return refused
    openids = body.get("openid_list") or []
    if not isinstance(openids, list) or not 0 < len(openids) <= MAX_PER_CALL:
        return _error(40032, "invalid openid list size: 1 to 50 openids")
    with handler.state.lock:
        handler.state.count("tags_batch")
        tag = _account_tags(handler, appid).get(int(body.get("tagid") or 0))
        if tag is None:
            return _error(45159, "invalid tag id")
        for openid in openids:
            if (appid, openid) not in handler.state.users:
                return _error(40003, "invalid openid")
        if not untag:
            for openid in openids:
                held = sum(openid in t["members"] for t in _account_tags(handler, appid).values())
                if openid not in tag["members"] and held >= MAX_TAGS_PER_USER:
                    return _error(45059, "user has too many tags")
            tag["members"].update(openids)
        else:
            tag["members"].difference_update(openids)
    return {"errcode": 0, "errmsg": "ok"}


@route("POST", "/cgi-bin/tags/members/batchtagging")
def batch_tagging(handler, query):
    return _batch(handler, query, untag=False)


@route("POST", "/cgi-bin/tags/members/batchuntagging")
def batch_untagging(handler, query):
    return _batch(handler, query, untag=True)


@route("POST", "/cgi-bin/user/tag/get")
def members(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/user/tag/get")
    if refused:
        return refused
    with handler.state.lock:
        tag = _account_tags(handler, appid).get(int(body.get("tagid") or 0))
        if tag is None:
            return _error(45159, "invalid tag id")
        ordered = sorted(tag["members"])
    after = body.get("next_openid") or ""
    page = [o for o in ordered if o > after][:PAGE]
    more = len(page) == PAGE and page[-1] != ordered[-1]
    return {
        "count": len(page),
        "data": {"openid": page},
        "next_openid": page[-1] if more else "",
    }


@route("POST", "/cgi-bin/tags/getidlist")
def user_tags(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/tags/getidlist")
    if refused:
        return refused
    openid = body.get("openid", "")
    with handler.state.lock:
        if (appid, openid) not in handler.state.users:
            return _error(40003, "invalid openid")
        ids = [t["id"] for t in _account_tags(handler, appid).values() if openid in t["members"]]
    return {"tagid_list": ids}


@route("GET", "/sandbox/tags")
def dump(handler, query):
    with handler.state.lock:
        tags = _account_tags(handler, query.get("appid", ""))
        return {
            "tags": [
                {"id": t["id"], "name": t["name"], "members": sorted(t["members"])}
                for t in tags.values()
            ]
        }
