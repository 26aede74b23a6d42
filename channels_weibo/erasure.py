"""Erasure step of the Weibo channel (registered with crm.privacy in apps.py).

A Weibo uid is what a returning person is recognised by: the WeiboUser row stays (posts,
comments and KPIs count it) with a tombstone for its uid, so the same uid next time is a new
WeiboUser and a new customer. The uid is taken out of the stored raw objects of the posts and
comments (crm already blanked their text), and the fan-service pushes that came from it are
redacted.
"""

import json

from django.db.models import Q

from crm.models import RawDelivery
from crm.privacy import redact_deliveries, redact_values, tombstone

from .hooks import SOURCE
from .models import WeiboComment, WeiboPost, WeiboUser


def _pushes_from(uid: str) -> Q:
    """Processed pushes by their dedupe key (`<sender uid>:...`); the others by reading them."""
    pks = []
    unprocessed = RawDelivery.objects.filter(source=SOURCE).exclude(
        status=RawDelivery.Status.PROCESSED
    )
    for delivery in unprocessed.only("pk", "body").iterator():
        try:
            sender = str(json.loads(bytes(delivery.body)).get("sender_id", ""))
        except (ValueError, AttributeError):
            sender = uid if uid.encode() in bytes(delivery.body) else ""
        if sender == uid:
            pks.append(delivery.pk)
    return Q(status=RawDelivery.Status.PROCESSED, dedupe_key__startswith=f"{uid}:") | Q(pk__in=pks)


def _forget_uid_in_raw(model, user: WeiboUser) -> int:
    changed = 0
    for row in model.objects.filter(author=user).only("pk", "raw").iterator():
        raw = redact_values(row.raw, [user.uid])
        if raw != row.raw:
            changed += model.objects.filter(pk=row.pk).update(raw=raw)
    return changed


def erase_weibo_identities(customer) -> dict[str, int]:
    """Retire the customer's Weibo uids; take them out of raw objects and fan-service pushes."""
    counts = {"channels_weibo.WeiboUser (uid)": 0, "crm.RawDelivery (weibo)": 0}
    for user in WeiboUser.objects.filter(customer=customer):
        for model in (WeiboPost, WeiboComment):
            label = f"{model._meta.label} (raw uid)"
            counts[label] = counts.get(label, 0) + _forget_uid_in_raw(model, user)
        counts["crm.RawDelivery (weibo)"] += redact_deliveries(
            RawDelivery.objects.filter(_pushes_from(user.uid), source=SOURCE)
        )
        counts["channels_weibo.WeiboUser (uid)"] += WeiboUser.objects.filter(pk=user.pk).update(
            uid=tombstone(user.pk)
        )
    return counts
