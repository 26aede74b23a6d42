"""WeChat actions that reach the platform: deliver a stored message, fetch a follower's profile,
create and change channel QR codes.

The HTTP calls are channels_wechat.client's; these decide what to call and store what comes back.
`send_message` and `resolve_address` are the channel's crm.inbox sender (registered in
apps.py); `fetch_user_info` runs in `fetch_user_info_task` for each new follower.
"""

import logging
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.inbox import SendError

from .client import WeChatClient
from .ingest import attach_customer
from .media import upload_message_media
from .models import (
    MAX_EXPIRE_SECONDS,
    MAX_SCENE_LENGTH,
    ChannelCode,
    OfficialAccount,
    WeChatUser,
)

logger = logging.getLogger(__name__)


def send_message(message) -> str:
    """crm.inbox sender for channel "wechat": deliver a stored outbound Message.

    Text by default; `msg_type="image"` or `"voice"` uses `media_id` (or data["media_id"]), else
    uploads the message's stored file first (channels_wechat.media); `msg_type="news"`
    sends data["article"]. Counts the send against the user's window quota. A follower whose
    unsubscribe push was stored is refused here with WeChat's own 45015, without the call
    (a member notice after an unfollow went to WeChat only to be refused).
    """
    account = OfficialAccount.objects.filter(appid=message.account).first()
    if account is None:
        raise SendError("no_account", f"unknown official account {message.account}")
    if WeChatUser.objects.filter(  # not subscribed alone: followers from before the CRM are not
        account=account,
        openid=message.external_user,
        subscribed=False,
        unsubscribe_time__isnull=False,
    ).exists():
        raise SendError("45015", "subscription is canceled (checked locally)")
    client = WeChatClient(account)
    data = message.data or {}
    if message.msg_type in ("image", "voice"):
        media_id = message.media_id or data.get("media_id") or upload_message_media(client, message)
        msgid = client.send(message.external_user, message.msg_type, {"media_id": media_id})
    elif message.msg_type == "news":
        msgid = client.send_news(message.external_user, data.get("article", {}))
    else:
        msgid = client.send_text(message.external_user, message.content)
    WeChatUser.objects.filter(account=account, openid=message.external_user).update(
        window_used=F("window_used") + 1
    )
    return msgid


def resolve_address(customer) -> tuple[str, str] | None:
    """(appid, openid) of a subscribed follower of this customer, for notices."""
    user = (
        WeChatUser.objects.filter(customer=customer, subscribed=True)
        .select_related("account")
        .order_by("-last_message_at", "-id")
        .first()
    )
    return (user.account.appid, user.openid) if user else None


def fetch_user_info(user_id: int) -> bool:
    """Fill a follower's unionid, scene and language from cgi-bin/user/info. True if fetched."""
    user = WeChatUser.objects.select_related("account").get(pk=user_id)
    try:
        info = WeChatClient(user.account).user_info(user.openid)
    except SendError as exc:
        logger.warning("user info for follower %s not fetched: %s", user_id, exc.code)
        return False
    if not int(info.get("subscribe", 0)):
        return False
    user.unionid = info.get("unionid", "") or user.unionid
    user.language = info.get("language", "") or user.language
    user.remark = info.get("remark", "") or user.remark
    user.subscribe_scene = info.get("subscribe_scene", "") or user.subscribe_scene
    scene = info.get("qr_scene_str") or info.get("qr_scene") or ""
    user.qr_scene = str(scene) if scene not in ("", 0, "0") else user.qr_scene
    user.nickname = info.get("nickname", "") or user.nickname
    user.info_fetched_at = timezone.now()
    user.save()
    attach_customer(user, at=user.subscribe_time or timezone.now())
    return True


# --- channel QR codes ---------------------------------------------------------------------------

# What a new channel code takes (the admin add form and the API offer the same).
NEW_CODE_FIELDS = [
    "account",
    "name",
    "purpose",
    "scene",
    "kind",
    "expire_seconds",
    "welcome_message",
    "tags",
    "owner",
    "active",
]

CODE_EDITABLE_FIELDS = ("name", "purpose", "welcome_message", "tags", "owner", "active")


def _check_new_code(account, scene: str, kind: str, expire_seconds) -> None:
    errors: dict[str, str] = {}
    if not scene:
        errors["scene"] = _("The scene is required.")
    elif len(scene) > MAX_SCENE_LENGTH:
        errors["scene"] = _("The scene is at most %(n)s characters (WeChat's limit).") % {
            "n": MAX_SCENE_LENGTH
        }
    elif ChannelCode.objects.filter(account=account, scene=scene).exists():
        errors["scene"] = _("This account already has a channel code with this scene.")
    if kind == ChannelCode.Kind.TEMPORARY:
        if not expire_seconds or expire_seconds < 1:
            errors["expire_seconds"] = _("A temporary code needs its lifetime in seconds.")
        elif expire_seconds > MAX_EXPIRE_SECONDS:
            errors["expire_seconds"] = _(
                "A temporary code lives at most 2592000 seconds (30 days)."
            )
    elif kind != ChannelCode.Kind.PERMANENT:
        errors["kind"] = _("The kind is temporary or permanent.")
    if errors:
        raise ValidationError(errors)


def create_channel_code(
    account: OfficialAccount,
    *,
    name: str,
    purpose: str,
    scene: str,
    kind: str,
    expire_seconds: int | None = None,
    welcome_message: str = "",
    tags=(),
    owner=None,
    active: bool = True,
) -> ChannelCode:
    """Create a channel QR code at WeChat (`cgi-bin/qrcode/create`) and store it with its ticket.

    Checked before WeChat is called: scene 1-64 characters and new on this account, kind
    temporary (1..2592000 seconds) or permanent. Raises ValidationError for those, and for
    WeChat's refusal (its errcode and message on the `scene` field); nothing is stored then.
    The row is written in one transaction after WeChat answered.
    """
    scene = (scene or "").strip()
    _check_new_code(account, scene, kind, expire_seconds)
    temporary = kind == ChannelCode.Kind.TEMPORARY
    try:
        answer = WeChatClient(account).create_qrcode(scene, expire_seconds if temporary else None)
    except SendError as exc:
        raise ValidationError(
            {
                "scene": _("WeChat refused the code: %(code)s %(message)s")
                % {"code": exc.code, "message": exc.message}
            }
        ) from None
    now = timezone.now()
    lifetime = int(answer.get("expire_seconds") or expire_seconds or 0) if temporary else 0
    with transaction.atomic():
        code = ChannelCode.objects.create(
            account=account,
            name=name,
            purpose=purpose,
            scene=scene,
            kind=kind,
            expire_seconds=expire_seconds if temporary else None,
            welcome_message=welcome_message,
            owner=owner,
            active=active,
            ticket=answer["ticket"],
            url=answer.get("url", ""),
            expires_at=now + timedelta(seconds=lifetime) if temporary else None,
            created_at=now,
        )
        code.tags.set(tags)
    return code


def update_channel_code(code: ChannelCode, changes: dict[str, Any]) -> ChannelCode:
    """Change what a code does locally: name, purpose, welcome message, tags, owner, active.

    The scene, kind and ticket are WeChat's and cannot change (make a new code). Raises
    ValidationError naming any other field; nothing is written then. One transaction.
    """
    refused = sorted(set(changes) - set(CODE_EDITABLE_FIELDS))
    if refused:
        raise ValidationError(
            {field: _("This field cannot change once the code exists.") for field in refused}
        )
    with transaction.atomic():
        for field, value in changes.items():
            if field != "tags":
                setattr(code, field, value)
        code.save()
        if "tags" in changes:
            code.tags.set(changes["tags"])
    return code
