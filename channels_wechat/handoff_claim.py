"""Ingestion's side of Weibo → WeChat handoffs: a follow or scan through a handoff's channel
code claims it (crm.actions.claim_handoff). Called by channels_wechat.codes; the codes themselves
are made by channels_wechat.handoff."""

from datetime import datetime

from crm.actions import claim_handoff
from crm.models import Message

from .models import ChannelCode, WeChatUser


def claim_through_code(
    code: ChannelCode, user: WeChatUser, stored: Message, *, event: str, at: datetime
) -> str:
    """The purpose handler of `weibo_handoff` codes (registered in apps.py): claim the handoff of
    the code's scene for this follower; returns the reason ("" when linked). The claim puts the
    outcome on the timeline.

    The follower's customer may be merged into the Weibo user's: the in-memory `user` is
    re-read so the rest of ingestion (welcome message, conversation) uses the survivor.
    """
    assert user.customer is not None  # ingestion links a customer before the scene is read
    customer, reason = claim_handoff(
        code.scene,
        appid=code.account.appid,
        openid=user.openid,
        customer=user.customer,
        at=at,
        subject=stored,
    )
    if customer.pk != user.customer_id:
        user.refresh_from_db(fields=["customer"])
    return reason
