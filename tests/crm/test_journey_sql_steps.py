"""Waits and queryset conditions move customers in SQL, a batch per statement: the tick ends
exactly where the plain definition (ids through Python, the condition's `check`) ends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.journeys import engine
from crm.models import (
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStep,
    JourneyStepRun,
    JourneyTrigger,
    Stage,
    StepKind,
)
from tests.crm.factories import CustomerFactory, SegmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def _customers():
    vip = TagFactory(name="VIP")
    SegmentFactory(name="上海客户", filters={"city": "上海"})
    people = [
        CustomerFactory(stage=stage, city=city)
        for stage, city in [
            (Stage.MEMBER, "上海"),
            (Stage.LEAD, "上海"),
            (Stage.MEMBER, "北京"),
            (Stage.FOLLOWER, "北京"),
            (Stage.MEMBER, "广州"),
        ]
    ]
    people[1].tags.add(vip)
    people[3].tags.add(vip)
    return people


def _state(journey):
    enrollments = sorted(
        JourneyEnrollment.objects.filter(journey=journey).values_list(
            "customer_id", "position", "status", "due_at", "lease_until"
        )
    )
    runs = sorted(
        JourneyStepRun.objects.filter(step__journey=journey).values_list(
            "enrollment__customer_id", "step__position", "status", "detail", "at"
        )
    )
    return enrollments, runs


def _tick_from_scratch(people, steps, now):
    Journey.objects.all().delete()
    journey = Journey.objects.create(name="j", trigger=JourneyTrigger.TAG_ADDED, active=True)
    for position, (kind, name, value, wait) in enumerate(steps):
        JourneyStep.objects.create(
            journey=journey, position=position, kind=kind, name=name, value=value, wait_minutes=wait
        )
    for person in people:
        JourneyEnrollment.objects.create(
            journey=journey, customer=person, entry_key="t", due_at=now - timedelta(minutes=1)
        )
    counts = engine.run_tick(now, batch=2, sql_batch=2)
    return counts, _state(journey)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stage", Stage.MEMBER),
        ("tag", "VIP"),
        ("segment", "上海客户"),
        ("segment", "没有"),  # deleted since: nobody passes
        ("weather", "晴"),  # a condition no app registers any more: nobody passes
    ],
)
@pytest.mark.parametrize("last", [False, True])
def test_sql_moves_end_where_the_plain_definition_ends(monkeypatch, name, value, last):
    now = timezone.now()
    people = _customers()
    steps = [(StepKind.WAIT, "", "", 1), (StepKind.CONDITION, name, value, 0)]
    if not last:
        steps.append((StepKind.WAIT, "", "", 60))
    fast = _tick_from_scratch(people, steps, now)
    monkeypatch.setattr(engine, "_sql_move", lambda *args: None)
    plain = _tick_from_scratch(people, steps, now)
    assert fast == plain
    passing = {
        ("stage", Stage.MEMBER): {people[0].pk, people[2].pk, people[4].pk},
        ("tag", "VIP"): {people[1].pk, people[3].pk},
        ("segment", "上海客户"): {people[0].pk, people[1].pk},
    }.get((name, value), set())
    counts, (enrollments, runs) = fast
    assert counts == {
        "enrolled": 0,
        "passed": 5 + len(passing),
        "exited": 5 - len(passing),
        "failed": 0,
    }
    # Past the wait everyone is due now; past the condition, due after the next wait (or done).
    after = (
        (EnrollmentStatus.DONE, now)
        if last
        else (EnrollmentStatus.WAITING, now + timedelta(hours=1))
    )
    assert enrollments == [
        (c, 2, *after, None) if c in passing else (c, 1, EnrollmentStatus.EXITED, now, None)
        for c in sorted(p.pk for p in people)
    ]
    assert runs == sorted(
        [(c, 0, "passed", "", now) for c in (p.pk for p in people)]
        + [(c, 1, "passed" if c in passing else "exited", "", now) for c in (p.pk for p in people)]
    )
