"""Beat tasks and the customer panel."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.panels import customer_panels
from members import tasks
from members.actions import (
    create_order,
    earn_points,
    join_membership,
    reconcile_unpaid_orders,
)
from members.actions.pos import notify_url
from members.client import WeChatPayClient
from members.models import Order, PaymentNotification, Tier


def test_reconcile_applies_an_order_whose_notification_was_lost(
    pay_sandbox, merchant, store, tiers, customer
):
    join_membership(customer, via="pos")
    order = create_order(
        amount_fen=30000, channel="pos", store=store, customer=customer, merchant=merchant
    )
    WeChatPayClient(merchant).unified_order(
        order, trade_type="NATIVE", notify_url="http://127.0.0.1:9/lost"
    )
    unpaid = create_order(amount_fen=100, channel="native", merchant=merchant)
    WeChatPayClient(merchant).unified_order(
        unpaid, trade_type="NATIVE", notify_url=notify_url(merchant)
    )
    result = pay_sandbox.pay({"out_trade_no": order.out_trade_no})
    assert result["deliveries"] == [0]  # nobody listens at the notify_url: the notice is lost
    Order.objects.filter(pk__in=[order.pk, unpaid.pk]).update(
        created_at=timezone.now() - timedelta(minutes=15)
    )
    abandoned = create_order(amount_fen=200, channel="pos", merchant=merchant)
    WeChatPayClient(merchant).unified_order(
        abandoned, trade_type="NATIVE", notify_url=notify_url(merchant)
    )
    Order.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(hours=3))
    assert reconcile_unpaid_orders() == 1
    abandoned.refresh_from_db()
    assert abandoned.status == "closed"
    order.refresh_from_db()
    unpaid.refresh_from_db()
    assert (order.status, order.transaction_id, unpaid.status) == (
        "paid",
        result["transaction_id"],
        "created",
    )
    assert customer.membership.points_entries.get().points == 300
    assert PaymentNotification.objects.count() == 0


def test_the_reconcile_task_runs_the_action(pay_sandbox, merchant):
    abandoned = create_order(amount_fen=200, channel="pos", merchant=merchant)
    WeChatPayClient(merchant).unified_order(
        abandoned, trade_type="NATIVE", notify_url=notify_url(merchant)
    )
    Order.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(hours=3))
    assert tasks.reconcile_unpaid_orders_task.apply().get() == 0
    abandoned.refresh_from_db()
    assert abandoned.status == "closed"


def test_expire_and_recompute_tasks(tiers, customer):
    membership, _ = join_membership(customer, via="wechat")
    earn_points(
        membership, 600, source_ref="old", reason="旧", at=timezone.now() - timedelta(days=400)
    )
    membership.tier = Tier.objects.get(rank=1)
    membership.save()
    assert tasks.expire_all_points() == 600
    assert tasks.recompute_all_tiers() == 1
    membership.refresh_from_db()
    assert (membership.points_balance, membership.tier.rank) == (0, 0)


def test_customer_panel_shows_membership_and_orders(tiers, customer, store):
    from members.actions import record_cash_sale

    membership, _ = join_membership(customer, via="wechat")
    order = record_cash_sale(amount_fen=4900, store=store, customer=customer)
    [(title, html)] = customer_panels(customer)
    assert title == "Membership and orders"
    assert membership.member_number in html and order.out_trade_no in html and "¥49.00" in html


@pytest.mark.parametrize(
    "name", ["expire_points_task", "recompute_tiers_task", "reconcile_unpaid_orders_task"]
)
def test_beat_schedule_names_the_members_tasks(settings, name):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert f"members.tasks.{name}" in scheduled
    assert callable(getattr(tasks, name).delay)
