"""Journey customer-service messages through the WeChat sandbox: sent while the 48-hour window
is open, refused when it is closed, and never sent twice when the worker is SIGKILLed mid-step."""

import time
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone, translation

from channels_wechat.models import WeChatUser
from crm.actions import tag_customer_by_name
from crm.journeys.engine import lease, run_tick
from crm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStep,
    JourneyStepRun,
    Message,
    StepKind,
    StepRunStatus,
)
from tests.crm.factories import CustomerFactory

from .conftest import APPID
from .test_reliability import broker, holding_row_lock, kill, start_worker  # noqa: F401


@pytest.fixture(autouse=True)
def in_english():
    """Stored step details and errors are in the active language (Chinese in the product);
    these tests read them in English."""
    with translation.override("en"):
        yield


def welcome_journey() -> Journey:
    journey = Journey.objects.create(
        name="回访", trigger="tag_added", trigger_value="回访", active=True
    )
    JourneyStep.objects.create(
        journey=journey, position=0, kind=StepKind.ACTION, name="service_message", value="欢迎回来"
    )
    return journey


def follower(account, sandbox, n: int, window_open: bool = True) -> WeChatUser:
    customer = CustomerFactory(consent_marketing=True)
    now = timezone.now()
    user = WeChatUser.objects.create(
        account=account,
        openid=f"oJourney{n:02d}",
        customer=customer,
        subscribed=True,
        window_expires_at=now + timedelta(hours=47) if window_open else now - timedelta(hours=1),
        window_quota=5,
    )
    sandbox.state.user(APPID, user.openid)  # a follower WeChat knows
    if window_open:
        sandbox.state.interact(APPID, user.openid, time.time(), True)
    return user


def sent_to(sandbox) -> list[tuple[str, str]]:
    return [(m["touser"], m["text"]["content"]) for m in sandbox.state.sent]


@pytest.mark.django_db
def test_message_sent_in_the_window_and_refused_outside_it(account, wechat_sandbox):
    welcome_journey()
    open_user = follower(account, wechat_sandbox, 1)
    closed_user = follower(account, wechat_sandbox, 2, window_open=False)
    tag_customer_by_name(open_user.customer, "回访")
    tag_customer_by_name(closed_user.customer, "回访")
    assert run_tick() == {"enrolled": 0, "passed": 1, "exited": 0, "failed": 1}
    assert sent_to(wechat_sandbox) == [("oJourney01", "欢迎回来")]
    message = Message.objects.get()
    assert (message.customer_id, message.delivery_status, message.content) == (
        open_user.customer_id,
        "sent",
        "欢迎回来",
    )
    failed = JourneyStepRun.objects.get(status=StepRunStatus.FAILED)
    assert (failed.enrollment.customer_id, failed.detail) == (
        closed_user.customer_id,
        "The 48-hour service window is closed.",
    )


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_step_sends_nobody_a_message_twice(account, wechat_sandbox, broker):  # noqa: F811
    welcome_journey()
    users = [follower(account, wechat_sandbox, n) for n in range(1, 7)]
    for user in users:
        tag_customer_by_name(user.customer, "回访")
    broker.start()
    # The third follower's row is locked: the worker sends their message, then blocks counting
    # it against the window, and is killed there (after the platform call, before recording).
    with holding_row_lock(users[2]):
        worker = start_worker(broker, WECHAT_API_BASE=wechat_sandbox.url)
        try:
            current_app.send_task("crm.tasks.journey_tick_task")
            deadline = time.monotonic() + 60
            while len(wechat_sandbox.state.sent) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            assert [to for to, _text in sent_to(wechat_sandbox)] == [u.openid for u in users[:3]]
        finally:
            kill(worker)
    statuses = dict(JourneyEnrollment.objects.values_list("customer_id", "status"))
    assert [statuses[u.customer_id] for u in users] == ["done", "done"] + ["running"] * 4
    # Before the lease ends nobody is touched; after it, the tick resumes.
    assert run_tick()["passed"] == 0
    counts = run_tick(timezone.now() + lease() + timedelta(minutes=1))
    assert counts == {"enrolled": 0, "passed": 3, "exited": 0, "failed": 0}
    assert sorted(to for to, _text in sent_to(wechat_sandbox)) == sorted(u.openid for u in users)
    runs = dict(JourneyStepRun.objects.values_list("enrollment__customer_id", "status"))
    assert [runs[u.customer_id] for u in users] == ["passed"] * 2 + ["failed"] + ["passed"] * 3
    interrupted = JourneyStepRun.objects.get(status=StepRunStatus.FAILED)
    assert interrupted.detail == "Interrupted while running; not repeated, to send nothing twice."
    statuses = dict(JourneyEnrollment.objects.values_list("customer_id", "status"))
    assert statuses[users[2].customer_id] == EnrollmentStatus.FAILED


@pytest.mark.django_db
def test_template_step_reaches_a_follower_outside_the_window_once(
    account, wechat_sandbox, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    from channels_wechat.journey_steps import _check_template_step
    from channels_wechat.templates import add_library_template

    from .test_templates import sandbox_sent

    template = add_library_template(account, "TM00015")  # character_string1 amount2 time3 thing4
    good = (
        f"{template.template_id} | character_string1=text:A2026 | amount2=text:¥0.00 "
        "| time3=today | thing4=customer_name"
    )
    with pytest.raises(ValidationError) as exc:
        _check_template_step(f"{template.template_id} | character_string1=text:A2026")
    assert exc.value.messages == [
        "amount2: map it to one of customer_name, member_number, points_balance, tier, today "
        "or text:...",
        "time3: map it to one of customer_name, member_number, points_balance, tier, today "
        "or text:...",
        "thing4: map it to one of customer_name, member_number, points_balance, tier, today "
        "or text:...",
    ]
    with pytest.raises(ValidationError) as exc:
        _check_template_step("NOPE | x=text:y")
    assert exc.value.messages == ["No active template has the ID NOPE."]
    _check_template_step(good)

    journey = Journey.objects.create(name="模板", trigger="tag_added", active=True)
    JourneyStep.objects.create(
        journey=journey, position=0, kind=StepKind.ACTION, name="template_message", value=good
    )
    user = follower(account, wechat_sandbox, 9, window_open=False)
    user.customer.name = "林小姐"
    user.customer.save()
    tag_customer_by_name(user.customer, "回访")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_tick()["passed"] == 1
    sent = sandbox_sent(wechat_sandbox)
    assert [(s["touser"], s["template_id"], s["data"]["thing4"]) for s in sent] == [
        (user.openid, template.template_id, "林小姐")
    ]
    # The step run again (a resumed worker) finds its send by key: nothing twice.
    JourneyStepRun.objects.all().delete()
    JourneyEnrollment.objects.update(status="waiting", position=0)
    with django_capture_on_commit_callbacks(execute=True):
        run_tick()
    assert len(sandbox_sent(wechat_sandbox)) == 1
