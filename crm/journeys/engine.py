"""The journey tick: moves due customers through their journey's steps, a batch at a time.

Run by Celery beat every minute (`crm.tasks.journey_tick_task`). A wait, and a condition that
is a queryset (`registry.Condition.customers`), move a batch of due enrolments in one SQL
statement (lock, record the runs, advance or exit) with no id through Python; a condition that
only has `check` is one query per batch; actions go one customer at a time. A tick over 100,000
waiting customers is a few statements per step (bench/journeys.py).

Exactly once per customer and step: a batch of action steps is leased (status running), then
for each customer a `started` run row (unique per enrolment and step) is committed, the action
runs, and the outcome is recorded. A worker killed in between leaves the lease to expire; the
next tick makes the customers it had not started due again, runs idempotent actions again
(same key), and records the others as failed ("interrupted"), so nobody gets a message twice.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import (
    Customer,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStep,
    JourneyStepRun,
    JourneyTrigger,
    StepKind,
    StepRunStatus,
)

from .enroll import enroll
from .registry import ACTIONS, CONDITIONS, SCANNERS


def lease() -> timedelta:
    """How long a worker holds a batch of action steps: longer than the batch's platform calls
    with their retries (10 minutes by default, JOURNEY_LEASE_SECONDS)."""
    return timedelta(seconds=getattr(settings, "JOURNEY_LEASE_SECONDS", 600))


SCAN_EVERY = timedelta(hours=1)  # time-based triggers are day-granular
TIME_TRIGGERS = (JourneyTrigger.COUPON_EXPIRING, JourneyTrigger.NO_PURCHASE)


# Enrolments a set-based step moves per statement (and transaction): 100,000 customers through
# a wait are 5 statements; each holds its batch's row locks only for its own statement.
SQL_BATCH = 20_000


def run_tick(
    now: datetime | None = None, *, batch: int = 2000, sql_batch: int = SQL_BATCH
) -> dict[str, int]:
    """One pass over every active journey. Returns counts: enrolled, passed, exited, failed.

    `batch` is the enrolments leased per round of actions (or checked per round of a condition
    without a queryset), `sql_batch` those a wait or a queryset condition moves per statement.
    """
    now = now or timezone.now()
    counts = {"enrolled": 0, "passed": 0, "exited": 0, "failed": 0}
    counts["enrolled"] = scan_time_triggers(now)
    recover_interrupted(now)
    for journey in Journey.objects.filter(active=True):
        steps = list(journey.steps.order_by("position"))
        for step in steps:
            move = _sql_move(step, steps, now)
            while True:
                if move is not None:
                    done = _run_sql_batch(journey, step, move, now, sql_batch)
                else:
                    done = _run_batch(journey, step, len(steps), now, batch)
                if done is None:
                    break
                for key, value in done.items():
                    counts[key] += value
    return counts


def scan_time_triggers(now: datetime) -> int:
    """Enroll the customers time-based triggers find, at most once an hour per journey."""
    added = 0
    due = Journey.objects.filter(active=True, trigger__in=TIME_TRIGGERS).filter(
        Q(scanned_at__isnull=True) | Q(scanned_at__lte=now - SCAN_EVERY)
    )
    for journey in due:
        scan = SCANNERS.get(journey.trigger)
        if scan is None:
            continue
        days = int(journey.trigger_value or 0)
        found = [(c, key, journey.trigger_value) for c, key in scan(days, now)]
        with transaction.atomic():
            added += enroll(journey.trigger, found, at=now)
            Journey.objects.filter(pk=journey.pk).update(scanned_at=now)
    return added


def recover_interrupted(now: datetime) -> int:
    """Enrolments whose worker died (lease expired). Not started: due again. Started (a run row
    says so): run again if the action is idempotent, else record the step as failed without
    acting again. Returns those found."""
    stuck = list(
        JourneyEnrollment.objects.filter(
            status=EnrollmentStatus.RUNNING, lease_until__lt=now
        ).select_related("journey")
    )
    for enrollment in stuck:
        step = JourneyStep.objects.filter(
            journey=enrollment.journey_id, position=enrollment.position
        ).first()
        action = ACTIONS.get(step.name) if step else None
        started = JourneyStepRun.objects.filter(
            enrollment=enrollment, step=step, status=StepRunStatus.STARTED
        ).exists()
        if step is not None and (not started or (action is not None and action.idempotent)):
            JourneyEnrollment.objects.filter(pk=enrollment.pk).update(
                status=EnrollmentStatus.WAITING, lease_until=None
            )
            continue
        with transaction.atomic():
            if step is not None:
                JourneyStepRun.objects.filter(enrollment=enrollment, step=step).update(
                    status=StepRunStatus.FAILED,
                    detail=_("Interrupted while running; not repeated, to send nothing twice."),
                    at=now,
                )
            JourneyEnrollment.objects.filter(pk=enrollment.pk).update(
                status=EnrollmentStatus.FAILED, lease_until=None
            )
    return len(stuck)


def _run_batch(journey, step, step_count, now, batch) -> dict[str, int] | None:
    """Apply `step` to one batch of due enrolments; None when none is due."""
    with transaction.atomic():
        rows = list(
            JourneyEnrollment.objects.select_for_update(skip_locked=True)
            .filter(
                journey=journey,
                position=step.position,
                status=EnrollmentStatus.WAITING,
                due_at__lte=now,
            )
            .order_by("due_at", "pk")
            .values_list("pk", "customer_id")[:batch]
        )
        if not rows:
            return None
        if step.kind == StepKind.WAIT:
            ids = [pk for pk, _c in rows]
            _record(step, ids, StepRunStatus.PASSED, now)
            _advance(journey, ids, step.position, step_count, now)
            return {"passed": len(ids)}
        if step.kind == StepKind.CONDITION:
            return _condition(journey, step, step_count, rows, now)
        # Leased: no other worker takes them; an action not yet started leaves no run row.
        JourneyEnrollment.objects.filter(pk__in=[pk for pk, _c in rows]).update(
            status=EnrollmentStatus.RUNNING, lease_until=timezone.now() + lease()
        )
    return _actions(journey, step, step_count, rows, now)


def _sql_move(step, steps, now) -> tuple[str, list, str, datetime | None] | None:
    """For a wait or a queryset condition: the SQL saying whether an enrolment `e` passes, its
    parameters, and where passing takes it (status, and due time or None to keep it) as
    `_advance` does; None when the step needs Python (an action, a `check`-only condition).
    An unknown condition lets nobody pass, as `_condition` does."""
    if connection.vendor != "postgresql":
        # A data-modifying CTE with FOR UPDATE SKIP LOCKED: PostgreSQL's. The demo's SQLite
        # takes the batched path, which gives the same moves.
        return None
    params: list = []
    if step.kind == StepKind.WAIT:
        passes = "TRUE"
    elif step.kind != StepKind.CONDITION:
        return None
    elif (condition := CONDITIONS.get(step.name)) is None:
        passes = "FALSE"
    elif condition.customers is None:
        return None
    else:
        customers = condition.customers(step.value).order_by().values("pk")
        try:
            sql, sql_params = customers.query.sql_with_params()
            passes, params = f"e.customer_id IN ({sql})", list(sql_params)
        except EmptyResultSet:  # .none(): nobody passes
            passes = "FALSE"
    following = next((s for s in steps if s.position == step.position + 1), None)
    if following is None:  # the last step: done, the due time kept
        return passes, params, EnrollmentStatus.DONE, None
    due = (
        now + timedelta(minutes=following.wait_minutes) if following.kind == StepKind.WAIT else now
    )
    return passes, params, EnrollmentStatus.WAITING, due


def _run_sql_batch(journey, step, move, now, batch) -> dict[str, int] | None:
    """Move one batch of due enrolments through a wait or a queryset condition in one statement:
    lock them (skipping those another tick holds), record each one's run (passed or exited; a
    run already there is kept, as `_record`), advance those that pass as `_advance` does and
    exit the others as `_condition` does. None when none is due."""
    passes, passes_params, status, due = move
    enrollment, run = JourneyEnrollment._meta.db_table, JourneyStepRun._meta.db_table
    # Ordered by due_at alone, as the due index (journey, position, status, due_at) reads: with
    # the pk as well, every batch sorted all the due rows again (100,000 rows, batch after batch).
    sql = f"""
        WITH due AS (
            SELECT e.id, {passes} AS ok FROM {enrollment} e
            WHERE e.journey_id = %s AND e.position = %s AND e.status = %s AND e.due_at <= %s
            ORDER BY e.due_at LIMIT %s
            FOR UPDATE OF e SKIP LOCKED
        ), runs AS (
            INSERT INTO {run} (enrollment_id, step_id, status, detail, at)
            SELECT id, %s, CASE WHEN ok THEN %s ELSE %s END, '', %s FROM due
            ON CONFLICT (enrollment_id, step_id) DO NOTHING
        ), moved AS (
            UPDATE {enrollment} e SET
                position = CASE WHEN due.ok THEN %s ELSE e.position END,
                status = CASE WHEN due.ok THEN %s ELSE %s END,
                due_at = CASE WHEN due.ok THEN COALESCE(%s, e.due_at) ELSE e.due_at END,
                lease_until = CASE WHEN due.ok THEN NULL ELSE e.lease_until END
            FROM due WHERE e.id = due.id
            RETURNING due.ok
        )
        SELECT COUNT(*) FILTER (WHERE ok), COUNT(*) FILTER (WHERE NOT ok) FROM moved
    """  # noqa: S608  table names from the models, the condition's SQL from the ORM
    params = [
        *passes_params,
        journey.pk,
        step.position,
        EnrollmentStatus.WAITING,
        now,
        batch,
        step.pk,
        StepRunStatus.PASSED,
        StepRunStatus.EXITED,
        now,
        step.position + 1,
        status,
        EnrollmentStatus.EXITED,
        due,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        passed, exited = cursor.fetchone()
    if not passed and not exited:
        return None
    return {"passed": passed, "exited": exited}


def _condition(journey, step, step_count, rows, now) -> dict[str, int]:
    condition = CONDITIONS.get(step.name)
    by_customer = {customer_id: pk for pk, customer_id in rows}
    passing = condition.check(list(by_customer), step.value) if condition else set()
    passed = [pk for c, pk in by_customer.items() if c in passing]
    left = [pk for c, pk in by_customer.items() if c not in passing]
    _record(step, passed, StepRunStatus.PASSED, now)
    _record(step, left, StepRunStatus.EXITED, now)
    _advance(journey, passed, step.position, step_count, now)
    JourneyEnrollment.objects.filter(pk__in=left).update(status=EnrollmentStatus.EXITED)
    return {"passed": len(passed), "exited": len(left)}


def _actions(journey, step, step_count, rows, now) -> dict[str, int]:
    action = ACTIONS.get(step.name)
    customers = Customer.objects.in_bulk([c for _pk, c in rows])
    counts = {"passed": 0, "failed": 0}
    for pk, customer_id in rows:
        try:
            if action is None:
                raise ValidationError(_("This action is no longer available."))
            customer = customers.get(customer_id)
            if customer is None:
                raise ValidationError(_("The customer no longer exists."))
            # Committed before acting: if this worker dies now, the next tick knows it started.
            JourneyStepRun.objects.get_or_create(
                enrollment_id=pk, step=step, defaults={"status": StepRunStatus.STARTED, "at": now}
            )
            # The action runs outside this tick's transaction: a platform call is not held
            # inside one, and what the action wrote stays written if recording fails.
            detail = action.run(customer, step.value, key=f"journey:{pk}:{step.pk}", at=now)
            with transaction.atomic():
                _finish(pk, step, StepRunStatus.PASSED, detail, now)
                _advance(journey, [pk], step.position, step_count, now)
            counts["passed"] += 1
        except ValidationError as exc:
            with transaction.atomic():
                _finish(pk, step, StepRunStatus.FAILED, "; ".join(exc.messages), now)
                JourneyEnrollment.objects.filter(pk=pk).update(
                    status=EnrollmentStatus.FAILED, lease_until=None
                )
            counts["failed"] += 1
    return counts


def _finish(enrollment_id, step, status, detail, now) -> None:
    JourneyStepRun.objects.filter(enrollment_id=enrollment_id, step=step).update(
        status=status, detail=(detail or "")[:300], at=now
    )


def _record(step, enrollment_ids, status, now) -> None:
    JourneyStepRun.objects.bulk_create(
        [
            JourneyStepRun(enrollment_id=pk, step=step, status=status, at=now)
            for pk in enrollment_ids
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )


def _advance(journey, enrollment_ids, position, step_count, now) -> None:
    """Move enrolments past `position`: due now, or after the next step's wait; done at the end."""
    if not enrollment_ids:
        return
    following = position + 1
    if following >= step_count:
        JourneyEnrollment.objects.filter(pk__in=enrollment_ids).update(
            position=following, status=EnrollmentStatus.DONE, lease_until=None
        )
        return
    wait = (
        JourneyStep.objects.filter(journey=journey, position=following)
        .values_list("kind", "wait_minutes")
        .first()
    )
    due = now + timedelta(minutes=wait[1]) if wait and wait[0] == StepKind.WAIT else now
    JourneyEnrollment.objects.filter(pk__in=enrollment_ids).update(
        position=following, status=EnrollmentStatus.WAITING, due_at=due, lease_until=None
    )


def step_counts(journey: Journey) -> dict[int, dict[str, int]]:
    """Per step id: customers waiting at it, passed, exited and failed (two queries)."""
    counts: dict[int, dict[str, int]] = {
        step.pk: {"waiting": 0, "passed": 0, "exited": 0, "failed": 0}
        for step in journey.steps.all()
    }
    positions = {step.position: step.pk for step in journey.steps.all()}
    waiting = (
        JourneyEnrollment.objects.filter(
            journey=journey, status__in=[EnrollmentStatus.WAITING, EnrollmentStatus.RUNNING]
        )
        .values("position")
        .annotate(n=Count("pk"))
    )
    for row in waiting:
        if row["position"] in positions:
            counts[positions[row["position"]]]["waiting"] = row["n"]
    runs = (
        JourneyStepRun.objects.filter(step__journey=journey)
        .exclude(status=StepRunStatus.STARTED)
        .values("step", "status")
        .annotate(n=Count("pk"))
    )
    for run in runs:
        counts[run["step"]][run["status"]] = run["n"]
    return counts
