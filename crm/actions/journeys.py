"""Editing journeys: the checks every write path (admin, API) applies to a journey and its steps."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ..journeys.registry import ACTIONS, CONDITIONS
from ..models import EnrollmentStatus, Journey, JourneyEnrollment, JourneyTrigger, StepKind

DAY_TRIGGERS = (JourneyTrigger.COUPON_EXPIRING, JourneyTrigger.NO_PURCHASE)


def check_trigger(trigger: str, value: str) -> None:
    """Raises ValidationError (field `trigger_value`) when a day-based trigger has no whole number
    of days (0-365)."""
    if trigger in DAY_TRIGGERS and not (value.isdigit() and 0 <= int(value) <= 365):
        raise ValidationError(
            {"trigger_value": _("This trigger needs a number of days between 0 and 365.")}
        )


def check_step(kind: str, name: str, value: str, wait_minutes: int) -> None:
    """Raises ValidationError naming the field: a wait without minutes, a condition or action
    nobody registered, or a value its owner refuses (an unknown tag, segment, coupon...)."""
    if kind == StepKind.WAIT:
        if wait_minutes <= 0:
            raise ValidationError({"wait_minutes": _("A wait needs a number of minutes.")})
        return
    registry = CONDITIONS if kind == StepKind.CONDITION else ACTIONS
    entry = registry.get(name)
    if entry is None:
        raise ValidationError(
            {
                "name": _("Unknown %(kind)s %(name)s; one of: %(names)s.")
                % {"kind": kind, "name": name, "names": ", ".join(sorted(registry))}
            }
        )
    if entry.validate is not None:
        try:
            entry.validate(value)
        except ValidationError as exc:
            raise ValidationError({"value": exc.messages}) from exc


def check_steps_change(journey: Journey, positions_before: set[int], positions_after: set[int]):
    """Refuses adding, removing or moving steps while customers are inside the journey (their
    place is a step position). Values and waits may change at any time."""
    if positions_before == positions_after or journey.pk is None:
        return
    inside = JourneyEnrollment.objects.filter(
        journey=journey, status__in=[EnrollmentStatus.WAITING, EnrollmentStatus.RUNNING]
    ).count()
    if inside:
        raise ValidationError(
            _(
                "%(n)s customers are inside this journey: deactivate it and let them finish "
                "before adding, removing or moving steps."
            )
            % {"n": inside}
        )
