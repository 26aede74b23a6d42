"""Erasure step of the WeChat channel (registered with crm.privacy in apps.py).

A follower's openid and unionid are what a returning person is recognised by: the follower row
stays (conversations, subscriptions and KPIs count it) with a tombstone for its openid and no
unionid, so the same openid next time is a new follower and a new customer. The raw pushes that
named the openid are redacted, and the copies of the openid kept per send (mass-send
recipients, template sends, subscription consent events) take the same tombstone, so the
send reports keep their counts and name nobody.
"""

from django.db.models import Q

from crm.models import Message, RawDelivery
from crm.privacy import redact_deliveries, tombstone

from . import protocol
from .hooks import SOURCE
from .models import MassSendRecipient, SubscribeEvent, TemplateSend, WeChatUser


def _deliveries_naming(user: WeChatUser, customer) -> Q:
    """The raw pushes from this follower: processed ones by their dedupe key (the MsgId of their
    messages, `ev:<openid>:...` for events) or the `openid` WeChat adds to the URL; others are
    decrypted below, since they have no dedupe key yet."""
    msg_ids = Message.objects.filter(
        customer=customer, channel="wechat", account=user.account.appid
    ).exclude(platform_msg_id="")
    return (
        Q(dedupe_key__in=msg_ids.values_list("platform_msg_id", flat=True))
        | Q(dedupe_key__startswith=f"ev:{user.openid}:")
        | Q(query__openid=user.openid)
    )


def _unprocessed_from(user: WeChatUser) -> list[int]:
    pks = []
    rows = RawDelivery.objects.filter(source=SOURCE, account=user.account.appid).exclude(
        status=RawDelivery.Status.PROCESSED
    )
    for delivery in rows.only("pk", "body", "query").iterator():
        try:
            message = protocol.decode_push(user.account, bytes(delivery.body), delivery.query or {})
        except protocol.ProtocolError:
            # Unreadable: look for the openid in the bytes (a plaintext body that failed).
            if user.openid.encode() in bytes(delivery.body):
                pks.append(delivery.pk)
            continue
        if message.get("openid") == user.openid:
            pks.append(delivery.pk)
    return pks


def erase_wechat_identities(customer) -> dict[str, int]:
    """Retire the customer's followers' openids and unionids; redact their raw pushes."""
    redacted = retired = copies = 0
    for user in WeChatUser.objects.filter(customer=customer).select_related("account"):
        rows = RawDelivery.objects.filter(source=SOURCE, account=user.account.appid)
        redacted += redact_deliveries(
            rows.filter(_deliveries_naming(user, customer) | Q(pk__in=_unprocessed_from(user)))
        )
        tomb = tombstone(user.pk)
        copies += MassSendRecipient.objects.filter(user_id=user.pk).update(openid=tomb)
        copies += TemplateSend.objects.filter(
            Q(user=user) | Q(account=user.account, openid=user.openid)
        ).update(openid=tomb)
        copies += SubscribeEvent.objects.filter(account=user.account, openid=user.openid).update(
            openid=tomb
        )
        retired += WeChatUser.objects.filter(pk=user.pk).update(openid=tomb, unionid="")
    return {
        "channels_wechat.WeChatUser (openid)": retired,
        "channels_wechat sends and consents (openid)": copies,
        "crm.RawDelivery (wechat)": redacted,
    }
