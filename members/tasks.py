"""Celery tasks of the members app: thin wrappers around plain functions that tests call."""

import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="members.tasks.process_payment_notification_task")
def process_payment_notification_task(delivery_id: int) -> str:
    from crm.ingestion import run_processor

    from .actions.payments import apply_payment_notification

    return run_processor(delivery_id, apply_payment_notification)


def _member_fields(customer) -> dict:
    """The notice fields every member notice carries (channels_wechat maps them to templates)."""
    from django.conf import settings
    from django.urls import reverse

    from .models import Membership

    membership = Membership.objects.filter(customer=customer).first()
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return {
        "customer_name": customer.name,
        "member_number": membership.member_number if membership else "",
        "points_balance": membership.points_balance if membership else "",
        "member_url": base + reverse("members:home"),
        "coupons_url": base + reverse("members:coupons"),
        "orders_url": base + reverse("members:orders"),
        "points_url": base + reverse("members:points"),
    }


def _local(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else ""


def send_order_message(order_id: int):
    """Tell the customer that their order is paid (members.notices picks the way: a WeChat
    template outside the 48-hour window, else a customer-service message)."""
    from .models import Order
    from .notices import ORDER_PAID, send_notice

    order = Order.objects.select_related("customer", "store").get(pk=order_id)
    if order.customer is None:
        return None
    fields = _member_fields(order.customer)
    text = f"【支付成功】订单 {order.out_trade_no} 已支付 ¥{order.amount_yuan}"
    if order.store is not None:
        text += f"（{order.store.name}）"
    text += "。"
    if fields["member_number"]:
        text += f"您的会员积分余额：{fields['points_balance']}。"
    fields.update(
        order_no=order.out_trade_no,
        order_amount=f"¥{order.amount_yuan}",
        order_paid_at=_local(order.paid_at),
        store_name=order.store.name if order.store else "",
    )
    return send_notice(order.customer, ORDER_PAID, text, fields, f"order:{order.pk}")


@shared_task(name="members.tasks.send_order_message_task", ignore_result=True)
def send_order_message_task(order_id: int) -> None:
    send_order_message(order_id)


def send_refund_message(refund_id: int):
    """Tell the customer that money was returned on their order."""
    from .models import Refund
    from .notices import ORDER_REFUNDED, send_notice

    refund = Refund.objects.select_related("order__customer").get(pk=refund_id)
    order = refund.order
    if order.customer is None:
        return None
    amount = f"¥{refund.amount_fen / 100:.2f}"
    text = f"【退款通知】订单 {order.out_trade_no} 已退款 {amount}，款项将原路退回。"
    fields = _member_fields(order.customer)
    fields.update(
        order_no=order.out_trade_no,
        order_amount=f"¥{order.amount_yuan}",
        refund_amount=amount,
        refunded_at=_local(refund.created_at),
        refund_reason=refund.reason,
    )
    return send_notice(order.customer, ORDER_REFUNDED, text, fields, f"refund:{refund.pk}")


@shared_task(name="members.tasks.send_refund_message_task", ignore_result=True)
def send_refund_message_task(refund_id: int) -> None:
    send_refund_message(refund_id)


def _coupon_fields(coupon) -> dict:
    fields = _member_fields(coupon.customer)
    fields.update(
        coupon_name=coupon.template.name,
        coupon_code=coupon.code,
        coupon_issued_at=_local(coupon.issued_at),
        coupon_expires_at=f"{timezone.localtime(coupon.expires_at):%Y-%m-%d}"
        if coupon.expires_at
        else "",
    )
    return fields


def send_coupon_message(coupon_id: int):
    """Tell the customer about a coupon they were given, with a link to their coupons."""
    from .models import Coupon
    from .notices import COUPON_ISSUED, send_notice

    coupon = Coupon.objects.select_related("customer", "template").get(pk=coupon_id)
    fields = _coupon_fields(coupon)
    until = f"，有效期至 {fields['coupon_expires_at']}" if coupon.expires_at else ""
    text = (
        f"【优惠券到账】您获得一张「{coupon.template.name}」{until}。查看：{fields['coupons_url']}"
    )
    return send_notice(coupon.customer, COUPON_ISSUED, text, fields, f"coupon:{coupon.pk}")


@shared_task(name="members.tasks.send_coupon_message_task", ignore_result=True)
def send_coupon_message_task(coupon_id: int) -> None:
    send_coupon_message(coupon_id)


def send_expiring_coupon_messages(days: int | None = None, now=None) -> int:
    """Remind owners of unredeemed coupons that expire on the local day `days` days from today
    (settings.MEMBERS_COUPON_EXPIRY_NOTICE_DAYS). Run once a day; returns the coupons noticed."""
    from datetime import timedelta

    from django.conf import settings

    from .models import Coupon
    from .notices import COUPON_EXPIRING, send_notice

    days = days if days is not None else settings.MEMBERS_COUPON_EXPIRY_NOTICE_DAYS
    today = timezone.localtime(now or timezone.now()).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = today + timedelta(days=days)
    coupons = Coupon.objects.filter(
        redeemed_at__isnull=True, expires_at__gte=start, expires_at__lt=start + timedelta(days=1)
    ).select_related("customer", "template")
    count = 0
    for coupon in coupons.order_by("pk"):
        fields = _coupon_fields(coupon)
        fields["days_left"] = days
        text = (
            f"【优惠券即将过期】您的「{coupon.template.name}」将于 {fields['coupon_expires_at']} "
            f"过期，请尽快使用。查看：{fields['coupons_url']}"
        )
        send_notice(coupon.customer, COUPON_EXPIRING, text, fields, f"coupon-expiring:{coupon.pk}")
        count += 1
    return count


@shared_task(name="members.tasks.send_expiring_coupon_messages_task")
def send_expiring_coupon_messages_task() -> int:
    return send_expiring_coupon_messages()


def send_points_message(entry_id: int):
    """Tell the member that their points changed (a staff adjustment)."""
    from .models import PointsEntry
    from .notices import POINTS_CHANGED, send_notice

    entry = PointsEntry.objects.select_related("membership__customer").get(pk=entry_id)
    customer = entry.membership.customer
    change = f"{entry.points:+d}"
    text = f"【积分变动】您的积分变动 {change}（{entry.reason}），当前余额 {entry.balance_after}。"
    fields = _member_fields(customer)
    fields.update(
        points_change=change,
        points_reason=entry.reason,
        points_balance=entry.balance_after,
        points_changed_at=_local(entry.occurred_at),
    )
    return send_notice(customer, POINTS_CHANGED, text, fields, f"points:{entry.pk}")


@shared_task(name="members.tasks.send_points_message_task", ignore_result=True)
def send_points_message_task(entry_id: int) -> None:
    send_points_message(entry_id)


def expire_all_points(now=None) -> int:
    """Run points expiry for every member with a positive balance. Returns points expired."""
    from .actions import expire_points
    from .models import Membership

    total = 0
    for membership in Membership.objects.filter(points_balance__gt=0).iterator():
        total += expire_points(membership, now=now)
    return total


@shared_task(name="members.tasks.expire_points_task")
def expire_points_task() -> int:
    return expire_all_points()


def recompute_all_tiers(now=None) -> int:
    """Recompute every member's tier (downgrades happen as old activity leaves the 12 months)."""
    from .actions import recompute_tier
    from .models import Membership

    changed = 0
    for membership in Membership.objects.select_related("tier", "customer").iterator():
        changed += recompute_tier(membership, now=now)
    return changed


@shared_task(name="members.tasks.recompute_tiers_task")
def recompute_tiers_task() -> int:
    return recompute_all_tiers()


@shared_task(name="members.tasks.reconcile_unpaid_orders_task")
def reconcile_unpaid_orders_task() -> int:
    from .actions import reconcile_unpaid_orders

    return reconcile_unpaid_orders()
