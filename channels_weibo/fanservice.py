"""Fan-service (粉丝服务平台) private messages and events, and replies through messages/reply.

A push stored by the hook (raw first) is processed here: private messages land in the shared
inbox (`crm.inbox.receive_message`, channel `weibo`) beside WeChat conversations; follow,
unfollow, subscribe and unsubscribe events go on the customer's timeline. Pushes have no message
id: the dedupe key is sender + created_at + type (reference/weibo-api.md section 3.3).

Replies (`send_message`, registered with `crm.inbox.register_sender`) follow the platform window:
unlimited for 48 hours after the fan's last message, follow, subscribe, menu click or scan; one
reply within 48 hours of an @-mention push; none after the fan unfollowed.
"""

import json
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from crm.actions import record_interaction
from crm.inbox import SendError, receive_message
from crm.models import Channel, Direction, InteractionKind, Message

from .client import RateLimited, TokenInvalid, TransientError, WeiboError
from .ingest import link_customer
from .media import queue_downloads
from .models import WeiboAccount, WeiboUser
from .polling import client_for, mark_token_invalid
from .protocol import parse_time

REPLY_WINDOW = timedelta(hours=48)
MESSAGE_TYPES = {"text", "image", "voice", "position", "mention"}
EVENT_INTERACTIONS = {
    "follow": InteractionKind.FOLLOW,
    "scan_follow": InteractionKind.FOLLOW,
    "unfollow": InteractionKind.UNFOLLOW,
    "subscribe": InteractionKind.SUBSCRIBE,
    "unsubscribe": InteractionKind.UNSUBSCRIBE,
}


class BadPush(ValueError):
    """A push body that is not a fan-service message."""


def parse_push(body: bytes) -> dict:
    """Decode and check a push body; raises BadPush with a one-line reason."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPush(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadPush("body is not a JSON object")
    for key in ("type", "sender_id", "created_at"):
        if payload.get(key) in (None, ""):
            raise BadPush(f"missing field: {key}")
    try:
        parse_time(payload["created_at"])
    except ValueError as exc:
        raise BadPush(f"created_at is not a Weibo time: {payload['created_at']}") from exc
    if not str(payload["sender_id"]).isdigit():
        raise BadPush("sender_id is not a uid")
    return payload


def dedupe_key(payload: dict) -> str:
    at = parse_time(payload["created_at"])
    subtype = (
        (payload.get("data") or {}).get("subtype", "")
        if isinstance(payload.get("data"), dict)
        else ""
    )
    return f"{payload['sender_id']}:{int(at.timestamp())}:{payload['type']}:{subtype}"[:64]


def process_push(account: WeiboAccount, payload: dict) -> str:
    """Apply one fan-service push. Idempotent on the dedupe key, which it returns."""
    key = dedupe_key(payload)
    sender = str(payload["sender_id"])
    at = parse_time(payload["created_at"])
    kind = str(payload["type"])
    data: dict = payload["data"] if isinstance(payload.get("data"), dict) else {}
    if kind not in MESSAGE_TYPES and kind != "event":
        return key  # new types may appear: ignored, as the platform asks
    user, _created = WeiboUser.objects.get_or_create(uid=sender, defaults={"screen_name": sender})
    if user.customer_id is None:
        link_customer(user, at=at)
    customer = user.customer
    assert customer is not None  # noqa: S101  linked just above
    text = str(payload.get("text") or "")
    message, created = receive_message(
        channel=Channel.WEIBO,
        account=account.uid,
        external_user=sender,
        customer=customer,
        msg_type="event" if kind == "event" else kind,
        content=text,
        sent_at=at,
        platform_msg_id=key,
        media_id=str(data.get("tovfid") or ""),
        data=data,
    )
    if created and kind in ("image", "voice"):
        queue_downloads([message])
    subtype = str(data.get("subtype") or "")
    if created and kind == "event" and subtype in EVENT_INTERACTIONS:
        record_interaction(
            customer,
            EVENT_INTERACTIONS[subtype],
            Channel.WEIBO,
            occurred_at=at,
            summary=text,
            subject=message,
            data={"account": account.uid, "subtype": subtype},
        )
    return key


def reply_window_error(account_uid: str, fan_uid: str, now=None) -> str | None:
    """Why the brand cannot write to this fan now, or None if it can."""
    now = now or timezone.now()
    inbound = Message.objects.filter(
        channel=Channel.WEIBO, account=account_uid, external_user=fan_uid, direction=Direction.IN
    ).order_by("-sent_at", "-id")
    last = inbound.first()
    if last is None or now - last.sent_at > REPLY_WINDOW:
        return _("The 48-hour reply window is closed: the fan has not written for 48 hours.")
    if last.msg_type == "event" and last.data.get("subtype") in ("unfollow", "unsubscribe"):
        return _("The fan unfollowed the account: no reply is possible.")
    opening = last
    if all(m.msg_type == "mention" for m in inbound.filter(sent_at__gte=now - REPLY_WINDOW)):
        answered = Message.objects.filter(
            channel=Channel.WEIBO,
            account=account_uid,
            external_user=fan_uid,
            direction=Direction.OUT,
            delivery_status="sent",
            sent_at__gte=opening.sent_at,
        ).exists()
        if answered:
            return _("After an @-mention only one reply is allowed within 48 hours.")
    return None


def send_message(message: Message) -> str:
    """Inbox sender for channel `weibo`: messages/reply, within the window. Raises SendError."""
    account = WeiboAccount.objects.filter(uid=message.account).first()
    if account is None:
        raise SendError(
            "no_account", _("Unknown Weibo account %(uid)s.") % {"uid": message.account}
        )
    if not account.token_usable:
        raise SendError(
            "token", _("The account's Weibo authorisation is not valid: authorise it again.")
        )
    problem = reply_window_error(account.uid, message.external_user)
    if problem:
        raise SendError("window_closed", problem)
    try:
        answer = client_for(account).reply_message(message.external_user, message.content)
    except TokenInvalid as exc:
        mark_token_invalid(account, exc)
        raise SendError(exc.code, exc.message)
    except (RateLimited, TransientError) as exc:
        raise SendError(exc.code, exc.message, transient=True)
    except WeiboError as exc:
        raise SendError(exc.code, exc.message)
    if not answer.get("result", True):
        raise SendError("refused", str(answer))
    return str(answer.get("id") or answer.get("msg_id") or "")


def address_for(customer):
    """(account uid, fan uid) to reach a customer who never wrote on Weibo: none (window rule)."""
    return None
