"""The smart POS (微POS): a charge shows a WeChat Pay Native QR code; the notification completes it."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from ..models import Coupon, Membership, MerchantConfig, OrderChannel, OrderStatus, PosCharge, Store
from ..qr import read_member_code
from .coupons import CouponError
from .orders import OrderError, create_order


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
    Raises OrderError/CouponError for a bad member code, coupon or amount; nothing is written then.
    """
    from ..client import PayError, WeChatPayClient

    merchant = MerchantConfig.objects.filter(active=True).order_by("pk").first()
    if merchant is None:
        raise OrderError("store", _("No WeChat Pay merchant is configured."), "no_merchant")
    if not store.active:
        raise OrderError("store", _("This store is closed."), "store_inactive")
    membership = membership_from_code(member_code) if member_code else None
    coupon = coupon_from_code(coupon_code) if coupon_code else None
    if coupon and membership and coupon.customer_id != membership.customer_id:
        raise CouponError("coupon_code", _("This coupon belongs to another customer."), "not_owner")
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
