"""The smart POS (微POS): a charge shows a WeChat Pay Native QR code; the notification completes it.

A till calls the POS API as a `PosDevice` of one store (never as a staff user); a coupon is used
only together with the card of the member who holds it.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import (
    Coupon,
    Membership,
    MerchantConfig,
    Order,
    OrderChannel,
    OrderStatus,
    PosCharge,
    PosDevice,
    Store,
)
from ..models.pos import hash_device_key, new_device_key
from ..qr import read_member_code
from .coupons import CouponError
from .orders import OrderError, create_order, record_cash_sale

LAST_USED_EVERY = timedelta(minutes=5)  # how stale `last_used_at` may get: no write per request


def issue_pos_device_key(device: PosDevice, *, by=None) -> str:
    """Give `device` a new random key and save it (creating the device if it is new); the old
    key stops working at once. Returns the key: the only time it is seen, as only its hash is
    stored. `by` (a staff user) is recorded as the creator of a new device."""
    key = new_device_key()
    device.key_hash = hash_device_key(key)
    device.key_prefix = key[:12]
    device.key_issued_at = timezone.now()
    if device.pk is None:
        device.created_by = by if by is not None and by.is_authenticated else None
        device.save()
    else:
        device.save(update_fields=["key_hash", "key_prefix", "key_issued_at"])
    return key


def authenticate_pos_device(key: str) -> PosDevice | None:
    """The active device of an open store holding `key` (None otherwise); notes its use."""
    device = PosDevice.objects.for_key(key)
    if device is not None:
        now = timezone.now()
        if device.last_used_at is None or now - device.last_used_at > LAST_USED_EVERY:
            PosDevice.objects.filter(pk=device.pk).update(last_used_at=now)
            device.last_used_at = now
    return device


def device_store(device: PosDevice, store: Store | None) -> Store:
    """The store a device acts for. A request naming another store is refused (OrderError
    `wrong_store`): a till never books sales or charges for another shop."""
    if store is not None and store.pk != device.store_id:
        raise OrderError(
            "store",
            _("This POS device belongs to store %(code)s.") % {"code": device.store.code},
            "wrong_store",
        )
    if not device.store.active:
        raise OrderError("store", _("This store is closed."), "store_inactive")
    return device.store


def check_coupon_owner(coupon: Coupon | None, membership: Membership | None) -> None:
    """A coupon is used only by the member who holds it, shown by their card code at the till:
    a coupon code without the card, or with another member's card, raises CouponError
    (`coupon_code`, reasons `owner_not_shown` / `not_owner`)."""
    if coupon is None:
        return
    if membership is None:
        raise CouponError(
            "coupon_code",
            _("Scan the member's card code too: a coupon is used only by the member who holds it."),
            "owner_not_shown",
        )
    if coupon.customer_id != membership.customer_id:
        raise CouponError("coupon_code", _("This coupon belongs to another customer."), "not_owner")


def membership_from_code(code: str) -> Membership:
    """The member whose card QR code this is. Raises OrderError (`member_code`): `expired_code`
    for a genuine code older than its lifetime (the member refreshes the card page),
    `unknown_member` for a forged code or one of no member."""
    number, state = read_member_code(code.strip())
    if state == "expired":
        raise OrderError(
            "member_code",
            _("This member card code has expired. Ask the member to refresh their card page."),
            "expired_code",
        )
    membership = (
        Membership.objects.filter(member_number=number).select_related("customer", "tier").first()
        if number
        else None
    )
    if membership is None:
        raise OrderError("member_code", _("This member code is not valid."), "unknown_member")
    return membership


def coupon_from_code(code: str) -> Coupon:
    coupon = Coupon.objects.filter(code=code.strip().upper()).select_related("template").first()
    if coupon is None:
        raise CouponError("coupon_code", _("No coupon has this code."), "not_found")
    return coupon


def notify_url(merchant: MerchantConfig) -> str:
    path = reverse("members:wechatpay_v2", kwargs={"mchid": merchant.mchid})
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def start_pos_charge(
    *,
    store: Store,
    amount_fen: int,
    member_code: str = "",
    coupon_code: str = "",
    description: str = "",
    by=None,
) -> PosCharge:
    """Create the order and ask WeChat Pay for a Native `code_url` to show as a QR code.

    The order and charge are committed first, then the platform is called outside the
    transaction; if it fails the order is closed and OrderError (`payment`) is raised.
    Raises OrderError/CouponError for a bad member code, coupon (also one that is not the scanned
    member's: `check_coupon_owner`) or amount; nothing is written then.
    """
    from ..client import PayError, WeChatPayClient

    merchant = MerchantConfig.objects.filter(active=True).order_by("pk").first()
    if merchant is None:
        raise OrderError("store", _("No WeChat Pay merchant is configured."), "no_merchant")
    if not store.active:
        raise OrderError("store", _("This store is closed."), "store_inactive")
    membership = membership_from_code(member_code) if member_code else None
    coupon = coupon_from_code(coupon_code) if coupon_code else None
    check_coupon_owner(coupon, membership)
    with transaction.atomic():
        order = create_order(
            amount_fen=amount_fen,
            channel=OrderChannel.POS,
            store=store,
            customer=membership.customer if membership else None,
            merchant=merchant,
            description=description or store.name,
            coupon=coupon,
        )
        charge = PosCharge.objects.create(order=order, store=store, created_by=by)
    try:
        reply = WeChatPayClient(merchant).unified_order(
            order, trade_type="NATIVE", notify_url=notify_url(merchant)
        )
    except PayError as exc:
        order.status = OrderStatus.CLOSED
        order.flags = {**order.flags, "unified_order_error": exc.code}
        order.save(update_fields=["status", "flags"])
        raise OrderError(
            "payment",
            _("WeChat Pay refused the charge: %(error)s") % {"error": exc.message},
            "payment",
        ) from exc
    charge.code_url = reply.get("code_url", "")
    charge.save(update_fields=["code_url"])
    return charge


def record_pos_sale(
    *,
    device: PosDevice,
    amount_fen: int,
    method: str,
    store: Store | None = None,
    member_code: str = "",
    coupon_code: str = "",
) -> Order:
    """A cash or card sale booked by a till: a paid order at once (points, stage, coupon) at the
    device's store (`record_cash_sale`).

    Raises OrderError/CouponError, writing nothing: another store than the device's
    (`wrong_store`), a bad or expired member code, an unknown coupon, a coupon without its
    owner's card or with another member's (`check_coupon_owner`), a coupon that cannot be used.
    """
    store = device_store(device, store)
    membership = membership_from_code(member_code) if member_code else None
    coupon = coupon_from_code(coupon_code) if coupon_code else None
    check_coupon_owner(coupon, membership)
    return record_cash_sale(
        amount_fen=amount_fen,
        store=store,
        customer=membership.customer if membership else None,
        coupon=coupon,
        method=method,
    )
