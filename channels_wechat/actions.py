"""WeChat actions that reach the platform: deliver a stored message, fetch a follower's profile.

The HTTP calls are channels_wechat.client's; these decide what to call and store what comes back.
`send_message` and `resolve_address` are the channel's crm.inbox sender (registered in
apps.py); `fetch_user_info` runs in `fetch_user_info_task` for each new follower.
"""

import logging

from django.db.models import F
from django.utils import timezone

from crm.inbox import SendError

from .client import WeChatClient
from .ingest import attach_customer
from .models import OfficialAccount, WeChatUser

logger = logging.getLogger(__name__)


def send_message(message) -> str:
    """crm.inbox sender for channel "wechat": deliver a stored outbound Message.

    Text by default; `msg_type="image"` uses `media_id` (or data["media_id"]); `msg_type="news"`
    sends data["article"]. Counts the send against the user's window quota.
    """
    account = OfficialAccount.objects.filter(appid=message.account).first()
    if account is None:
        raise SendError("no_account", f"unknown official account {message.account}")
    client = WeChatClient(account)
    data = message.data or {}
    if message.msg_type == "image":
        msgid = client.send_image(message.external_user, message.media_id or data["media_id"])
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
