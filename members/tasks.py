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


def send_order_message(order_id: int):
    """Tell the customer on WeChat that their order is paid (crm.inbox picks the channel)."""
    from crm.inbox import send_to_customer

    from .models import Membership, Order

    order = Order.objects.select_related("customer", "store").get(pk=order_id)
    if order.customer is None:
        return None
    membership = Membership.objects.filter(customer=order.customer).first()
    text = f"【支付成功】订单 {order.out_trade_no} 已支付 ¥{order.amount_yuan}"
    if order.store is not None:
        text += f"（{order.store.name}）"
    text += "。"
    if membership is not None:
        text += f"您的会员积分余额：{membership.points_balance}。"
    return send_to_customer(order.customer, text)


@shared_task(name="members.tasks.send_order_message_task", ignore_result=True)
def send_order_message_task(order_id: int) -> None:
    send_order_message(order_id)


def send_coupon_message(coupon_id: int):
    """Tell the customer on WeChat about a coupon they were given, with a link to their coupons."""
    from django.conf import settings
    from django.urls import reverse

    from crm.inbox import send_to_customer

    from .models import Coupon

    coupon = Coupon.objects.select_related("customer", "template").get(pk=coupon_id)
    link = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("members:coupons")
    until = (
        f"，有效期至 {timezone.localtime(coupon.expires_at):%Y-%m-%d}" if coupon.expires_at else ""
    )
    text = f"【优惠券到账】您获得一张「{coupon.template.name}」{until}。查看：{link}"
    return send_to_customer(coupon.customer, text)


@shared_task(name="members.tasks.send_coupon_message_task", ignore_result=True)
def send_coupon_message_task(coupon_id: int) -> None:
    send_coupon_message(coupon_id)


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
