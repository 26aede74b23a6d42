"""Membership, the points ledger, tiers and refunds, through the named actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.actions import create_lead
from crm.models import Interaction
from members.actions import (
    PointsError,
    adjust_points,
    create_order,
    earn_points,
    expire_points,
    join_membership,
    mark_order_paid,
    recompute_tier,
    record_cash_sale,
    refund_order,
    spend_points,
)
from members.actions.orders import OrderError
from members.models import Membership, PointsEntry, Tier


@pytest.fixture
def member(customer, tiers):
    membership, _ = join_membership(customer, via="wechat")
    return membership


def test_join_moves_stage_to_member_converts_leads_and_is_idempotent(customer, tiers):
    lead, _ = create_lead(customer, "会员升级咨询", source_channel="wechat", assign=False)
    membership, created = join_membership(customer, via="pos")
    again, created_again = join_membership(customer, via="wechat")
    assert (created, created_again, again.pk) == (True, False, membership.pk)
    customer.refresh_from_db()
    lead.refresh_from_db()
    assert (customer.stage, lead.status) == ("member", "converted")
    year = timezone.localdate().year
    assert membership.member_number == f"M{year}000001"
    assert (membership.tier.name, membership.joined_via) == ("普通会员", "pos")
    assert Interaction.objects.filter(customer=customer, kind="member_join").count() == 1


def test_join_rejects_an_unknown_channel(customer):
    with pytest.raises(Exception) as info:
        join_membership(customer, via="fax")
    assert info.value.message_dict == {"via": ["Unknown way of joining: fax."]}
    assert Membership.objects.count() == 0


def test_earn_is_idempotent_per_source_reference(member):
    first, created = earn_points(member, 100, source_ref="promo:1", reason="活动")
    second, created_again = earn_points(member, 100, source_ref="promo:1", reason="活动")
    assert (created, created_again, first.pk) == (True, False, second.pk)
    member.refresh_from_db()
    assert member.points_balance == 100 == member.ledger_sum()


def test_spend_refuses_to_go_below_zero_and_writes_nothing(member):
    earn_points(member, 50, source_ref="promo:2", reason="活动")
    with pytest.raises(PointsError) as info:
        spend_points(member, 51, source_ref="gift:1", reason="兑换礼品")
    assert info.value.reason == "insufficient"
    assert info.value.message_dict == {
        "points": ["Not enough points: the balance is 50, 51 needed."]
    }
    member.refresh_from_db()
    assert (member.points_balance, PointsEntry.objects.count()) == (50, 1)
    entry, _ = spend_points(member, 50, source_ref="gift:2", reason="兑换礼品")
    assert (entry.points, entry.balance_after) == (-50, 0)


def test_adjust_needs_a_reason(member):
    with pytest.raises(PointsError) as info:
        adjust_points(member, 10, source_ref="adj:1", reason="  ")
    assert info.value.message_dict == {"reason": ["An adjustment needs a reason."]}


def test_tier_upgrades_exactly_at_the_threshold_and_downgrades_after_refund(member, store):
    order = create_order(amount_fen=49999, channel="pos", store=store, customer=member.customer)
    mark_order_paid(order, transaction_id="T-1", paid_at=timezone.now(), notify=False)
    member.refresh_from_db()
    assert (member.points_balance, member.tier.name) == (499, "普通会员")  # 1 short of silver
    order2 = create_order(amount_fen=100, channel="pos", store=store, customer=member.customer)
    mark_order_paid(order2, transaction_id="T-2", paid_at=timezone.now(), notify=False)
    member.refresh_from_db()
    assert (member.points_balance, member.tier.name) == (500, "银卡会员")
    assert Interaction.objects.filter(summary="Tier 普通会员 → 银卡会员").count() == 1
    # A refund takes the earned points back, and the tier is recomputed on what is left.
    refund_order(order2, 100, reason="退货")
    member.refresh_from_db()
    assert (member.points_balance, member.tier.name) == (499, "普通会员")


def test_spend_tier_counts_net_spend_over_twelve_months(member, store):
    Tier.objects.create(name="黑金会员", rank=3, basis="spend", threshold=100000)
    old = create_order(amount_fen=90000, channel="pos", store=store, customer=member.customer)
    mark_order_paid(
        old, transaction_id="T-old", paid_at=timezone.now() - timedelta(days=400), notify=False
    )
    recent = create_order(amount_fen=20000, channel="pos", store=store, customer=member.customer)
    mark_order_paid(recent, transaction_id="T-new", paid_at=timezone.now(), notify=False)
    member.refresh_from_db()
    assert member.tier.name == "普通会员"  # 200 yuan in 12 months; the 900 is older
    later = create_order(amount_fen=80000, channel="pos", store=store, customer=member.customer)
    mark_order_paid(later, transaction_id="T-later", paid_at=timezone.now(), notify=False)
    member.refresh_from_db()
    assert member.tier.name == "黑金会员"
    assert recompute_tier(member, now=timezone.now() + timedelta(days=366)) is True
    member.refresh_from_db()
    assert member.tier.name == "普通会员"


def test_refund_reverses_points_in_proportion_and_never_twice(member, store):
    order = create_order(amount_fen=20000, channel="pos", store=store, customer=member.customer)
    mark_order_paid(order, transaction_id="T-3", paid_at=timezone.now(), notify=False)
    member.refresh_from_db()
    assert member.points_balance == 200
    first = refund_order(order, 5000, out_refund_no="RF-1", reason="部分退货")
    again = refund_order(order, 5000, out_refund_no="RF-1", reason="部分退货")
    assert (first.pk, first.points_reversed) == (again.pk, 50)
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == ("partially_refunded", 5000)
    second = refund_order(order, 15000, out_refund_no="RF-2")
    assert second.points_reversed == 150
    order.refresh_from_db()
    member.refresh_from_db()
    assert (order.status, member.points_balance, member.ledger_sum()) == ("refunded", 0, 0)
    with pytest.raises(OrderError) as info:
        refund_order(order, 1, out_refund_no="RF-3")
    assert info.value.message_dict == {
        "amount_fen": ["The refund must be between 1 and 0 fen (what is left to refund)."]
    }


def test_refund_after_points_were_spent_stops_at_zero(member, store):
    order = create_order(amount_fen=10000, channel="pos", store=store, customer=member.customer)
    mark_order_paid(order, transaction_id="T-4", paid_at=timezone.now(), notify=False)
    spend_points(member, 80, source_ref="gift:3", reason="兑换")
    refund = refund_order(order, 10000)
    member.refresh_from_db()
    assert (refund.points_reversed, member.points_balance) == (20, 0)


def test_refund_of_unpaid_order_is_refused(member, store):
    order = create_order(amount_fen=100, channel="native", store=store, customer=member.customer)
    with pytest.raises(OrderError) as info:
        refund_order(order, 100)
    assert info.value.message_dict == {"order": ["Only a paid order can be refunded."]}


def test_points_expire_first_in_first_out(member):
    now = timezone.now()
    earn_points(member, 100, source_ref="old", reason="旧积分", at=now - timedelta(days=400))
    earn_points(member, 30, source_ref="new", reason="新积分", at=now - timedelta(days=10))
    spend_points(member, 40, source_ref="used", reason="兑换", at=now - timedelta(days=5))
    assert expire_points(member, now=now) == 60  # 100 old, 40 of them already used
    assert expire_points(member, now=now) == 0
    member.refresh_from_db()
    assert member.points_balance == 30 == member.ledger_sum()


def test_cash_sale_is_paid_at_once(member, store):
    order = record_cash_sale(amount_fen=3000, store=store, customer=member.customer)
    member.refresh_from_db()
    assert (order.status, order.channel, order.transaction_id) == ("paid", "cash", None)
    assert member.points_balance == 30
