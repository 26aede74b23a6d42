"""Ingestion's side of Weibo → WeChat handoffs: a follow or scan through a handoff's channel
code claims it (crm.actions.claim_handoff). Called by channels_wechat.codes; the codes themselves
are made by channels_wechat.handoff."""

from datetime import datetime

from crm.actions import claim_handoff
from crm.models import Message

from .models import OfficialAccount, WeChatUser


def claim_through_code(
    account: OfficialAccount, user: WeChatUser, stored: Message, scene: str, *, at: datetime
) -> str:
    """Claim the handoff of `scene` for this follower; returns the reason ("" when linked).

    The follower's customer may be merged into the Weibo user's: the in-memory `user` is
    re-read so the rest of ingestion (welcome message, conversation) uses the survivor.
    """
    assert user.customer is not None  # ingestion links a customer before the scene is read
    customer, reason = claim_handoff(
        scene,
        appid=account.appid,
        openid=user.openid,
        customer=user.customer,
        at=at,
        subject=stored,
    )
    if customer.pk != user.customer_id:
        user.refresh_from_db(fields=["customer"])
    return reason
