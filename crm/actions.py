"""Writes that touch several models. Each function owns its transaction.

Channel apps call these to put things on a customer's record; they never write crm rows
themselves. Every function here is safe to call twice with the same subject (idempotent).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .audit import record_audit
from .bulk import upsert_rows
from .models import (
    OPEN_LEAD_STATUSES,
    AuditAction,
    Channel,
    Customer,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    MergeRecord,
    Note,
    Stage,
    Tag,
)

MARKETING_GROUP = "marketing"


class MergeError(ValidationError):
    """A merge that is not allowed (self, already merged, conflicting one-to-one rows)."""


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


_TIMELINE_COLUMNS = [
    "customer",
    "kind",
    "channel",
    "occurred_at",
    "summary",
    "data",
    "subject_type",
    "subject_id",
    "created_at",
]


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


# The fields a person edits on a customer (the API and the admin form offer the same ones).
CUSTOMER_EDITABLE = frozenset(
    {
        "name",
        "phone",
        "email",
        "gender",
        "city",
        "birthday",
        "owner",
        "stage",
        "first_channel",
        "tags",
        "consent_marketing",
        "consent_privacy_at",
    }
)


def update_customer(customer: Customer, changes: dict[str, Any], *, by=None) -> Customer:
    """A person edits a customer (the API, the admin form): the one write path for that edit.

    `changes` maps fields of CUSTOMER_EDITABLE to values already cleaned by the form or
    serializer (phone normalised); `tags` replaces the customer's tags. Compared with the row as
    stored, not with the caller's instance (a model form has already written its values onto
    it): a different phone is unverified until verified again, and a different stage is set
    through `set_stage`, so the timeline records it and who made it. Returns `customer`, saved.

    Atomic; the row is locked, so two concurrent edits each see the other's phone and stage.
    Raises ValueError for a field that is not editable (a programming error, not user input).
    """
    unknown = set(changes) - CUSTOMER_EDITABLE
    if unknown:
        raise ValueError(f"not editable on a customer: {sorted(unknown)}")
    changes = dict(changes)
    stage = changes.pop("stage", None)
    tags = changes.pop("tags", None)
    with transaction.atomic():
        stored = Customer.objects.select_for_update().get(pk=customer.pk)
        for field, value in changes.items():
            setattr(customer, field, value)
        if "phone" in changes and changes["phone"] != stored.phone:
            customer.phone_verified = False
        customer.stage = stored.stage  # `set_stage` below moves it and records the move
        customer.save()
        if tags is not None:
            customer.tags.set(tags)
        if stage is not None and stage != stored.stage:
            set_stage(customer, stage, by=by)
    return customer


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
    return lead


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
        advance_stage(customer, Stage.LEAD, at=at, channel=source_channel, reason="lead")
        record_interaction(
            customer,
            InteractionKind.LEAD,
            source_channel,
            occurred_at=at,
            summary=title,
            subject=lead,
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
    return leads


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


def attach_tags(pairs: Iterable[tuple[int, str]]) -> int:
    """`tag_customer_by_name` for many (customer id, tag name) pairs: tags created if needed,
    links already there kept. Returns the links offered. Caller's transaction."""
    pairs = {(customer_id, name[:64]) for customer_id, name in pairs}
    if not pairs:
        return 0
    names = {name for _customer, name in pairs}
    tags = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    for name in sorted(names - set(tags)):
        tags[name] = Tag.objects.get_or_create(name=name)[0].pk
    through = Customer.tags.through
    through.objects.bulk_create(
        [through(customer_id=c, tag_id=tags[name]) for c, name in sorted(pairs)],
        ignore_conflicts=True,
    )
    return len(pairs)


def add_note(customer: Customer, body: str, *, author=None) -> Note:
    """Write a note on the customer and show it on the timeline. Atomic."""
    with transaction.atomic():
        note = Note.objects.create(customer=customer, body=body, author=author)
        record_interaction(
            customer,
            InteractionKind.NOTE,
            Channel.MANUAL,
            occurred_at=note.created_at,
            summary=body[:200],
            subject=note,
        )
    return note


def tag_customers(customer_ids: Iterable[int], tag_names: Iterable[str]) -> int:
    """Add existing tags to customers. Unknown tag names raise ValidationError; nothing is written.

    Returns the number of (customer, tag) links added. Atomic.
    """
    names = sorted({n.strip() for n in tag_names if n and n.strip()})
    tags = list(Tag.objects.filter(name__in=names))
    unknown = sorted(set(names) - {t.name for t in tags})
    if unknown:
        raise ValidationError(
            {"tags": _("Unknown tag: %(names)s.") % {"names": ", ".join(unknown)}}, code="unknown"
        )
    through = Customer.tags.through
    ids = list(customer_ids)
    with transaction.atomic():
        before = through.objects.filter(customer_id__in=ids, tag__in=tags).count()
        through.objects.bulk_create(
            [through(customer_id=c, tag_id=t.pk) for c in ids for t in tags], ignore_conflicts=True
        )
        after = through.objects.filter(customer_id__in=ids, tag__in=tags).count()
    return after - before


def tag_customer_by_name(customer: Customer, name: str) -> Tag:
    """Attach a tag by name, creating the tag if needed (used by automation such as keyword rules)."""
    tag, _created = Tag.objects.get_or_create(name=name[:64])
    customer.tags.add(tag)
    return tag


_FILLABLE = ("name", "phone", "email", "gender", "city", "birthday", "owner")

# Models of other apps whose rows a merge cannot simply re-point (a one-to-one membership):
# model label -> dotted path of `func(source, target, field_name) -> list of moved keys`, which
# moves them itself. Registered in the app's AppConfig.ready, so crm imports no other app.
MERGE_HANDLERS: dict[str, str] = {}


def register_merge_handler(model_label: str, path: str) -> None:
    """Let `merge_customers` call `path` for the rows of `model_label` ("app.Model")."""
    MERGE_HANDLERS[model_label] = path


def merge_customers(
    source: Customer, target: Customer, *, by=None, reason: str = MergeRecord.Reason.MANUAL
) -> MergeRecord:
    """Merge `source` into `target`, which survives. Loses nothing.

    Every row of every model that points at `source` through a ForeignKey (identities,
    interactions, leads, notes, conversations, orders, memberships...) is re-pointed at `target`;
    a model that needs more than that (a one-to-one membership, say) has a handler registered
    (`register_merge_handler`), called in this transaction, that does it itself. Tags are
    united, the target's empty fields are filled from the source, the later lifecycle stage and
    the earlier first touch win; marketing consent stays only if both had it (a withdrawal wins,
    recorded on the timeline). The source row stays, with `merged_into` set, and a MergeRecord
    lists every moved primary key and the source's fields as they were.

    One transaction, both customers locked. Raises MergeError: merging a customer into itself,
    merging a customer that is already merged, or into one that is.
    """
    if source.pk == target.pk:
        raise MergeError({"source": _("A customer cannot be merged into itself.")}, code="self")
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update().filter(pk__in=[source.pk, target.pk])
        }
        source, target = locked[source.pk], locked[target.pk]
        if source.merged_into_id:
            raise MergeError(
                {
                    "source": _("Customer #%(id)s was already merged into #%(into)s.")
                    % {"id": source.pk, "into": source.merged_into_id}
                },
                code="merged",
            )
        if target.merged_into_id:
            raise MergeError(
                {
                    "target": _("Customer #%(id)s was already merged into #%(into)s.")
                    % {"id": target.pk, "into": target.merged_into_id}
                },
                code="merged",
            )
        snapshot = model_to_dict(source, exclude=["tags"])
        snapshot = {k: (str(v) if v is not None else None) for k, v in snapshot.items()}
        snapshot["created_at"] = source.created_at.isoformat()
        snapshot["tags"] = list(source.tags.values_list("name", flat=True))

        moved: dict[str, list[str]] = {}
        for relation in Customer._meta.related_objects:
            if relation.many_to_many or relation.related_model is MergeRecord:
                continue
            model = relation.related_model
            field_name = relation.field.name
            handler = MERGE_HANDLERS.get(model._meta.label)
            if handler is not None:
                pks = import_string(handler)(source, target, field_name)
            else:
                rows = model._base_manager.filter(**{field_name: source})
                pks = list(rows.values_list("pk", flat=True))
                if (
                    pks
                    and relation.one_to_one
                    and model._base_manager.filter(**{field_name: target}).exists()
                ):
                    raise MergeError(
                        _("Both customers have a %(model)s; it cannot be moved.")
                        % {"model": model._meta.verbose_name},
                        code="conflict",
                    )
                rows.update(**{field_name: target})
            if pks:
                moved.setdefault(model._meta.label, []).extend(str(pk) for pk in pks)

        source_tags = list(source.tags.all())
        if source_tags:
            target.tags.add(*source_tags)
            source.tags.clear()  # the snapshot keeps their names
            moved["crm.Tag"] = [str(t.pk) for t in source_tags]

        for field in _FILLABLE:
            if not getattr(target, field) and getattr(source, field):
                setattr(target, field, getattr(source, field))
                if field == "phone":
                    target.phone_verified = source.phone_verified
        if target.gender == "unknown" and source.gender != "unknown":
            target.gender = source.gender
        if source.stage_rank() > target.stage_rank():
            target.stage = source.stage
        if source.created_at < target.created_at:
            target.created_at = source.created_at
            target.first_channel = source.first_channel
        # Consent is given by one person and withdrawn by one: if either record lacks it (never
        # gave it, or withdrew it), the merged customer lacks it, and the timeline says why.
        withdrawn = target.consent_marketing != source.consent_marketing
        consented, without = (target, source) if target.consent_marketing else (source, target)
        target.consent_marketing = target.consent_marketing and source.consent_marketing
        target.consent_privacy_at = target.consent_privacy_at or source.consent_privacy_at
        target.save()

        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])
        record = MergeRecord.objects.create(
            source=source,
            target=target,
            reason=reason,
            merged_by=by,
            moved=moved,
            snapshot=snapshot,
        )
        record_interaction(
            target,
            InteractionKind.MERGE,
            Channel.SYSTEM,
            summary=_("Merged customer #%(id)s %(name)s") % {"id": source.pk, "name": source.name},
            subject=record,
            data={"source": source.pk, "reason": reason},
        )
        if withdrawn:
            record_interaction(
                target,
                InteractionKind.OTHER,
                Channel.SYSTEM,
                summary=_(
                    "Marketing consent withdrawn by the merge: #%(without)s had none, "
                    "#%(consented)s had consented."
                )
                % {"without": without.pk, "consented": consented.pk},
                data={"consent_marketing": False, "consented": consented.pk, "without": without.pk},
            )
        record_audit(
            AuditAction.MERGE,
            "crm.Customer",
            target.pk,
            f"customer #{source.pk} merged into #{target.pk} ({reason}), merge record #{record.pk}",
            by=by,
        )
    return record
