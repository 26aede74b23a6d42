"""Orders: creating them, marking them paid (from any source), refunds and cash sales."""

import logging
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.actions import mark_customer_paid, record_interaction
from crm.attribution import customers_changed
from crm.journeys import enroll
from crm.models import Channel, Customer, InteractionKind, JourneyTrigger
from crm.tasks_queue import enqueue_on_commit

from ..models import Membership, Order, OrderChannel, OrderStatus, PayerOpenid, Refund, Store
from ..models.orders import PAID_STATUSES
from .coupons import CouponError, redeem_coupon
from .errors import ActionError
from .membership import adjust_points, earn_points, points_for_amount, recompute_tier

logger = logging.getLogger(__name__)


class OrderError(ActionError):
    """An order operation that is refused (refund above the paid amount, order not paid...)."""


_CHANNEL = {
    OrderChannel.JSAPI: Channel.WECHAT,
    OrderChannel.NATIVE: Channel.WECHAT,
    OrderChannel.POS: Channel.POS,
    OrderChannel.CASH: Channel.POS,
}


def new_out_trade_no(at: datetime | None = None) -> str:
    """Our order number: Beijing time to the second + 8 random digits (32 chars max)."""
    stamp = timezone.localtime(at or timezone.now()).strftime("%Y%m%d%H%M%S")
    return f"{stamp}{secrets.randbelow(10**8):08d}"


def create_order(
    *,
    amount_fen: int,
    channel: str,
    store: Store | None = None,
    customer: Customer | None = None,
    merchant=None,
    description: str = "",
    coupon=None,
    out_trade_no: str = "",
    at: datetime | None = None,
) -> Order:
    """A new unpaid order. A coupon, if given, is checked now and redeemed when the order is paid;
    its discount comes off `amount_fen` (the amount the customer pays). Atomic.

    Raises OrderError for a non-positive amount, CouponError for a coupon that cannot be used.
    """
    at = at or timezone.now()
    if amount_fen <= 0:
        raise OrderError("amount_fen", _("The amount must be at least 1 fen."), "invalid")
    discount = 0
    if coupon is not None:
        from .coupons import check_redeemable

        check_redeemable(coupon, store=store, at=at, amount_fen=amount_fen)
        if customer is None:
            customer = coupon.customer
        discount = coupon.template.discount_for(amount_fen)
        if amount_fen - discount <= 0:
            discount = amount_fen - 1  # WeChat Pay needs at least 1 fen
    return Order.objects.create(
        out_trade_no=out_trade_no or new_out_trade_no(at),
        amount_fen=amount_fen - discount,
        discount_fen=discount,
        channel=channel,
        store=store,
        customer=customer,
        merchant=merchant,
        description=description[:128],
        coupon=coupon,
        created_at=at,
    )


def customer_for_openid(appid: str, openid: str) -> Customer | None:
    if not openid:
        return None
    row = PayerOpenid.objects.filter(appid=appid, openid=openid).select_related("customer").first()
    if row is None:
        return None
    customer = row.customer
    while customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def link_payer_openid(customer: Customer, *, appid: str, openid: str, unionid: str = "") -> None:
    """Remember that this openid is this customer; paid orders of that openid without a customer
    become theirs (with their points and stage move). Atomic."""
    if not openid:
        return
    with transaction.atomic():
        try:
            with transaction.atomic():
                PayerOpenid.objects.update_or_create(
                    appid=appid,
                    openid=openid,
                    defaults={"customer": customer, "unionid": unionid or ""},
                )
        except IntegrityError:
            pass
        for order in Order.objects.filter(
            payer_openid=openid, customer__isnull=True, status__in=PAID_STATUSES
        ):
            order.customer = customer
            order.save(update_fields=["customer"])
            apply_paid_effects(order)


def mark_order_paid(
    order: Order,
    *,
    transaction_id: str | None,
    paid_at: datetime,
    amount_fen: int | None = None,
    payer_openid: str = "",
    notify: bool = True,
) -> tuple[Order, str]:
    """Record that the platform took the money for `order`. Returns (order, outcome).

    `payer_openid` is recorded on the order. It attaches an order without a customer to the
    customer that openid is already mapped to (learned at a WeChat sign-in); it never creates or
    changes a mapping, so paying someone else's order opens nothing of theirs.

    Outcomes: `paid` (it just became paid: stage `customer`, leads converted, points, timeline,
    coupon redeemed, tier recomputed, and unless `notify` is false the order message queued),
    `duplicate` (already paid: nothing happens, so a notification delivered five times has one
    effect), `amount_mismatch` (the notified amount differs from the order: the order is flagged
    and not marked paid).
    The order row is locked; atomic.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status in PAID_STATUSES:
            return order, "duplicate"
        if amount_fen is not None and amount_fen != order.amount_fen:
            order.flags = {
                **order.flags,
                "amount_mismatch": {
                    "expected": order.amount_fen,
                    "notified": amount_fen,
                    "transaction_id": transaction_id,
                },
            }
            order.save(update_fields=["flags"])
            logger.warning(
                "payment for order %s: amount %s differs from %s",
                order.pk,
                amount_fen,
                order.amount_fen,
            )
            return order, "amount_mismatch"
        order.status = OrderStatus.PAID
        order.transaction_id = transaction_id or None
        order.paid_at = paid_at
        if payer_openid:
            order.payer_openid = payer_openid
        merchant = order.merchant
        # A guest order goes to whoever the payer's openid already names (a mapping WeChat OAuth
        # proved). An order that has a customer only records its payer: anyone may pay it (a
        # cashier lets a stranger pay 1 fen), so the payer never becomes that customer's sign-in.
        if order.customer is None and payer_openid and merchant is not None:
            order.customer = customer_for_openid(merchant.appid, payer_openid)
        order.save(
            update_fields=["status", "transaction_id", "paid_at", "payer_openid", "customer"]
        )
        if order.coupon is not None:
            try:
                with transaction.atomic():
                    redeem_coupon(order.coupon.code, store=order.store, order=order, at=paid_at)
            except CouponError as exc:
                order.flags = {**order.flags, "coupon_failed": exc.reason}
                order.save(update_fields=["flags"])
        apply_paid_effects(order)
        if notify and order.customer_id:
            enqueue_on_commit("members.tasks.send_order_message_task", order.pk)
    return order, "paid"


def apply_paid_effects(order: Order) -> None:
    """What a paid order does to its customer: stage, leads, timeline, points, tier.

    Each effect is idempotent (per order), so running it again adds nothing. Runs in the caller's
    transaction.
    """
    customer = order.customer
    if customer is None:
        return
    customers_changed([customer.pk])  # a new paid order to attribute
    channel = _CHANNEL[OrderChannel(order.channel)]
    paid_at = order.paid_at or timezone.now()
    mark_customer_paid(customer, at=paid_at, channel=channel)
    enroll(JourneyTrigger.ORDER_PAID, [(customer.pk, f"order:{order.out_trade_no}", order.channel)])
    record_interaction(
        customer,
        InteractionKind.ORDER,
        channel,
        occurred_at=paid_at,
        summary=_("Paid ¥%(amount)s, order %(no)s")
        % {"amount": order.amount_yuan, "no": order.out_trade_no}
        + (f" @ {order.store.name}" if order.store is not None else ""),
        subject=order,
        data={"amount_fen": order.amount_fen, "channel": order.channel},
    )
    membership = Membership.objects.filter(customer=customer).first()
    if membership is None:
        return
    points = points_for_amount(order.amount_fen)
    if points > 0:
        earn_points(
            membership,
            points,
            source_ref=f"order:{order.out_trade_no}",
            reason=_("Order %(no)s") % {"no": order.out_trade_no},
            at=paid_at,
        )
    recompute_tier(membership, now=max(paid_at, timezone.now()))


def record_cash_sale(
    *,
    amount_fen: int,
    store: Store,
    customer: Customer | None = None,
    coupon=None,
    method: str = "cash",
    at: datetime | None = None,
    out_trade_no: str = "",
) -> Order:
    """A sale paid in cash or by card at the till: a paid order at once. Atomic."""
    at = at or timezone.now()
    with transaction.atomic():
        order = create_order(
            amount_fen=amount_fen,
            channel=OrderChannel.CASH,
            store=store,
            customer=customer,
            coupon=coupon,
            description=method,
            out_trade_no=out_trade_no,
            at=at,
        )
        order, _outcome = mark_order_paid(order, transaction_id=None, paid_at=at)
    return order


def check_refundable(order: Order, amount_fen: int) -> None:
    """Raise OrderError unless `amount_fen` can be refunded on the order now."""
    if order.status not in PAID_STATUSES:
        raise OrderError("order", _("Only a paid order can be refunded."), "not_paid")
    left = order.amount_fen - order.refunded_fen
    if amount_fen <= 0 or amount_fen > left:
        raise OrderError(
            "amount_fen",
            _("The refund must be between 1 and %(left)s fen (what is left to refund).")
            % {"left": left},
            "too_much",
        )


def refund_order(
    order: Order,
    amount_fen: int,
    *,
    reason: str = "",
    out_refund_no: str = "",
    refund_id: str = "",
    by=None,
    at: datetime | None = None,
) -> Refund:
    """Record money returned on a paid order and take back the points it earned, in proportion.

    Idempotent per `out_refund_no`. Raises OrderError: order not paid (`not_paid`), amount not
    positive or above what is left (`too_much`). Points taken back never push the balance below
    zero (the ledger takes what is there). Atomic; the order row is locked.
    """
    at = at or timezone.now()
    out_refund_no = out_refund_no or f"R{new_out_trade_no(at)}"
    with transaction.atomic():
        existing = Refund.objects.filter(out_refund_no=out_refund_no).first()
        if existing:
            return existing
        order = Order.objects.select_for_update().get(pk=order.pk)
        check_refundable(order, amount_fen)
        refund = Refund.objects.create(
            order=order,
            out_refund_no=out_refund_no,
            refund_id=refund_id,
            amount_fen=amount_fen,
            reason=reason[:200],
            created_at=at,
            created_by=by,
        )
        order.refunded_fen += amount_fen
        order.status = (
            OrderStatus.REFUNDED
            if order.refunded_fen == order.amount_fen
            else OrderStatus.PARTIALLY_REFUNDED
        )
        order.save(update_fields=["refunded_fen", "status"])
        membership = (
            Membership.objects.filter(customer=order.customer).first() if order.customer else None
        )
        if membership is not None:
            earned = points_for_amount(order.amount_fen)
            # Cumulative, so two partial refunds take back exactly what one full refund would.
            target = earned * order.refunded_fen // order.amount_fen
            already = sum(r.points_reversed for r in order.refunds.exclude(pk=refund.pk))
            back = target - already
            if back > 0:
                entry, _created = adjust_points(
                    membership,
                    -back,
                    source_ref=f"refund:{out_refund_no}",
                    reason=_("Refund on order %(no)s") % {"no": order.out_trade_no},
                    at=at,
                    by=by,
                    clamp=True,
                )
                refund.points_reversed = -entry.points
                refund.save(update_fields=["points_reversed"])
            recompute_tier(membership, now=max(at, timezone.now()))
        if order.customer:
            record_interaction(
                order.customer,
                InteractionKind.REFUND,
                _CHANNEL[OrderChannel(order.channel)],
                occurred_at=at,
                summary=_("Refunded ¥%(amount)s on order %(no)s")
                % {"amount": f"{amount_fen / 100:.2f}", "no": order.out_trade_no},
                subject=refund,
            )
            enqueue_on_commit("members.tasks.send_refund_message_task", refund.pk)
    return refund


def refund_through_platform(
    order: Order, amount_fen: int, *, reason: str = "", by=None, at: datetime | None = None
) -> Refund:
    """Return money on a paid order: through WeChat Pay when WeChat Pay took it (the order has a
    merchant and a transaction id, and was not paid in cash), then recorded (`refund_order`:
    points taken back, tier, timeline). Returns the Refund, with WeChat Pay's `refund_id`.

    One transaction with the order row locked (select_for_update) from the refundable check to
    the record, so two refunds of one order cannot both pass the check and both reach the
    platform; the refund number (`R<out_trade_no>-<n>`) is counted under the same lock.
    Raises OrderError, and nothing is sent or written: `not_paid`, `too_much` (checked before
    asking the platform); `payment` when WeChat Pay refuses or cannot be reached. Should the
    record fail after the platform refunded, WeChat Pay's refund notification records it
    (`apply_payment_notification`, idempotent on out_refund_no).
    """
    from ..client import PayError, WeChatPayClient

    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        check_refundable(order, amount_fen)
        out_refund_no = f"R{order.out_trade_no}-{order.refunds.count() + 1}"
        refund_id = ""
        if order.merchant_id and order.channel != OrderChannel.CASH and order.transaction_id:
            try:
                reply = WeChatPayClient(order.merchant).refund(
                    order, out_refund_no=out_refund_no, refund_fee=amount_fen
                )
            except PayError as exc:
                raise OrderError("payment", f"WeChat Pay: {exc.message}", "payment") from exc
            refund_id = reply.get("refund_id", "")
        return refund_order(
            order,
            amount_fen,
            reason=reason,
            out_refund_no=out_refund_no,
            refund_id=refund_id,
            by=by,
            at=at,
        )


# A WeChat Pay charge nobody paid within this time (a QR code left on the POS screen) is closed.
CHARGE_LIFETIME_HOURS = 2


def reconcile_unpaid_orders(
    older_than_minutes: int = 10, within_days: int = 2, *, now: datetime | None = None
) -> int:
    """Ask WeChat Pay about our unpaid WeChat Pay orders (a notification may have been lost) and
    apply what it says: paid ones through `mark_order_paid` (idempotent: a notification arriving
    meanwhile has one effect); those closed on the platform, or still unpaid after
    CHARGE_LIFETIME_HOURS, closed. Orders created in the last `older_than_minutes` (the customer
    may be paying now) or more than `within_days` ago are left alone.

    Returns how many orders were found paid. Each order is its own transaction (a failure leaves
    the others done); closing is conditional on the order still being unpaid, so a payment
    recorded meanwhile is never closed. A platform error on one order is logged and skipped (the
    next run asks again); it raises nothing.
    """
    from ..client import PayError, WeChatPayClient
    from ..protocol import parse_time_end

    now = now or timezone.now()
    rows = Order.objects.filter(
        status=OrderStatus.CREATED,
        merchant__isnull=False,
        channel__in=[OrderChannel.JSAPI, OrderChannel.NATIVE, OrderChannel.POS],
        created_at__lt=now - timedelta(minutes=older_than_minutes),
        created_at__gt=now - timedelta(days=within_days),
    ).select_related("merchant")
    paid = 0
    for order in rows:
        try:
            result = WeChatPayClient(order.merchant).order_query(order.out_trade_no)
        except PayError as exc:
            logger.warning("order query for %s failed: %s", order.out_trade_no, exc)
            continue
        state = result.get("trade_state")
        if state in ("CLOSED", "REVOKED", "PAYERROR") or (
            state == "NOTPAY" and order.created_at < now - timedelta(hours=CHARGE_LIFETIME_HOURS)
        ):
            Order.objects.filter(pk=order.pk, status=OrderStatus.CREATED).update(
                status=OrderStatus.CLOSED
            )
            continue
        if state != "SUCCESS":
            continue
        _order, outcome = mark_order_paid(
            order,
            transaction_id=result.get("transaction_id") or None,
            paid_at=parse_time_end(result["time_end"]) if result.get("time_end") else now,
            amount_fen=int(result["total_fee"]) if result.get("total_fee") else None,
            payer_openid=result.get("openid", ""),
        )
        paid += outcome == "paid"
    return paid
