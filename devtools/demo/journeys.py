"""Demo journeys with customers at every step, moving on while the demo runs.

Three journeys marketing would build first: care for VIP buyers (wait a day, paying customers
only, tag them), win back lapsed buyers (a coupon after 30 days without a purchase), and welcome new
followers who came through a channel code (a customer-service message while the window is
open). Customers enter through the real `enroll` at the times they were tagged (spread over the
last days), and the real tick moves them; `after_start` keeps ticking every minute, as Celery
beat does in production (the demo runs tasks inline, with no beat).
"""

import random
import threading
import time
from datetime import timedelta

from django.utils import timezone

from crm.journeys import enroll
from crm.journeys.engine import run_tick
from crm.models import Customer, Journey, JourneyStep, JourneyTrigger, StepKind
from members.models import CouponTemplate

COUPON = "会员日 八五折"
JOURNEYS = [
    (
        "VIP 关怀",
        JourneyTrigger.TAG_ADDED,
        "VIP",
        [
            (StepKind.WAIT, "", "", 24 * 60),
            (StepKind.CONDITION, "stage", "customer", 0),
            (StepKind.ACTION, "add_tag", "VIP关怀已触达", 0),
        ],
    ),
    (
        "沉睡客户唤醒",
        JourneyTrigger.NO_PURCHASE,
        "30",
        [(StepKind.ACTION, "issue_coupon", COUPON, 0), (StepKind.WAIT, "", "", 7 * 24 * 60)],
    ),
    (
        "渠道码新粉欢迎",
        JourneyTrigger.CODE_FOLLOWED,
        "",
        [(StepKind.ACTION, "service_message", "欢迎关注花间集！回复“会员”了解会员权益。", 0)],
    ),
]


def load(stdout) -> None:
    if Journey.objects.filter(name=JOURNEYS[0][0]).exists():
        return
    for name, trigger, value, steps in JOURNEYS:
        if (
            any(s[1] == "issue_coupon" for s in steps)
            and not CouponTemplate.objects.filter(name=COUPON).exists()
        ):
            continue
        # The welcome answers a follow (a service message, not marketing): no consent needed.
        journey = Journey.objects.create(
            name=name,
            trigger=trigger,
            trigger_value=value,
            active=True,
            require_consent=trigger != JourneyTrigger.CODE_FOLLOWED,
        )
        for position, (kind, step_name, step_value, wait) in enumerate(steps):
            JourneyStep.objects.create(
                journey=journey,
                position=position,
                kind=kind,
                name=step_name,
                value=step_value,
                wait_minutes=wait,
            )
    # The VIP customers were tagged over the last three days: those tagged more than a day ago
    # have passed the wait, the others are still waiting at it.
    rng = random.Random(2026)
    now = timezone.now()
    vips = list(
        Customer.objects.filter(tags__name="VIP", merged_into__isnull=True).values_list(
            "pk", flat=True
        )
    )
    for customer_id in vips:
        at = now - timedelta(minutes=rng.randint(30, 3 * 24 * 60))
        enroll(JourneyTrigger.TAG_ADDED, [(customer_id, "tag:VIP", "VIP")], at=at)
    counts = run_tick(now)
    stdout.write(
        f"journeys: {len(JOURNEYS)} journeys; {counts['enrolled'] + len(vips)} customers entered, "
        f"{counts['passed']} steps passed, {counts['failed']} failed"
    )


def after_start(stdout) -> None:
    def tick_forever():
        while True:
            time.sleep(60)
            try:
                run_tick()
            except Exception as exc:  # noqa: BLE001  the demo keeps running; say what failed
                stdout.write(f"journeys: tick failed: {exc}")

    threading.Thread(target=tick_forever, name="demo-journey-tick", daemon=True).start()
    stdout.write("journeys: customers move through the journeys every minute")


def urls() -> list[tuple[str, str]]:
    return [("营销旅程 Journeys:", "/admin/crm/journey/")]
