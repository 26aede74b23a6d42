"""Erasure step of the members app (registered with crm.privacy in apps.py).

A payer openid is what a returning payer is recognised by: the sign-in mappings
(PayerOpenid) are deleted, as crm deletes the strong identity keys, so the same openid paying
again is a guest (or, after a WeChat sign-in, a new customer); every order and payment
notification that records one of those openids forgets it, and the raw notifications of the
customer's payments are redacted. Orders, amounts and statuses stay.
"""

from django.db.models import Q

from crm.models import RawDelivery
from crm.privacy import redact_deliveries, redact_values

from .models import Order, PayerOpenid, PaymentNotification, PhoneVerification


def erase_payer_identities(customer) -> dict[str, int]:
    """Delete the customer's payer openids and blank them wherever orders recorded them."""
    mapped = PayerOpenid.objects.filter(customer=customer)
    openids = set(mapped.values_list("openid", flat=True))
    openids |= set(Order.objects.filter(customer=customer).values_list("payer_openid", flat=True))
    openids.discard("")
    deleted, _per_model = mapped.delete()
    notifications = PaymentNotification.objects.filter(
        Q(order__customer=customer) | Q(payer_openid__in=openids)
    )
    raw_ids = [pk for pk in notifications.values_list("raw_id", flat=True) if pk]
    blanked = 0
    for row in notifications.only("pk", "data"):
        blanked += PaymentNotification.objects.filter(pk=row.pk).update(
            payer_openid="", data=redact_values(row.data, openids)
        )
    return {
        "members.PayerOpenid (deleted)": deleted,
        "members.Order (payer openid)": Order.objects.filter(payer_openid__in=openids).update(
            payer_openid=""
        ),
        "members.PaymentNotification (payer openid)": blanked,
        "crm.RawDelivery (wechatpay)": redact_deliveries(
            RawDelivery.objects.filter(pk__in=raw_ids)
        ),
    }


def erase_phone_verifications(customer) -> dict[str, int]:
    """Delete the SMS codes the customer asked for: each holds a phone and a client address,
    and a code's only use (proving the phone once) is over or void after erasure."""
    deleted, _per_model = PhoneVerification.objects.filter(customer=customer).delete()
    return {"members.PhoneVerification (deleted)": deleted}
