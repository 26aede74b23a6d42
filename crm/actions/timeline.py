"""The customer's timeline and lifecycle stage: events recorded on it, one at a time or in bulk,
and stage moves (forward only by the system, either way by a person), each recorded there too.

The base of the actions: the other action modules write through these, these import none of them.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..bulk import upsert_rows
from ..models import Channel, Customer, Interaction, InteractionKind, Stage


def record_interaction(
    customer: Customer,
    kind: str,
    channel: str,
    *,
    occurred_at: datetime | None = None,
    summary: str = "",
    subject: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> Interaction:
    """Put one event on the customer's timeline; the same kind for the same subject is a no-op.

    Runs in the caller's transaction (a savepoint guards the unique insert).
    """
    fields = {
        "customer": customer,
        "channel": channel,
        "occurred_at": occurred_at or timezone.now(),
        "summary": summary[:500],
        "data": data or {},
    }
    if subject is None:
        return Interaction.objects.create(kind=kind, **fields)
    subject_type = ContentType.objects.get_for_model(subject)
    try:
        with transaction.atomic():
            interaction, _created = Interaction.objects.get_or_create(
                kind=kind, subject_type=subject_type, subject_id=str(subject.pk), defaults=fields
            )
    except IntegrityError:  # a concurrent writer recorded it first
        interaction = Interaction.objects.get(
            kind=kind, subject_type=subject_type, subject_id=str(subject.pk)
        )
    return interaction


# What a timeline entry says (the API's timeline shows these, with the id).
TIMELINE_FIELDS = (
    "kind",
    "channel",
    "occurred_at",
    "summary",
    "data",
    "subject_type",
    "subject_id",
)
_TIMELINE_COLUMNS = ["customer", *TIMELINE_FIELDS, "created_at"]


def record_interactions(rows: Iterable[Interaction]) -> int:
    """Bulk variant for ingestion: inserts the rows, skipping any already recorded (the same
    kind for the same subject).

    One statement per 500 rows through `crm.bulk.upsert_rows`: `bulk_create` prepared every
    value of every row through its field, about a tenth of a WeChat drain. Returns the number
    of rows offered. Runs in the caller's transaction.
    """
    now = timezone.now()
    values = [
        (
            row.customer_id,
            row.kind,
            row.channel,
            row.occurred_at,
            row.summary[:500],
            row.data,
            row.subject_type_id,
            row.subject_id,
            now,
        )
        for row in rows
    ]
    upsert_rows(Interaction, _TIMELINE_COLUMNS, values, skip_conflicts=True)
    return len(values)


def advance_stage(
    customer: Customer,
    stage: str,
    *,
    at: datetime | None = None,
    channel: str = Channel.SYSTEM,
    reason: str = "",
) -> bool:
    """Move the customer forward to `stage`; never backward. Returns whether it moved.

    The update is conditional in SQL, so two concurrent callers cannot both move it.
    Runs in the caller's transaction.
    """
    lower = [s for s in Stage.values if Stage.rank(s) < Stage.rank(stage)]
    previous = Customer.objects.filter(pk=customer.pk).values_list("stage", flat=True).first()
    moved = Customer.objects.filter(pk=customer.pk, stage__in=lower).update(stage=stage)
    if not moved:
        return False
    customer.stage = stage
    change = _stage_change(
        customer.pk, previous, stage, at=at or timezone.now(), channel=channel, reason=reason
    )
    change.summary = change.summary[:500]
    change.save()
    return True


def set_stage(customer: Customer, stage: str, *, by=None) -> None:
    """A person sets the stage by hand, forward or backward; the timeline records it."""
    with transaction.atomic():
        previous = customer.stage
        if previous == stage:
            return
        Customer.objects.filter(pk=customer.pk).update(stage=stage)
        customer.stage = stage
        record_interaction(
            customer,
            InteractionKind.STAGE_CHANGE,
            Channel.MANUAL,
            summary=f"{Stage(previous).label} → {Stage(stage).label}",
            data={"from": previous, "to": stage, "by": getattr(by, "pk", None)},
        )


def _advance_stages(at: dict[int, datetime], stage: str) -> dict[int, str]:
    """`advance_stage` for many customers (id -> when): those moved, with their stage before.
    The timeline is the caller's to write (`_stage_change`)."""
    lower = [s for s in Stage.values if Stage.rank(s) < Stage.rank(stage)]
    earlier = dict(
        Customer.objects.select_for_update()
        .filter(pk__in=list(at), stage__in=lower)
        .order_by("pk")
        .values_list("pk", "stage")
    )
    if earlier:
        Customer.objects.filter(pk__in=list(earlier)).update(stage=stage)
    return earlier


def _stage_change(customer_id, previous, stage, *, at, channel, reason) -> Interaction:
    """The timeline row `advance_stage` writes when it moves a customer."""
    return Interaction(
        customer_id=customer_id,
        kind=InteractionKind.STAGE_CHANGE,
        channel=channel,
        occurred_at=at,
        summary=f"{Stage(previous or Stage.FOLLOWER).label} → {Stage(stage).label}",
        data={"from": previous, "to": stage, "reason": reason},
    )
