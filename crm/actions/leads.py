"""Leads: opening them (one, or a page of ingestion in bulk), their owner in turn within the
marketing team, a person's edits under the status rules, and their conversion when the customer
pays or joins the membership."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..attribution import customers_changed
from ..journeys import enroll
from ..models import (
    OPEN_LEAD_STATUSES,
    Channel,
    Customer,
    Interaction,
    InteractionKind,
    JourneyTrigger,
    Lead,
    LeadStatus,
    Stage,
)
from .timeline import (
    _advance_stages,
    _stage_change,
    advance_stage,
    record_interaction,
    record_interactions,
)

MARKETING_GROUP = "marketing"


# The fields a person edits on a lead; `converted_at` follows `status` (see `_apply_lead_status`).
LEAD_EDITABLE = frozenset(
    {
        "customer",
        "title",
        "source_channel",
        "status",
        "owner",
        "next_step",
        "next_step_at",
        "lost_reason",
        "lost_note",
    }
)
# What `create_lead` takes as `details`: the rest are its arguments.
LEAD_DETAILS = LEAD_EDITABLE - {"customer", "title", "source_channel", "owner"}

# Dotted paths of `func(leads)`, called in the writing transaction with the leads created, or
# whose source channel or customer changed: what other apps keep about leads (channels_weibo's campaign
# credit) follows. Registered in AppConfig.ready, so crm imports no other app.
LEADS_CHANGED: list[str] = []


def register_leads_changed(path: str) -> None:
    """Let the lead actions call `path` with the leads they created or re-sourced."""
    if path not in LEADS_CHANGED:
        LEADS_CHANGED.append(path)


def _leads_changed(leads: list[Lead], *, customers: Iterable[int] = ()) -> None:
    if leads:
        for path in LEADS_CHANGED:
            import_string(path)(leads)
        customers_changed([*(lead.customer_id for lead in leads), *customers])


def _apply_lead_status(lead: Lead, *, at: datetime) -> None:
    """The rules of a lead's status, for every caller: the lost-reason rule of `Lead.clean`
    (raises ValidationError on `lost_reason`), and a lead that is converted has `converted_at`
    (set to `at` when it has none yet; a lead converted once keeps the first time)."""
    lead.clean()
    if lead.status == LeadStatus.CONVERTED and lead.converted_at is None:
        lead.converted_at = at


def update_lead(lead: Lead, changes: dict[str, Any], *, at: datetime | None = None) -> Lead:
    """A person edits a lead (the API, the admin form and list, the customer page's inline): the
    one write path for a lead's status set by hand.

    `changes` maps fields of LEAD_EDITABLE to cleaned values. The status rules are
    `_apply_lead_status`'s. Returns `lead`, saved. Atomic, the row locked. Raises
    ValidationError ({"lost_reason": [...]}) for a lost lead without a reason or a reason on a
    lead that is not lost, and nothing is written; ValueError for a field that is not editable.
    """
    unknown = set(changes) - LEAD_EDITABLE
    if unknown:
        raise ValueError(f"not editable on a lead: {sorted(unknown)}")
    with transaction.atomic():
        stored = Lead.objects.select_for_update().get(pk=lead.pk)
        lead.converted_at = stored.converted_at
        for field, value in changes.items():
            setattr(lead, field, value)
        _apply_lead_status(lead, at=at or timezone.now())
        lead.save()
        if (lead.source_channel, lead.customer_id) != (stored.source_channel, stored.customer_id):
            _leads_changed([lead], customers=[stored.customer_id])
    return lead


def delete_leads(leads: models.QuerySet) -> int:
    """Delete these leads (the admin's delete and the customer page's inline); the touches of
    their customers changed (`customers_changed`). Returns how many. Atomic."""
    with transaction.atomic():
        customers = list(leads.values_list("customer_id", flat=True).distinct())
        deleted, _per_model = leads.delete()
        customers_changed(customers)
    return deleted


def convert_open_leads(customer: Customer, *, at: datetime) -> int:
    """Convert the customer's open leads created at or before `at`. Returns how many."""
    return Lead.objects.filter(
        customer=customer, status__in=OPEN_LEAD_STATUSES, created_at__lte=at
    ).update(status=LeadStatus.CONVERTED, converted_at=at)


def mark_customer_paid(customer: Customer, *, at: datetime, channel: str = Channel.WECHAT) -> None:
    """The customer paid: stage `customer` (if earlier) and their open leads convert.

    Called by the members app for every paid order. Atomic.
    """
    with transaction.atomic():
        advance_stage(customer, Stage.CUSTOMER, at=at, channel=channel, reason="paid")
        convert_open_leads(customer, at=at)


def mark_customer_member(customer: Customer, *, at: datetime, channel: str) -> None:
    """The customer joined the membership: stage `member` and their open leads convert. Atomic."""
    with transaction.atomic():
        advance_stage(customer, Stage.MEMBER, at=at, channel=channel, reason="member")
        convert_open_leads(customer, at=at)


def next_lead_owner():
    """The marketing user next in turn for a new lead (round-robin), or None if there is none.

    Turn order is by user id; the user after the owner of the most recent owned lead is next.
    """
    users, turn = _marketing_turn()
    return get_user_model().objects.get(pk=users[turn]) if users else None


def _marketing_turn() -> tuple[list[int], int]:
    """The active marketing users' ids in turn order, and the index of the one next in turn."""
    users = list(
        get_user_model()
        .objects.filter(groups__name=MARKETING_GROUP, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not users:
        return [], 0
    last = (
        Lead.objects.filter(owner_id__in=users)
        .order_by("-created_at", "-pk")
        .values_list("owner_id", flat=True)
        .first()
    )
    return users, (users.index(last) + 1) % len(users) if last in users else 0


def create_lead(
    customer: Customer,
    title: str,
    *,
    source_channel: str,
    source: models.Model | None = None,
    origin: models.Model | None = None,
    owner=None,
    at: datetime | None = None,
    assign: bool = True,
    details: dict[str, Any] | None = None,
) -> tuple[Lead, bool]:
    """Open a lead for the customer (idempotent per customer and source object).

    Moves the customer to stage `lead` (forward only), assigns an owner round-robin within the
    marketing team when none is given, and records the lead on the timeline. `details` are
    the other fields a person gave (LEAD_DETAILS: status, next step, lost reason and note),
    under the status rules of `update_lead`: a lead created as converted has `converted_at`.
    Returns (lead, created). Atomic. Raises ValidationError on `lost_reason` as `update_lead`
    does, and nothing is written; ValueError for a detail that is not editable.
    """
    details = dict(details or {})
    unknown = set(details) - LEAD_DETAILS
    if unknown:
        raise ValueError(f"not editable on a lead: {sorted(unknown)}")
    at = at or timezone.now()
    with transaction.atomic():
        lookup: dict[str, Any] = {"customer": customer}
        if source is not None:
            lookup["source_type"] = ContentType.objects.get_for_model(source)
            lookup["source_id"] = str(source.pk)
            existing = Lead.objects.filter(**lookup).first()
            if existing:
                return existing, False
        lead = Lead(
            title=title[:200],
            source_channel=source_channel,
            owner=owner or (next_lead_owner() if assign else None),
            created_at=at,
            **lookup,
        )
        for field, value in details.items():
            setattr(lead, field, value)
        _apply_lead_status(lead, at=at)
        if origin is not None:
            lead.origin_type = ContentType.objects.get_for_model(origin)
            lead.origin_id = str(origin.pk)
        try:
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            return Lead.objects.get(**lookup), False
        _leads_changed([lead])
        advance_stage(customer, Stage.LEAD, at=at, channel=source_channel, reason="lead")
        record_interaction(
            customer,
            InteractionKind.LEAD,
            source_channel,
            occurred_at=at,
            summary=title,
            subject=lead,
        )
        enroll(
            JourneyTrigger.LEAD_CREATED, [(customer.pk, f"lead:{lead.pk}", source_channel)], at=at
        )
    return lead, True


class LeadRequest(NamedTuple):
    """One lead for `create_leads`: what `create_lead` takes."""

    customer_id: int
    title: str
    source: models.Model
    origin: models.Model | None
    at: datetime


def create_leads(requests: Iterable[LeadRequest], *, source_channel: str) -> list[Lead]:
    """`create_lead` for a page of ingestion, in a fixed number of queries however many leads.

    The rows `create_lead` writes for each request in order: one lead per customer and source
    object (a request for one that exists, or repeated, is skipped), the customer moved forward
    to stage `lead` at their first new lead, the stage change and each lead on the timeline.
    Owners are the marketing team in turn, in the order given. Returns the leads created.
    Caller's transaction.
    """
    wanted: dict[tuple[int, int, str], LeadRequest] = {}
    for request in requests:
        kind = ContentType.objects.get_for_model(request.source)
        wanted.setdefault((request.customer_id, kind.pk, str(request.source.pk)), request)
    if not wanted:
        return []
    stored = Lead.objects.filter(
        customer_id__in={key[0] for key in wanted},
        source_type_id__in={key[1] for key in wanted},
        source_id__in={key[2] for key in wanted},
    ).values_list("customer_id", "source_type_id", "source_id")
    for key in stored:
        wanted.pop(key, None)
    if not wanted:
        return []
    users, turn = _marketing_turn()
    leads = []
    for i, ((customer_id, source_type_id, source_id), request) in enumerate(wanted.items()):
        lead = Lead(
            customer_id=customer_id,
            title=request.title[:200],
            source_channel=source_channel,
            owner_id=users[(turn + i) % len(users)] if users else None,
            created_at=request.at,
            source_type_id=source_type_id,
            source_id=source_id,
        )
        if request.origin is not None:
            lead.origin_type = ContentType.objects.get_for_model(request.origin)
            lead.origin_id = str(request.origin.pk)
        leads.append(lead)
    Lead.objects.bulk_create(leads)
    _leads_changed(leads)
    first_lead_at: dict[int, datetime] = {}
    for lead in leads:
        first_lead_at.setdefault(lead.customer_id, lead.created_at)
    moved = _advance_stages(first_lead_at, Stage.LEAD)
    lead_type = ContentType.objects.get_for_model(Lead)
    timeline = []
    for lead, request in zip(leads, wanted.values(), strict=True):
        previous = moved.pop(lead.customer_id, None)
        if previous is not None:
            timeline.append(
                _stage_change(
                    lead.customer_id,
                    previous,
                    Stage.LEAD,
                    at=lead.created_at,
                    channel=source_channel,
                    reason="lead",
                )
            )
        timeline.append(
            Interaction(
                customer_id=lead.customer_id,
                kind=InteractionKind.LEAD,
                channel=source_channel,
                occurred_at=lead.created_at,
                summary=request.title,
                subject_type=lead_type,
                subject_id=str(lead.pk),
                data={},
            )
        )
    record_interactions(timeline)
    enroll(
        JourneyTrigger.LEAD_CREATED,
        [(lead.customer_id, f"lead:{lead.pk}", source_channel) for lead in leads],
    )
    return leads
