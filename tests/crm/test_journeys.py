"""Journeys: enrolment by each trigger, the tick through waits, conditions and actions, the
step counts, exactly-once after a worker died, and the admin's refusals."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from crm.actions import create_lead, tag_customer_by_name, tag_customers
from crm.actions.journeys import check_step, check_steps_change, check_trigger
from crm.journeys import enroll
from crm.journeys.engine import lease, run_tick, step_counts
from crm.models import (
    Channel,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStep,
    JourneyStepRun,
    JourneyTrigger,
    Message,
    Stage,
    StepKind,
    StepRunStatus,
)
from members.models import Coupon, OrderStatus
from tests.crm.factories import CustomerFactory, SegmentFactory, TagFactory
from tests.members.factories import CouponFactory, CouponTemplateFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """Stored step details and errors are in the active language (Chinese in the product);
    these tests read them in English."""
    with translation.override("en"):
        yield


def journey(trigger, value="", *steps, active=True, consent=True):
    j = Journey.objects.create(
        name=f"j-{trigger}-{value}-{len(steps)}",
        trigger=trigger,
        trigger_value=value,
        active=active,
        require_consent=consent,
    )
    for position, (kind, name, step_value, wait) in enumerate(steps):
        JourneyStep.objects.create(
            journey=j, position=position, kind=kind, name=name, value=step_value, wait_minutes=wait
        )
    return j


def customer(**kwargs):
    kwargs.setdefault("consent_marketing", True)
    return CustomerFactory(**kwargs)


def test_tag_trigger_enrolls_consenting_customers_once_and_only_for_its_tag():
    j = journey(JourneyTrigger.TAG_ADDED, "VIP", (StepKind.ACTION, "add_tag", "已欢迎", 0))
    TagFactory(name="VIP")
    TagFactory(name="普通")
    yes, no_consent, other_tag = customer(), customer(consent_marketing=False), customer()
    assert tag_customers([yes.pk, no_consent.pk], ["VIP"]) == 2
    tag_customers([other_tag.pk], ["普通"])
    assert tag_customers([yes.pk], ["VIP"]) == 0  # had it already: not "added"
    tag_customer_by_name(yes, "VIP")  # again through another path: the same entry key
    rows = list(JourneyEnrollment.objects.values_list("journey_id", "customer_id", "entry_key"))
    assert rows == [(j.pk, yes.pk, "tag:VIP")]


def test_inactive_journey_enrolls_nobody():
    journey(JourneyTrigger.TAG_ADDED, "", (StepKind.ACTION, "add_tag", "x", 0), active=False)
    tag_customer_by_name(customer(), "VIP")
    assert JourneyEnrollment.objects.count() == 0


def test_wait_condition_action_move_customers_and_counts_say_where_they_are():
    now = timezone.now()
    j = journey(
        JourneyTrigger.LEAD_CREATED,
        "weibo",
        (StepKind.WAIT, "", "", 60),
        (StepKind.CONDITION, "stage", Stage.LEAD, 0),
        (StepKind.ACTION, "add_tag", "待跟进", 0),
    )
    steps = list(j.steps.order_by("position"))
    lead_customer, paid_customer = customer(), customer()
    create_lead(lead_customer, "求链接", source_channel=Channel.WEIBO, at=now)
    create_lead(paid_customer, "求链接", source_channel=Channel.WEIBO, at=now)
    create_lead(customer(), "私信", source_channel=Channel.WECHAT, at=now)  # other channel
    paid_customer.stage = Stage.CUSTOMER
    paid_customer.save(update_fields=["stage"])

    assert run_tick(now + timedelta(minutes=59)) == {
        "enrolled": 0,
        "passed": 0,
        "exited": 0,
        "failed": 0,
    }
    assert step_counts(j)[steps[0].pk] == {"waiting": 2, "passed": 0, "exited": 0, "failed": 0}

    assert run_tick(now + timedelta(minutes=61)) == {
        "enrolled": 0,
        "passed": 4,
        "exited": 1,
        "failed": 0,
    }
    counts = step_counts(j)
    assert [counts[s.pk] for s in steps] == [
        {"waiting": 0, "passed": 2, "exited": 0, "failed": 0},
        {"waiting": 0, "passed": 1, "exited": 1, "failed": 0},
        {"waiting": 0, "passed": 1, "exited": 0, "failed": 0},
    ]
    assert list(lead_customer.tags.values_list("name", flat=True)) == ["待跟进"]
    assert not paid_customer.tags.exists()
    statuses = dict(JourneyEnrollment.objects.values_list("customer_id", "status"))
    assert statuses == {
        lead_customer.pk: EnrollmentStatus.DONE,
        paid_customer.pk: EnrollmentStatus.EXITED,
    }
    # A second tick does nothing more: each step ran once per customer.
    assert run_tick(now + timedelta(minutes=90))["passed"] == 0
    assert JourneyStepRun.objects.count() == 5


def test_failed_action_records_the_reason_and_stops_that_customer():
    j = journey(
        JourneyTrigger.TAG_ADDED,
        "",
        (StepKind.ACTION, "assign_agent", "gone", 0),
        (StepKind.ACTION, "add_tag", "不会到达", 0),
    )
    c = customer()
    tag_customer_by_name(c, "VIP")
    assert run_tick()["failed"] == 1
    run = JourneyStepRun.objects.get()
    assert (run.status, run.detail) == (
        StepRunStatus.FAILED,
        "No active staff member has the username gone.",
    )
    assert JourneyEnrollment.objects.get().status == EnrollmentStatus.FAILED
    assert list(c.tags.values_list("name", flat=True)) == ["VIP"]
    assert step_counts(j)[run.step_id]["failed"] == 1


def _stuck(j, c, now):
    """The state a worker leaves when SIGKILLed between starting an action and recording it."""
    enrollment = JourneyEnrollment.objects.create(
        journey=j,
        customer=c,
        entry_key="tag:VIP",
        status=EnrollmentStatus.RUNNING,
        lease_until=now - timedelta(seconds=1),
        due_at=now - lease(),
    )
    JourneyStepRun.objects.create(
        enrollment=enrollment, step=j.steps.get(position=0), status=StepRunStatus.STARTED
    )
    return enrollment


def test_interrupted_idempotent_action_runs_again_once():
    now = timezone.now()
    j = journey(JourneyTrigger.TAG_ADDED, "", (StepKind.ACTION, "add_tag", "补发", 0))
    c = customer()
    enrollment = _stuck(j, c, now)
    assert run_tick(now)["passed"] == 1
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.DONE
    assert list(c.tags.values_list("name", flat=True)) == ["补发"]
    assert list(JourneyStepRun.objects.values_list("status", flat=True)) == [StepRunStatus.PASSED]


def test_interrupted_message_action_is_never_sent_again():
    now = timezone.now()
    j = journey(JourneyTrigger.TAG_ADDED, "", (StepKind.ACTION, "service_message", "您好", 0))
    c = customer()
    enrollment = _stuck(j, c, now)
    # A lease not yet expired: the worker may still be sending, so nothing happens.
    JourneyEnrollment.objects.filter(pk=enrollment.pk).update(
        lease_until=now + timedelta(minutes=1)
    )
    assert run_tick(now) == {"enrolled": 0, "passed": 0, "exited": 0, "failed": 0}
    JourneyEnrollment.objects.filter(pk=enrollment.pk).update(
        lease_until=now - timedelta(seconds=1)
    )
    run_tick(now)
    enrollment.refresh_from_db()
    run = JourneyStepRun.objects.get()
    assert enrollment.status == EnrollmentStatus.FAILED
    assert (run.status, run.detail) == (
        StepRunStatus.FAILED,
        "Interrupted while running; not repeated, to send nothing twice.",
    )
    assert Message.objects.filter(customer=c).count() == 0


def test_order_paid_enrolls_per_order_and_coupon_action_is_issued_once():
    template = CouponTemplateFactory(name="复购券")
    j = journey(JourneyTrigger.ORDER_PAID, "", (StepKind.ACTION, "issue_coupon", "复购券", 0))
    order = OrderFactory(customer=customer(), status=OrderStatus.CREATED)
    from members.actions.orders import apply_paid_effects

    order.status, order.paid_at = OrderStatus.PAID, timezone.now()
    order.save()
    apply_paid_effects(order)
    apply_paid_effects(order)  # a duplicate notification: the same order enters once
    assert list(JourneyEnrollment.objects.values_list("entry_key", flat=True)) == [
        f"order:{order.out_trade_no}"
    ]
    run_tick()
    coupons = list(Coupon.objects.filter(template=template).values_list("customer_id", "campaign"))
    enrollment = JourneyEnrollment.objects.get()
    assert coupons == [(order.customer_id, f"journey:{enrollment.pk}:{j.steps.get().pk}")]
    # The same step run again (after an interrupted worker) finds the coupon, issues none.
    JourneyStepRun.objects.all().delete()
    JourneyEnrollment.objects.update(status=EnrollmentStatus.WAITING, position=0)
    run_tick()
    assert Coupon.objects.filter(template=template).count() == 1


def test_no_purchase_scanner_enrolls_lapsed_buyers_once_per_last_purchase():
    now = timezone.now()
    lapsed, recent, never = customer(), customer(), customer()
    OrderFactory(customer=lapsed, status=OrderStatus.PAID, paid_at=now - timedelta(days=40))
    OrderFactory(customer=recent, status=OrderStatus.PAID, paid_at=now - timedelta(days=3))
    j = journey(JourneyTrigger.NO_PURCHASE, "30", (StepKind.ACTION, "add_tag", "沉睡", 0))
    assert run_tick(now)["enrolled"] == 1
    assert run_tick(now + timedelta(hours=2))["enrolled"] == 1  # offered again, kept once
    rows = list(JourneyEnrollment.objects.values_list("customer_id", "entry_key"))
    assert rows == [(lapsed.pk, f"last:{(now - timedelta(days=40)):%Y-%m-%d}")]
    assert not never.tags.exists()
    assert list(lapsed.tags.values_list("name", flat=True)) == ["沉睡"]
    assert Journey.objects.get(pk=j.pk).scanned_at == now + timedelta(hours=2)


def test_coupon_expiring_scanner_finds_unused_coupons_expiring_that_day():
    now = timezone.now()
    soon, used, later = customer(), customer(), customer()
    CouponFactory(customer=soon, expires_at=now + timedelta(days=3))
    CouponFactory(customer=used, expires_at=now + timedelta(days=3), redeemed_at=now)
    CouponFactory(customer=later, expires_at=now + timedelta(days=10))
    journey(JourneyTrigger.COUPON_EXPIRING, "3", (StepKind.ACTION, "add_tag", "券将过期", 0))
    run_tick(now)
    assert list(JourneyEnrollment.objects.values_list("customer_id", flat=True)) == [soon.pk]


def test_enroll_refuses_an_unknown_trigger():
    with pytest.raises(ValueError):
        enroll("birthday", [(1, "x", "")])


@pytest.mark.parametrize(
    ("kind", "name", "value", "wait", "field", "message"),
    [
        (StepKind.WAIT, "", "", 0, "wait_minutes", "A wait needs a number of minutes."),
        (
            StepKind.CONDITION,
            "weather",
            "",
            0,
            "name",
            "Unknown condition weather; one of: segment, stage, tag, tier.",
        ),
        (
            StepKind.CONDITION,
            "stage",
            "vip",
            0,
            "value",
            "Unknown stage vip; one of: follower, lead, prospect, customer, member.",
        ),
        (StepKind.CONDITION, "segment", "没有", 0, "value", "No segment is called 没有."),
        (StepKind.CONDITION, "tier", "钻石", 0, "value", "No membership tier is called 钻石."),
        (StepKind.ACTION, "add_tag", "  ", 0, "value", "This step needs a value."),
        (StepKind.ACTION, "issue_coupon", "没有的券", 0, "value", "No coupon is called 没有的券."),
        (
            StepKind.ACTION,
            "assign_agent",
            "nobody",
            0,
            "value",
            "No active staff member has the username nobody.",
        ),
        (StepKind.ACTION, "service_message", "", 0, "value", "The message needs a text."),
    ],
)
def test_a_bad_step_is_refused_naming_the_field(kind, name, value, wait, field, message):
    with pytest.raises(ValidationError) as exc:
        check_step(kind, name, value, wait)
    assert exc.value.message_dict == {field: [message]}


def test_valid_steps_pass_and_day_triggers_need_days():
    SegmentFactory(name="上海客户", filters={"city": "上海"})
    check_step(StepKind.CONDITION, "segment", "上海客户", 0)
    check_step(StepKind.WAIT, "", "", 30)
    with pytest.raises(ValidationError) as exc:
        check_trigger(JourneyTrigger.NO_PURCHASE, "三十")
    assert exc.value.message_dict == {
        "trigger_value": ["This trigger needs a number of days between 0 and 365."]
    }
    check_trigger(JourneyTrigger.NO_PURCHASE, "30")
    check_trigger(JourneyTrigger.TAG_ADDED, "")


def test_steps_cannot_move_while_customers_are_inside():
    j = journey(
        JourneyTrigger.TAG_ADDED,
        "",
        (StepKind.WAIT, "", "", 60),
        (StepKind.ACTION, "add_tag", "x", 0),
    )
    tag_customer_by_name(customer(), "VIP")
    check_steps_change(j, {0, 1}, {0, 1})  # values may change
    with pytest.raises(ValidationError) as exc:
        check_steps_change(j, {0, 1}, {0})
    assert exc.value.messages == [
        "1 customers are inside this journey: deactivate it and let them finish before adding, "
        "removing or moving steps."
    ]
