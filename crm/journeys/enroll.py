"""Enrolling customers in the journeys a trigger starts."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from crm.models import Customer, Journey, JourneyEnrollment, JourneyStep, JourneyTrigger, StepKind


def enroll(
    trigger: str, items: Iterable[tuple[int, str, str]], *, at: datetime | None = None
) -> int:
    """Enroll customers in every active journey whose trigger is `trigger`.

    `items` are (customer id, entry key, match value): a journey with a `trigger_value` takes only
    items whose match value equals it (the tag name, the code's scene); for time-based triggers
    the scanner has matched already and passes the journey's own value. A customer enters a
    journey once per entry key (an order number, a coupon code), so calling this again for the
    same event adds nothing. Journeys that require consent skip customers without marketing
    consent. Runs in the caller's transaction (the enrolment commits with its cause); one query
    when no journey listens to the trigger. Returns the enrolments offered (ones already there
    are kept as they are).
    """
    JourneyTrigger(trigger)  # ValueError for a trigger nobody defined: a programming error
    journeys = list(Journey.objects.filter(active=True, trigger=trigger))
    items = list(items)
    if not journeys or not items:
        return 0
    at = at or timezone.now()
    consenting = set(
        Customer.objects.filter(
            pk__in={customer_id for customer_id, _key, _value in items}, consent_marketing=True
        ).values_list("pk", flat=True)
    )
    # A journey that starts with a wait has its customers due when the wait ends.
    first_wait = dict(
        JourneyStep.objects.filter(
            journey__in=journeys, position=0, kind=StepKind.WAIT
        ).values_list("journey_id", "wait_minutes")
    )
    rows = []
    for journey in journeys:
        due = at + timedelta(minutes=first_wait.get(journey.pk, 0))
        for customer_id, entry_key, value in items:
            if journey.trigger_value and value != journey.trigger_value:
                continue
            if journey.require_consent and customer_id not in consenting:
                continue
            rows.append(
                JourneyEnrollment(
                    journey=journey,
                    customer_id=customer_id,
                    entry_key=entry_key[:100],
                    due_at=due,
                    entered_at=at,
                )
            )
    if not rows:
        return 0
    JourneyEnrollment.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)
