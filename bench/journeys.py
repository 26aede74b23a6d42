"""A journey tick over 100,000 customers due at once (a wait that ended, then a condition on
their stage, then a second wait) against bare SQL doing the same moves, in the same run.
Goal: the tick under 10 s. Also the rate of per-customer actions (adding a tag), which are one
customer at a time by nature (a message is one platform call each): reported, no goal.
"""

from datetime import timedelta

from .harness import Result, median

WAITING = 100_000
ACTIONS = 2_000

RESET = """
DELETE FROM crm_journeysteprun WHERE step_id IN (SELECT id FROM crm_journeystep WHERE journey_id = %(j)s);
UPDATE crm_journeyenrollment SET position = 0, status = 'waiting', due_at = %(due)s, lease_until = NULL
 WHERE journey_id = %(j)s;
"""

BARE = """
INSERT INTO crm_journeysteprun (enrollment_id, step_id, status, detail, at)
  SELECT id, %(s0)s, 'passed', '', %(now)s FROM crm_journeyenrollment
   WHERE journey_id = %(j)s AND position = 0 AND status = 'waiting' AND due_at <= %(now)s;
UPDATE crm_journeyenrollment SET position = 1, due_at = %(now)s
 WHERE journey_id = %(j)s AND position = 0 AND status = 'waiting' AND due_at <= %(now)s;
INSERT INTO crm_journeysteprun (enrollment_id, step_id, status, detail, at)
  SELECT e.id, %(s1)s, CASE WHEN c.stage = 'member' THEN 'passed' ELSE 'exited' END, '', %(now)s
    FROM crm_journeyenrollment e JOIN crm_customer c ON c.id = e.customer_id
   WHERE e.journey_id = %(j)s AND e.position = 1 AND e.status = 'waiting';
UPDATE crm_journeyenrollment e SET
    position = CASE WHEN c.stage = 'member' THEN 2 ELSE 1 END,
    status = CASE WHEN c.stage = 'member' THEN 'waiting' ELSE 'exited' END,
    due_at = %(later)s
  FROM crm_customer c
 WHERE c.id = e.customer_id AND e.journey_id = %(j)s AND e.position = 1 AND e.status = 'waiting';
"""


def run(scale) -> list[Result]:
    import time

    from django.db import connection
    from django.utils import timezone

    from crm.journeys.engine import run_tick
    from crm.models import Journey, JourneyStep, StepKind

    now = timezone.now()
    journey = Journey.objects.create(name="bench: tick", trigger="tag_added", active=True)
    steps = [
        JourneyStep.objects.create(journey=journey, position=0, kind=StepKind.WAIT, wait_minutes=1),
        JourneyStep.objects.create(
            journey=journey, position=1, kind=StepKind.CONDITION, name="stage", value="member"
        ),
        JourneyStep.objects.create(
            journey=journey, position=2, kind=StepKind.WAIT, wait_minutes=1440
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO crm_journeyenrollment
                 (journey_id, customer_id, entry_key, position, status, due_at, entered_at, updated_at)
               SELECT %s, id, '', 0, 'waiting', %s, %s, %s FROM crm_customer
                WHERE merged_into_id IS NULL ORDER BY id LIMIT %s""",
            [journey.pk, now - timedelta(minutes=1), now, now, WAITING],
        )
        enrolled = cursor.rowcount
        cursor.execute("ANALYZE crm_journeyenrollment")
    params = {"j": journey.pk, "due": now - timedelta(minutes=1), "now": now}
    params |= {"s0": steps[0].pk, "s1": steps[1].pk, "later": now + timedelta(days=1)}

    def reset():
        with connection.cursor() as cursor:
            cursor.execute(RESET, params)

    def timed_once(func):
        reset()
        started = time.perf_counter()
        func()
        return time.perf_counter() - started

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(BARE, params)

    ticks, bares, counts = [], [], {}
    for _ in range(3):
        ticks.append(timed_once(lambda: counts.update(run_tick(now))))
        bares.append(timed_once(bare))

    # Per-customer actions: a journey whose one step adds a tag, ACTIONS customers due.
    tagger = Journey.objects.create(name="bench: actions", trigger="tag_added", active=True)
    JourneyStep.objects.create(
        journey=tagger, position=0, kind=StepKind.ACTION, name="add_tag", value="bench"
    )
    Journey.objects.filter(pk=journey.pk).update(active=False)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO crm_journeyenrollment
                 (journey_id, customer_id, entry_key, position, status, due_at, entered_at, updated_at)
               SELECT %s, id, '', 0, 'waiting', %s, %s, %s FROM crm_customer
                WHERE merged_into_id IS NULL ORDER BY id DESC LIMIT %s""",
            [tagger.pk, now, now, now, ACTIONS],
        )
    started = time.perf_counter()
    action_counts = run_tick(now)
    action_seconds = time.perf_counter() - started
    return [
        Result(
            f"Journey tick, {enrolled:,} customers due (wait, condition, wait)",
            median(ticks),
            "s",
            median(bares),
            "the same moves in bare SQL",
            goal="abs:<10",
            notes=f"passed {counts.get('passed', 0):,}, left {counts.get('exited', 0):,}",
        ),
        Result(
            f"Journey actions (add tag), {action_counts['passed']:,} customers",
            action_counts["passed"] / action_seconds,
            "customers/s",
            notes="one customer at a time by design: each action is its own transaction",
        ),
    ]
