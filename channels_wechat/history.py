"""History import of WeChat customer service: the events, their fields, and their handlers.

`HANDLERS` maps an event type to `handler(event) -> "created" | "duplicate"`; `manage.py
import_history` dispatches JSON Lines to it. Each event goes through the same ingestion code as
live pushes (channels_wechat.ingest, crm.inbox) with the event's own time, so conversations,
first responses, resolutions and ratings come out exactly as if they had happened live, but
nothing is sent to WeChat. Importing the same file twice changes nothing. A bad event raises
ValueError with a one-line message and writes nothing.

Fields common to every event:
- `type`: one of the types below.
- `ts`: when it happened, ISO 8601 with a UTC offset (`2026-10-01T09:30:00+08:00`).
- `account`: the official account's appid (it must exist in the CRM).
- `openid`: the follower's OpenID on that account.
- `unionid` (optional): the follower's UnionID; the same UnionID on two accounts is one customer.

Event types:

`subscribe`: the user followed the account. Optional `qr_scene` (scene of the QR code), `scene`
(subscribe_scene, such as `ADD_SCENE_QR_CODE`). Key: openid + ts.
    {"type": "subscribe", "ts": "2026-10-01T09:00:00+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "unionid": "uXyZ789", "qr_scene": "store_sh01"}

`unsubscribe`: the user unfollowed. Key: openid + ts.
    {"type": "unsubscribe", "ts": "2026-10-20T22:10:00+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123"}

`message_in`: the user wrote. `msg_id` (WeChat MsgId, unique per account), `msg_type` (text,
image, voice, video, shortvideo, location, link; default text), `content` (the text), optional
`media_id`. Opens a conversation under the inbox rules; a lone digit 1-5 within 24 h of a
resolution's survey is recorded as that conversation's rating. Key: msg_id.
    {"type": "message_in", "ts": "2026-10-01T09:30:00+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "msg_id": "24601234567890123", "msg_type": "text",
     "content": "你好，我的订单什么时候发货？"}

`agent_reply`: an agent answered. `agent` (staff username; must exist), `msg_id` (the reply's
own id, unique per account, distinct from inbound ids), `content`. Counts as a human response.
Key: msg_id.
    {"type": "agent_reply", "ts": "2026-10-01T09:34:10+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "agent": "agent", "msg_id": "out-000123",
     "content": "您好，您的订单已于今天上午发出。"}

`auto_reply`: an automatic message (keyword reply, welcome, out-of-hours). `msg_id`, `content`,
optional `kind` (`auto_reply` default, or `welcome`). Not a human response. Key: msg_id.
    {"type": "auto_reply", "ts": "2026-10-01T09:30:01+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "msg_id": "auto-000123", "content": "客服正在赶来，请稍候~"}

`resolve`: an agent resolved the user's open conversation (a survey was sent at that time).
`agent` (username). Key: openid + ts.
    {"type": "resolve", "ts": "2026-10-01T10:02:00+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "agent": "agent"}

`rating`: the user rated the last resolved conversation. `rating` (whole number 1-5).
Key: the conversation (rated once).
    {"type": "rating", "ts": "2026-10-01T10:05:00+08:00", "account": "wx5d2a3f6c8b9e0a17",
     "openid": "oAbC123", "rating": 5}
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.dateparse import parse_datetime

from crm.inbox import (
    InboxError,
    active_conversation,
    mark_survey_sent,
    record_outbound,
    record_rating,
    resolve_conversation,
)
from crm.models import Conversation, DeliveryStatus, Message, SenderKind

from .ingest import CHANNEL, get_user, ingest_event, ingest_message, upsert_user
from .models import OfficialAccount, WeChatUser

MESSAGE_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link")


def _text(event: dict, name: str, required: bool = True, max_length: int = 64) -> str:
    value = event.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a string")
    value = str(value).strip()
    if required and not value:
        raise ValueError(f"{name} is required")
    if max_length and len(value) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    return value


def _common(event: dict) -> tuple[OfficialAccount, str, datetime, str]:
    raw_ts = event.get("ts")
    if not isinstance(raw_ts, str) or not raw_ts:
        raise ValueError("ts is required (ISO 8601 with offset, e.g. 2026-10-01T09:30:00+08:00)")
    try:
        at = parse_datetime(raw_ts)
    except ValueError:
        at = None
    if at is None:
        raise ValueError(f"ts {raw_ts!r} is not an ISO 8601 date-time")
    if at.tzinfo is None:
        raise ValueError(f"ts {raw_ts!r} has no UTC offset")
    appid = _text(event, "account")
    account = OfficialAccount.objects.filter(appid=appid).first()
    if account is None:
        raise ValueError(f"unknown official account {appid!r}")
    return account, _text(event, "openid"), at, _text(event, "unionid", required=False)


def _agent(event: dict):
    username = _text(event, "agent", max_length=150)
    agent = get_user_model().objects.filter(username=username).first()
    if agent is None:
        raise ValueError(f"unknown agent {username!r}")
    return agent


def _result(created: bool) -> str:
    return "created" if created else "duplicate"


def subscribe(event: dict) -> str:
    account, openid, at, unionid = _common(event)
    scene = _text(event, "scene", required=False)
    qr_scene = _text(event, "qr_scene", required=False)
    with transaction.atomic():
        message = {
            "openid": openid,
            "msg_type": "event",
            "event": "subscribe",
            "create_time": int(at.timestamp()),
            "msg_id": "",
            "content": f"[subscribe] {'qrscene_' + qr_scene if qr_scene else ''}".strip(),
            "data": {"qr_scene": qr_scene} if qr_scene else {},
        }
        created = ingest_event(account, message, at=at, live=False, unionid=unionid)
        if created and scene:
            WeChatUser.objects.filter(account=account, openid=openid).update(subscribe_scene=scene)
    return _result(created)


def unsubscribe(event: dict) -> str:
    account, openid, at, unionid = _common(event)
    message = {
        "openid": openid,
        "msg_type": "event",
        "event": "unsubscribe",
        "create_time": int(at.timestamp()),
        "msg_id": "",
        "content": "[unsubscribe]",
        "data": {},
    }
    with transaction.atomic():
        return _result(ingest_event(account, message, at=at, live=False, unionid=unionid))


def message_in(event: dict) -> str:
    account, openid, at, unionid = _common(event)
    msg_id = _text(event, "msg_id")
    msg_type = _text(event, "msg_type", required=False) or "text"
    if msg_type not in MESSAGE_TYPES:
        raise ValueError(f"msg_type {msg_type!r} is not one of {', '.join(MESSAGE_TYPES)}")
    content = _text(event, "content", required=msg_type == "text", max_length=0)
    message = {
        "openid": openid,
        "msg_type": msg_type,
        "msg_id": msg_id,
        "content": content or f"[{msg_type}]",
        "media_id": _text(event, "media_id", required=False, max_length=255),
        "data": {},
    }
    with transaction.atomic():
        return _result(ingest_message(account, message, at=at, live=False, unionid=unionid))


def _outbound(event: dict, kind: str, agent=None) -> str:
    account, openid, at, unionid = _common(event)
    msg_id = _text(event, "msg_id")
    content = _text(event, "content", max_length=0)
    with transaction.atomic():
        if Message.objects.filter(channel=CHANNEL, account=account.appid, platform_msg_id=msg_id):
            return "duplicate"
        user = upsert_user(account, openid, at=at, unionid=unionid)
        conversation = active_conversation(CHANNEL, account.appid, openid)
        if conversation is not None and conversation.opened_at > at:
            conversation = None
        record_outbound(
            conversation,
            content=content,
            sender_kind=kind,
            sender=agent,
            sent_at=at,
            delivery_status=DeliveryStatus.SENT,
            platform_msg_id=msg_id,
            customer=user.customer,
            channel=CHANNEL,
            account=account.appid,
            external_user=openid,
        )
    return "created"


def agent_reply(event: dict) -> str:
    return _outbound(event, SenderKind.AGENT, agent=_agent(event))


def auto_reply(event: dict) -> str:
    kind = _text(event, "kind", required=False) or "auto_reply"
    if kind not in ("auto_reply", "welcome"):
        raise ValueError(f"kind {kind!r} is not auto_reply or welcome")
    return _outbound(event, SenderKind.WELCOME if kind == "welcome" else SenderKind.AUTO_REPLY)


def resolve(event: dict) -> str:
    account, openid, at, _unionid = _common(event)
    agent = _agent(event)
    with transaction.atomic():
        get_user(account, openid, at=at)  # serialises with other events of this follower
        conversations = Conversation.objects.filter(
            channel=CHANNEL, account=account.appid, external_user=openid
        )
        if conversations.filter(resolved_at=at).exists():
            return "duplicate"
        conversation = active_conversation(CHANNEL, account.appid, openid)
        if conversation is None or conversation.opened_at > at:
            raise ValueError(f"no open conversation with {openid} on {account.appid} at {at}")
        try:
            resolve_conversation(conversation, by=agent, at=at, send_survey=False)
        except InboxError as exc:
            raise ValueError(str(exc.messages[0])) from exc
        mark_survey_sent(conversation, at=at)
    return "created"


def rating(event: dict) -> str:
    account, openid, at, _unionid = _common(event)
    value = event.get("rating")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError("rating must be a whole number from 1 to 5")
    with transaction.atomic():
        get_user(account, openid, at=at)
        conversation = (
            Conversation.objects.filter(
                channel=CHANNEL,
                account=account.appid,
                external_user=openid,
                status="resolved",
                resolved_at__lte=at,
            )
            .order_by("-resolved_at")
            .first()
        )
        if conversation is None:
            raise ValueError(f"no resolved conversation with {openid} on {account.appid} to rate")
        if conversation.rating is not None:
            if conversation.rating == value and conversation.rated_at == at:
                return "duplicate"
            raise ValueError(f"conversation {conversation.pk} is already rated")
        record_rating(conversation, value, at=at)
    return "created"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "message_in": message_in,
    "agent_reply": agent_reply,
    "auto_reply": auto_reply,
    "resolve": resolve,
    "rating": rating,
}
