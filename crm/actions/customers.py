"""A person's edits on a customer record: its editable fields, notes and tags."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..journeys import enroll
from ..models import Channel, Customer, InteractionKind, JourneyTrigger, Note, Tag
from .timeline import record_interaction, set_stage

# The fields a person edits on a customer, in the order the API shows them. The API serializer
# and the admin form build their field lists from this, so the three cannot drift apart.
CUSTOMER_EDITABLE_FIELDS = (
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
)
CUSTOMER_EDITABLE = frozenset(CUSTOMER_EDITABLE_FIELDS)


def update_customer(customer: Customer, changes: dict[str, Any], *, by=None) -> Customer:
    """A person edits a customer (the API, the admin form): the one write path for that edit.

    `changes` maps fields of CUSTOMER_EDITABLE to values already cleaned by the form or
    serializer (phone normalised); `tags` replaces the customer's tags. Compared with the row as
    stored, not with the caller's instance (a model form has already written its values onto
    it): a different phone is unverified until verified again, a different stage is set
    through `set_stage`, so the timeline records it and who made it, and a different marketing
    consent is on the timeline too (via "staff", with who), as the member's own choice is. Returns `customer`, saved.

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
        consent = changes.get("consent_marketing", stored.consent_marketing)
        if consent != stored.consent_marketing:
            _record_consent(customer, consent, via="staff", by=by)
        if tags is not None:
            before = set(customer.tags.values_list("name", flat=True))
            customer.tags.set(tags)
            added = sorted(set(customer.tags.values_list("name", flat=True)) - before)
            enroll(JourneyTrigger.TAG_ADDED, [(customer.pk, f"tag:{n}", n) for n in added])
        if stage is not None and stage != stored.stage:
            set_stage(customer, stage, by=by)
    return customer


def create_customer(fields: dict[str, Any], *, by=None) -> Customer:
    """A person creates a customer (the API, the customer import): the one write path for it.

    `fields` maps fields of CUSTOMER_EDITABLE to values already cleaned by the serializer or the
    import (phone normalised, email lower-cased); `tags` are Tag rows. The phone is unverified,
    so it is a weak key: a customer with the same number shows as a duplicate candidate, never
    merged by itself (crm.identity). `first_channel` defaults to manual. Atomic.
    Raises ValueError for a field that is not editable (a programming error, not user input).
    """
    unknown = set(fields) - CUSTOMER_EDITABLE
    if unknown:
        raise ValueError(f"not editable on a customer: {sorted(unknown)}")
    fields = dict(fields)
    tags = fields.pop("tags", None)
    fields.setdefault("first_channel", Channel.MANUAL)
    with transaction.atomic():
        customer = Customer.objects.create(**fields)
        if tags:
            customer.tags.set(tags)
    return customer


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
    enroll(JourneyTrigger.TAG_ADDED, [(c, f"tag:{name}", name) for c, name in sorted(pairs)])
    return len(pairs)


def set_marketing_consent(customer: Customer, consent: bool, *, via: str) -> bool:
    """The customer's own choice about marketing messages (the box on the member join page, the
    switch on the member card page): sets `consent_marketing` and puts the choice on the
    timeline with where (`via`) and when it was made, the record a brand keeps to show the
    consent was given (PIPL art. 14) or withdrawn. Mass sends, coupon pushes and journeys read
    the flag. Returns whether it changed; the same choice again writes nothing. Atomic; the
    row is locked, so two taps do not record twice.
    """
    with transaction.atomic():
        stored = Customer.objects.select_for_update().only("consent_marketing").get(pk=customer.pk)
        customer.consent_marketing = consent
        if stored.consent_marketing == consent:
            return False
        Customer.objects.filter(pk=customer.pk).update(consent_marketing=consent)
        _record_consent(customer, consent, via=via)
    return True


def _record_consent(customer: Customer, consent: bool, *, via: str, by=None) -> None:
    """A change of `consent_marketing` on the timeline: the member's own (`set_marketing_consent`)
    or staff's (`update_customer`, via "staff", with who). Caller's transaction."""
    record_interaction(
        customer,
        InteractionKind.OTHER,
        Channel.SYSTEM,
        summary=_("Accepted marketing messages")
        if consent
        else _("Withdrew consent to marketing messages"),
        data={"consent_marketing": consent, "via": via, **({"by": by.pk} if by else {})},
    )


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
        had = set(
            through.objects.filter(customer_id__in=ids, tag__in=tags).values_list(
                "customer_id", "tag_id"
            )
        )
        new = [(c, t) for c in ids for t in tags if (c, t.pk) not in had]
        through.objects.bulk_create(
            [through(customer_id=c, tag_id=t.pk) for c, t in new], ignore_conflicts=True
        )
        enroll(JourneyTrigger.TAG_ADDED, [(c, f"tag:{t.name}", t.name) for c, t in new])
    return len(new)


def tag_customer_by_name(customer: Customer, name: str) -> Tag:
    """Attach a tag by name, creating the tag if needed (used by automation such as keyword rules)."""
    tag, _created = Tag.objects.get_or_create(name=name[:64])
    customer.tags.add(tag)
    enroll(JourneyTrigger.TAG_ADDED, [(customer.pk, f"tag:{tag.name}", tag.name)])
    return tag
