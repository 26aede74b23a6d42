"""WeChat mass sends (群发) in the sandbox, with WeChat's limits and errcodes.

- `POST /cgi-bin/draft/add` {"articles": [...]}: a draft's media_id (1-8 articles, each with
  title and content; 45008 past 8, 44003 empty).
- `POST /cgi-bin/message/mass/send` {"touser": [openids], "msgtype", <type>, "clientmsgid"}:
  2 to 10,000 openids (40130), 40003 for an openid that never followed, 40007 an unknown media
  id or draft, 44004 empty text, 45065 a clientmsgid already used (the answer carries the first
  job's msg_id: WeChat sent nothing new), 45009 past the daily call limit. Followers who left,
  and followers who already got 4 mass messages this month (a service account's limit), are
  filtered: counted in FilterCount, not delivered.
- `POST /cgi-bin/message/mass/sendall` {"filter": {"is_to_all" | "tag_id"}, ...}: the same for
  a tag's members (tags from wechat_tags) or every follower; 40050 an unknown tag.
- `POST /cgi-bin/message/mass/preview` {"touser": openid, ...}: one message, no quota used.

Playing WeChat:
- `POST /sandbox/mass_config` {daily_limit, delay, auto_finish, monthly_quota}: `delay`
  seconds between storing a job and answering (a worker can be killed meanwhile);
  `auto_finish` pushes MASSSENDJOBFINISH to the callback after every job.
- `POST /sandbox/mass_finish` {appid, msg_id, status}: push that job's MASSSENDJOBFINISH.
- `POST /sandbox/mass_media` {media_id}: an image media id the mass API accepts.
- `GET /sandbox/mass`: jobs and how many mass messages each openid received.
"""

import threading
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .wechat import _error, push_to_callback, route

MAX_OPENIDS, MONTHLY_QUOTA, MAX_ARTICLES = 10_000, 4, 8
BEIJING = ZoneInfo("Asia/Shanghai")  # WeChat's days and months
TYPES = ("text", "image", "mpnews", "voice", "mpvideo", "wxcard")


def mass_state(handler_or_state) -> dict[str, Any]:
    state = getattr(handler_or_state, "state", handler_or_state)
    return state.extra.setdefault(
        "mass",
        {
            "config": {"daily_limit": 1000, "delay": 0.0, "auto_finish": False},
            "calls": {},  # (appid, day) -> calls
            "clientmsgids": {},  # (appid, clientmsgid) -> msg_id
            "jobs": {},  # msg_id -> job
            "received": {},  # (appid, openid) -> [month keys]
            "drafts": {},
            "media": set(),
            "previews": [],
            "seq": 3147483647,
        },
    )


def _check_message(mass: dict, body: dict) -> dict | None:
    msgtype = body.get("msgtype")
    if msgtype not in TYPES:
        return _error(40008, "invalid message type")
    payload = body.get(msgtype) or {}
    if msgtype == "text" and not str(payload.get("content") or "").strip():
        return _error(44004, "empty content")
    if msgtype == "image" and payload.get("media_id") not in mass["media"]:
        return _error(40007, "invalid media_id")
    if msgtype == "mpnews" and payload.get("media_id") not in mass["drafts"]:
        return _error(40007, "invalid media_id")
    return None


def _job(handler, appid: str, body: dict, openids: list[str]) -> dict[str, Any]:
    """Validate limits, store the job and its deliveries; caller holds the state lock."""
    mass = mass_state(handler)
    clientmsgid = str(body.get("clientmsgid") or "")
    if clientmsgid and (appid, clientmsgid) in mass["clientmsgids"]:
        msg_id = mass["clientmsgids"][(appid, clientmsgid)]
        return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": msg_id}
    day = datetime.now(BEIJING).strftime("%Y-%m-%d")
    calls = mass["calls"].get((appid, day), 0)
    if calls >= mass["config"]["daily_limit"]:
        return _error(45009, "reach max api daily quota limit")
    mass["calls"][(appid, day)] = calls + 1
    refused = _check_message(mass, body)
    if refused:
        return refused
    month = datetime.now(BEIJING).strftime("%Y-%m")
    quota = mass["config"].get("monthly_quota", MONTHLY_QUOTA)
    delivered, filtered = [], 0
    for openid in openids:
        user = handler.state.users.get((appid, openid))
        received = mass["received"].setdefault((appid, openid), [])
        if not user or not user["subscribe"] or received.count(month) >= quota:
            filtered += 1
            continue
        received.append(month)
        delivered.append(openid)
    mass["seq"] += 1
    msg_id = mass["seq"]
    if clientmsgid:
        mass["clientmsgids"][(appid, clientmsgid)] = msg_id
    mass["jobs"][msg_id] = {
        "appid": appid,
        "msg_id": msg_id,
        "clientmsgid": clientmsgid,
        "msgtype": body.get("msgtype"),
        "payload": body.get(body.get("msgtype") or "", {}),
        "total": len(openids),
        "filtered": filtered,
        "delivered": delivered,
    }
    handler.state.count("mass_send")
    return {
        "errcode": 0,
        "errmsg": "send job submission success",
        "msg_id": msg_id,
        "msg_data_id": msg_id * 10,
    }


def _answer(handler, appid: str, answer: dict) -> dict:
    mass = mass_state(handler)
    config = mass["config"]
    if answer.get("errcode") == 0:
        if config.get("delay"):
            time.sleep(float(config["delay"]))
        if config.get("auto_finish"):
            state, msg_id = handler.state, answer["msg_id"]
            threading.Timer(0.05, finish_job, args=(state, appid, msg_id)).start()
    return answer


def _begin(handler, query, path):
    failure = handler._injected_failure(path)
    body = handler._json()
    if failure:
        return "", body, failure
    appid, refused = handler._token_appid(query)
    return appid, body, refused


@route("POST", "/cgi-bin/message/mass/send")
def mass_send(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/message/mass/send")
    if refused:
        return refused
    openids = body.get("touser")
    if not isinstance(openids, list) or len(openids) < 2:
        return _error(40130, "invalid openid list size, at least two openid")
    if len(openids) > MAX_OPENIDS:
        return _error(40130, "invalid openid list size, at most 10000 openid")
    with handler.state.lock:
        for openid in openids:
            if (appid, openid) not in handler.state.users:
                return _error(40003, "invalid openid")
        answer = _job(handler, appid, body, list(dict.fromkeys(openids)))
    return _answer(handler, appid, answer)


@route("POST", "/cgi-bin/message/mass/sendall")
def mass_sendall(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/message/mass/sendall")
    if refused:
        return refused
    target = body.get("filter") or {}
    with handler.state.lock:
        if target.get("is_to_all"):
            openids = [o for (a, o), u in handler.state.users.items() if a == appid]
        else:
            tags = handler.state.extra.get("tags", {}).get("tags", {}).get(appid, {})
            tag = tags.get(int(target.get("tag_id") or 0))
            if tag is None:
                return _error(40050, "invalid tag id")
            openids = sorted(tag["members"])
        answer = _job(handler, appid, body, openids)
    return _answer(handler, appid, answer)


@route("POST", "/cgi-bin/message/mass/preview")
def preview(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/message/mass/preview")
    if refused:
        return refused
    with handler.state.lock:
        user = handler.state.users.get((appid, str(body.get("touser") or "")))
        if user is None or not user["subscribe"]:
            return _error(40003, "invalid openid")
        mass = mass_state(handler)
        refused = _check_message(mass, body)
        if refused:
            return refused
        mass["previews"].append({"appid": appid, **body})
    return {"errcode": 0, "errmsg": "preview success", "msg_id": 0}


@route("POST", "/cgi-bin/draft/add")
def draft_add(handler, query):
    appid, body, refused = _begin(handler, query, "/cgi-bin/draft/add")
    if refused:
        return refused
    articles = body.get("articles") or []
    if not articles:
        return _error(44003, "empty news data")
    if len(articles) > MAX_ARTICLES:
        return _error(45008, "article size out of limit")
    for article in articles:
        if not article.get("title") or not article.get("content"):
            return _error(44003, "empty news data")
    with handler.state.lock:
        mass = mass_state(handler)
        mass["seq"] += 1
        media_id = f"draft_{mass['seq']}"
        mass["drafts"][media_id] = {"appid": appid, "articles": articles}
    return {"media_id": media_id}


def finish_job(state, appid: str, msg_id: int, status: str = "send success") -> dict[str, Any]:
    """Push the MASSSENDJOBFINISH event WeChat sends when a mass job is done."""
    job = mass_state(state)["jobs"][int(msg_id)]
    delivered = len(job["delivered"])
    errors = 0 if status == "send success" else delivered
    return push_to_callback(
        state,
        {
            "appid": appid,
            "openid": "mphelper",
            "msg_type": "event",
            "event": "MASSSENDJOBFINISH",
            "MsgID": str(msg_id),
            "Status": status,
            "TotalCount": str(job["total"]),
            "FilterCount": str(job["filtered"]),
            "SentCount": str(delivered - errors),
            "ErrorCount": str(errors),
        },
    )


@route("POST", "/sandbox/mass_config")
def config(handler, query):
    body = handler._json()
    with handler.state.lock:
        mass_state(handler)["config"].update(body)
    return {"errcode": 0, "errmsg": "ok"}


@route("POST", "/sandbox/mass_finish")
def finish(handler, query):
    body = handler._json()
    return finish_job(
        handler.state, body["appid"], int(body["msg_id"]), body.get("status", "send success")
    )


@route("POST", "/sandbox/mass_media")
def media(handler, query):
    body = handler._json()
    with handler.state.lock:
        mass_state(handler)["media"].add(body["media_id"])
    return {"errcode": 0, "errmsg": "ok"}


@route("GET", "/sandbox/mass")
def dump(handler, query):
    with handler.state.lock:
        mass = mass_state(handler)
        counts: dict[str, int] = {}
        for job in mass["jobs"].values():
            for openid in job["delivered"]:
                counts[openid] = counts.get(openid, 0) + 1
        return {
            "jobs": [
                {k: v for k, v in job.items() if k != "delivered"}
                | {"delivered": len(job["delivered"])}
                for job in mass["jobs"].values()
            ],
            "received": counts,
            "previews": mass["previews"],
            "calls": sum(mass["calls"].values()),
        }
