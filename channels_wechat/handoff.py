"""The WeChat side of Weibo → WeChat handoffs (crm.models.Handoff).

`handoff_qr` is crm's handoff QR provider (registered in apps.py): it makes the handoff's own
temporary channel code (purpose `weibo_handoff`, a random scene issued to this handoff alone,
living as long as the handoff) at WeChat and returns its image URL. What a follow through such a
code does is channels_wechat.handoff_claim's.
"""

import secrets
import urllib.parse

from django.conf import settings
from django.utils import timezone

from crm.actions import set_handoff_scene

from .actions import create_channel_code
from .models import ChannelCode, OfficialAccount


def image_url(code: ChannelCode) -> str:
    """WeChat's own image of the code (`showqrcode`: the ticket is the credential)."""
    base = settings.WECHAT_MP_BASE.rstrip("/")
    return f"{base}/cgi-bin/showqrcode?{urllib.parse.urlencode({'ticket': code.ticket})}"


def handoff_qr(handoff) -> str:
    """The QR image URL of `handoff`, making its channel code at WeChat the first time.

    The code is temporary, expiring with the handoff (at least one minute), on the first active
    official account. Raises LookupError without an account, ValidationError when WeChat refuses
    (from create_channel_code; nothing stored then).
    """
    if handoff.scene:
        code = ChannelCode.objects.filter(account__appid=handoff.appid, scene=handoff.scene).first()
        if code is not None:
            return image_url(code)
    account = OfficialAccount.objects.filter(active=True).order_by("pk").first()
    if account is None:
        raise LookupError("no active official account")
    lifetime = int((handoff.expires_at - timezone.now()).total_seconds())
    code = create_channel_code(
        account,
        name=f"微博引流 {handoff.weibo_uid}"[:64],
        purpose=ChannelCode.Purpose.WEIBO_HANDOFF,
        scene=f"ho_{secrets.token_urlsafe(18)}",
        kind=ChannelCode.Kind.TEMPORARY,
        expire_seconds=max(60, lifetime),
    )
    set_handoff_scene(handoff, appid=account.appid, scene=code.scene)
    return image_url(code)
