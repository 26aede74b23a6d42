"""Sandbox: template messages and subscription messages (an extension of devtools.sandboxes.wechat).

WeChat API (same paths, JSON and errcodes as api.weixin.qq.com):
- `GET /cgi-bin/template/get_all_private_template`: the account's templates (`template_list`).
- `POST /cgi-bin/template/api_add_template` {template_id_short}: adds a template of LIBRARY and
  answers its template_id; 40037 for an unknown short id, 45026 past 25 templates.
- `POST /cgi-bin/message/template/send`: 40037 unknown template_id, 40003 unknown openid, 43004
  the user does not follow, 47003 a variable missing or breaking its type's limit (the rules of
  channels_wechat.template_rules), 45009 past the account's daily limit (configurable; every
  send call counts). `client_msg_id`: the same openid + client_msg_id sends once, a repeat
  answers the first msgid (what WeChat answers to a repeat is not documented; this sandbox
  answers success).
- `GET /wxaapi/newtmpl/gettemplate`: the subscription templates (`data`: priTmplId, title,
  content, example, type 2 one-time / 3 long-term).
- `POST /cgi-bin/message/subscribe/bizsend`: 40037, 40003, 43101 without a consent left (a
  one-time consent is used up by the send), 47003, 45009.

Playing WeChat (JSON):
- `POST /sandbox/templates/setup` {appid, daily_limit?, private?: [templates], subscribe?:
  [templates], slow?: {openid: seconds}}: replace the account's templates, set its daily limit
  per API, and/or make the answer to a template send to these openids late (the message is
  recorded as sent first: the fault tests kill the caller meanwhile).
- `POST /sandbox/templates/new_day` {appid}: the daily counters start again.
- `POST /sandbox/templates/report` {appid, blocked?: [openid], failed?: [openid]}: push
  TEMPLATESENDJOBFINISH for every template send not reported yet (Status success, `failed:user
  block` for blocked openids, `failed: system failed` for failed ones); answers the statuses.
- `POST /sandbox/subscribe/popup` {appid, openid, choices: {template_id: accept|reject},
  create_time?}: the follower answered the consent popup: record it and push
  subscribe_msg_popup_event (the CRM dedupes events on FromUserName + CreateTime, as WeChat
  documents: two popups in one second need distinct create_time).
- `POST /sandbox/subscribe/change` {appid, openid, choices}: push subscribe_msg_change_event.
- `POST /sandbox/subscribe/report` {appid}: push subscribe_msg_sent_event for unreported sends.
- `GET /sandbox/templates/sent`: every template and subscription message sent.
"""

import secrets
import time
from typing import Any

from channels_wechat.protocol import cdata
from channels_wechat.template_rules import check_data, template_variables

from .wechat import Handler, _error, push_to_callback, route

MAX_TEMPLATES = 25
DEFAULT_DAILY_LIMIT = 100000
VAR = r"{{%s.DATA}}"

LIBRARY: dict[str, dict[str, str]] = {
    "TM00015": {
        "title": "订单支付成功通知",
        "content": "订单号：{{character_string1.DATA}}\n支付金额：{{amount2.DATA}}\n"
        "支付时间：{{time3.DATA}}\n门店：{{thing4.DATA}}",
        "example": "订单号：20261206123456\n支付金额：¥99.00\n支付时间：2026-12-06 12:00\n门店：静安店",
    },
    "TM00004": {
        "title": "退款通知",
        "content": "订单号：{{character_string1.DATA}}\n退款金额：{{amount2.DATA}}\n"
        "退款时间：{{time3.DATA}}",
        "example": "订单号：20261206123456\n退款金额：¥99.00\n退款时间：2026-12-06 12:00",
    },
    "TM00178": {
        "title": "优惠券到账提醒",
        "content": "优惠券：{{thing1.DATA}}\n有效期至：{{date2.DATA}}",
        "example": "优惠券：满100减20\n有效期至：2026-12-31",
    },
    "TM00503": {
        "title": "优惠券即将过期提醒",
        "content": "优惠券：{{thing1.DATA}}\n过期日期：{{date2.DATA}}\n剩余天数：{{number3.DATA}}",
        "example": "优惠券：满100减20\n过期日期：2026-12-31\n剩余天数：3",
    },
    "TM00335": {
        "title": "积分变动提醒",
        "content": "变动积分：{{character_string1.DATA}}\n变动原因：{{thing2.DATA}}\n"
        "当前积分：{{number3.DATA}}",
        "example": "变动积分：+100\n变动原因：消费奖励\n当前积分：1200",
    },
}


def _state(handler: Handler) -> dict[str, Any]:
    return handler.state.extra.setdefault(
        __name__,
        {
            "private": {},  # appid -> {template_id: template}
            "subscribe": {},  # appid -> {priTmplId: template}
            "limit": {},  # appid -> daily limit per API
            "calls": {},  # (appid, api) -> calls today
            "client_ids": {},  # (appid, openid, client_msg_id) -> msgid
            "consents": {},  # (appid, openid, template_id) -> {"remaining", "long_term"}
            "sent": [],
            "slow": {},  # openid -> seconds the send's answer is delayed
        },
    )


def _variables(content: str) -> list[str]:
    # Not the Django model's method: this sandbox also runs as its own process, without Django.
    return template_variables(content)


def _over_limit(handler: Handler, appid: str, api: str) -> bool:
    state = _state(handler)
    key = (appid, api)
    state["calls"][key] = state["calls"].get(key, 0) + 1
    return state["calls"][key] > state["limit"].get(appid, DEFAULT_DAILY_LIMIT)


def _values(body: dict) -> dict[str, str]:
    data = body.get("data") or {}
    if not isinstance(data, dict):
        return {}
    return {
        k: str((v or {}).get("value", "")) if isinstance(v, dict) else "" for k, v in data.items()
    }


def _bad_data(variables: list[str], values: dict[str, str]) -> dict[str, Any] | None:
    problems = check_data(variables, values)
    if problems:
        name = sorted(problems)[0]
        return _error(47003, f"argument invalid! data.{name}.value invalid")
    return None


@route("GET", "/cgi-bin/template/get_all_private_template")
def private_templates(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    with handler.state.lock:
        templates = list(_state(handler)["private"].get(appid, {}).values())
    return {"template_list": templates}


@route("POST", "/cgi-bin/template/api_add_template")
def add_template(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    item = LIBRARY.get(str(body.get("template_id_short", "")))
    if item is None:
        return _error(40037, "invalid template_id")
    with handler.state.lock:
        private = _state(handler)["private"].setdefault(appid, {})
        if len(private) >= MAX_TEMPLATES:
            return _error(45026, "template size out of limit")
        template_id = secrets.token_urlsafe(32)[:43]
        private[template_id] = {
            "template_id": template_id,
            "title": item["title"],
            "primary_industry": "IT科技",
            "deputy_industry": "互联网|电子商务",
            "content": item["content"],
            "example": item["example"],
        }
    return {"errcode": 0, "errmsg": "ok", "template_id": template_id}


@route("POST", "/cgi-bin/message/template/send")
def template_send(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    failure = handler._injected_failure("/cgi-bin/message/template/send")
    if failure:
        return failure
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    state = _state(handler)
    with handler.state.lock:
        if _over_limit(handler, appid, "template_send"):
            return _error(45009, "reach max api daily quota limit")
        template = state["private"].get(appid, {}).get(str(body.get("template_id", "")))
        if template is None:
            return _error(40037, "invalid template_id")
        openid = str(body.get("touser", ""))
        user = handler.state.users.get((appid, openid))
        if user is None:
            return _error(40003, "invalid openid")
        if not user["subscribe"]:
            return _error(43004, "require subscribe")
        bad = _bad_data(_variables(template["content"]), _values(body))
        if bad:
            return bad
        client_id = (appid, openid, str(body.get("client_msg_id", "")))
        if client_id[2] and client_id in state["client_ids"]:
            return {"errcode": 0, "errmsg": "ok", "msgid": state["client_ids"][client_id]}
        handler.state.msg_seq += 1
        msgid = handler.state.msg_seq
        if client_id[2]:
            state["client_ids"][client_id] = msgid
        state["sent"].append(
            {
                "kind": "template",
                "appid": appid,
                "touser": openid,
                "template_id": template["template_id"],
                "data": _values(body),
                "url": body.get("url", ""),
                "miniprogram": body.get("miniprogram"),
                "msgid": msgid,
                "reported": False,
            }
        )
        handler.state.count("template_send")
        delay = state["slow"].get(openid, 0.0)
    if delay:  # sent, but the answer is late: a caller killed meanwhile never learns the msgid
        time.sleep(delay)
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


@route("GET", "/wxaapi/newtmpl/gettemplate")
def subscribe_templates(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    with handler.state.lock:
        templates = list(_state(handler)["subscribe"].get(appid, {}).values())
    return {"errcode": 0, "errmsg": "ok", "data": templates}


@route("POST", "/cgi-bin/message/subscribe/bizsend")
def subscribe_send(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    failure = handler._injected_failure("/cgi-bin/message/subscribe/bizsend")
    if failure:
        return failure
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    state = _state(handler)
    with handler.state.lock:
        if _over_limit(handler, appid, "bizsend"):
            return _error(45009, "reach max api daily quota limit")
        template_id = str(body.get("template_id", ""))
        template = state["subscribe"].get(appid, {}).get(template_id)
        if template is None:
            return _error(40037, "invalid template_id")
        openid = str(body.get("touser", ""))
        if (appid, openid) not in handler.state.users:
            return _error(40003, "invalid openid")
        consent = state["consents"].get((appid, openid, template_id))
        if not consent or not (consent["long_term"] or consent["remaining"] > 0):
            return _error(43101, "user refuse to accept the msg")
        bad = _bad_data(_variables(template["content"]), _values(body))
        if bad:
            return bad
        if not consent["long_term"]:
            consent["remaining"] -= 1
        handler.state.msg_seq += 1
        msgid = handler.state.msg_seq
        state["sent"].append(
            {
                "kind": "subscribe",
                "appid": appid,
                "touser": openid,
                "template_id": template_id,
                "data": _values(body),
                "page": body.get("page", ""),
                "msgid": msgid,
                "reported": False,
            }
        )
        handler.state.count("bizsend")
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


# --- playing WeChat -----------------------------------------------------------------------------


@route("POST", "/sandbox/templates/setup")
def setup(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    appid = body["appid"]
    state = _state(handler)
    with handler.state.lock:
        if "daily_limit" in body:
            state["limit"][appid] = int(body["daily_limit"])
        if "private" in body:
            state["private"][appid] = {t["template_id"]: t for t in body["private"]}
        if "subscribe" in body:
            state["subscribe"][appid] = {t["priTmplId"]: t for t in body["subscribe"]}
        if "slow" in body:
            state["slow"] = {openid: float(s) for openid, s in body["slow"].items()}
    return {"errcode": 0, "errmsg": "ok"}


@route("POST", "/sandbox/templates/new_day")
def new_day(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    appid = handler._json()["appid"]
    with handler.state.lock:
        calls = _state(handler)["calls"]
        for key in [k for k in calls if k[0] == appid]:
            del calls[key]
    return {"errcode": 0, "errmsg": "ok"}


@route("GET", "/sandbox/templates/sent")
def sent(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    return {"sent": _state(handler)["sent"]}


def report_templates(
    handler_state, appid: str, blocked=(), failed=()
) -> list[tuple[str, int, str, int]]:
    """Push TEMPLATESENDJOBFINISH for each unreported template send; [(openid, msgid, status,
    HTTP status of the hook)]."""
    state = handler_state.extra.get(__name__, {"sent": []})
    out = []
    for item in state["sent"]:
        if item["kind"] != "template" or item["appid"] != appid or item["reported"]:
            continue
        item["reported"] = True
        status = (
            "failed:user block"
            if item["touser"] in blocked
            else "failed: system failed"
            if item["touser"] in failed
            else "success"
        )
        answer = push_to_callback(
            handler_state,
            {
                "appid": appid,
                "openid": item["touser"],
                "msg_type": "event",
                "event": "TEMPLATESENDJOBFINISH",
                "MsgID": str(item["msgid"]),
                "Status": status,
            },
        )
        out.append((item["touser"], item["msgid"], status, answer["status"]))
    return out


@route("POST", "/sandbox/templates/report")
def report(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    _state(handler)
    pushed = report_templates(
        handler.state, body["appid"], body.get("blocked", ()), body.get("failed", ())
    )
    return {"errcode": 0, "errmsg": "ok", "pushed": pushed}


def _event_xml(
    account: dict, openid: str, event: str, container: str, items: list[str], at: int = 0
) -> str:
    return (
        f"<xml><ToUserName>{cdata(account['original_id'])}</ToUserName>"
        f"<FromUserName>{cdata(openid)}</FromUserName>"
        f"<CreateTime>{at or int(time.time())}</CreateTime>"
        f"<MsgType>{cdata('event')}</MsgType><Event>{cdata(event)}</Event>"
        f"<{container}>{''.join(items)}</{container}></xml>"
    )


def _consent_event(handler: Handler, event: str, container: str) -> dict[str, Any]:
    body = handler._json()
    appid, openid = body["appid"], body["openid"]
    state = _state(handler)
    items = []
    with handler.state.lock:
        handler.state.user(appid, openid)
        for template_id, choice in body["choices"].items():
            template = state["subscribe"].get(appid, {}).get(template_id, {})
            long_term = str(template.get("type")) == "3"
            consent = state["consents"].setdefault(
                (appid, openid, template_id), {"remaining": 0, "long_term": False}
            )
            if event == "subscribe_msg_popup_event" and choice == "accept":
                if long_term:
                    consent["long_term"] = True
                else:
                    consent["remaining"] += 1
            elif event == "subscribe_msg_change_event":
                consent["long_term"] = choice == "accept" and long_term
                if choice != "accept":
                    consent["remaining"] = 0
            scene = "<PopupScene>0</PopupScene>" if event == "subscribe_msg_popup_event" else ""
            items.append(
                f"<List><TemplateId>{cdata(template_id)}</TemplateId>"
                f"<SubscribeStatusString>{cdata(choice)}</SubscribeStatusString>{scene}</List>"
            )
    account = handler.state.accounts[appid]
    xml = _event_xml(account, openid, event, container, items, int(body.get("create_time") or 0))
    return push_to_callback(
        handler.state,
        {"appid": appid, "openid": openid, "msg_type": "event", "event": event, "raw": xml},
    )


@route("POST", "/sandbox/subscribe/popup")
def popup(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    return _consent_event(handler, "subscribe_msg_popup_event", "SubscribeMsgPopupEvent")


@route("POST", "/sandbox/subscribe/change")
def change(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    return _consent_event(handler, "subscribe_msg_change_event", "SubscribeMsgChangeEvent")


@route("POST", "/sandbox/subscribe/report")
def subscribe_report(handler: Handler, query: dict[str, str]) -> dict[str, Any]:
    appid = handler._json()["appid"]
    state = _state(handler)
    account = handler.state.accounts[appid]
    pushed = []
    for item in state["sent"]:
        if item["kind"] != "subscribe" or item["appid"] != appid or item["reported"]:
            continue
        item["reported"] = True
        xml = _event_xml(
            account,
            item["touser"],
            "subscribe_msg_sent_event",
            "SubscribeMsgSentEvent",
            [
                f"<List><TemplateId>{cdata(item['template_id'])}</TemplateId>"
                f"<MsgID>{item['msgid']}</MsgID><ErrorCode>0</ErrorCode>"
                f"<ErrorStatus>{cdata('success')}</ErrorStatus></List>"
            ],
        )
        answer = push_to_callback(
            handler.state,
            {
                "appid": appid,
                "openid": item["touser"],
                "msg_type": "event",
                "event": "subscribe_msg_sent_event",
                "raw": xml,
            },
        )
        pushed.append((item["touser"], item["msgid"], answer["status"]))
    return {"errcode": 0, "errmsg": "ok", "pushed": pushed}
