"""Identity resolution: which customer a channel identity belongs to.

The contract for channel apps:

1. A channel identity model (WeChatUser, WeiboUser...) has `customer = ForeignKey(Customer)`.
2. To attach a new identity, call `resolve_customer(channel=..., keys={...}, defaults={...})`
   with the identity's strong keys (`unionid`, verified `phone`) and store the returned customer
   on the identity. The same strong key always resolves to the same customer; if two customers
   turn out to hold one strong key, they are merged automatically (the older survives).
3. A merge later moves the identity with everything else (`crm.actions.merge_customers`).

Weak keys (same email, same name + city, same unverified phone) never merge by themselves; they
are listed as duplicate candidates (`duplicate_candidates`) for a person to decide.
"""

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Count, Q, QuerySet
from django.utils import timezone

from .actions import merge_customers
from .bulk import upsert_rows
from .models import Customer, CustomerKey, MergeRecord, normalize_email, normalize_phone

_REASON_BY_KEY = {
    CustomerKey.Kind.UNIONID: MergeRecord.Reason.UNIONID,
    CustomerKey.Kind.PHONE: MergeRecord.Reason.PHONE,
}


def _survivor(customer: Customer) -> Customer:
    while customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def resolve_customer(
    *,
    channel: str,
    keys: dict[str, str] | None = None,
    defaults: dict[str, Any] | None = None,
    customer: Customer | None = None,
    at: datetime | None = None,
) -> Customer:
    """Return the one customer owning these strong keys, creating or merging as needed.

    `keys` maps a CustomerKey kind (`unionid`, `phone`) to a value; empty values are ignored.
    `customer`, if given, is the customer the identity already belongs to: it is included in the
    resolution (so an identity that learns its unionid late joins the right person).
    A new customer starts in stage `follower` with `first_channel=channel`, created at `at`.
    Atomic; safe under concurrent callers (the unique key decides, the loser retries).
    """
    keys = {kind: str(value) for kind, value in (keys or {}).items() if value}
    if CustomerKey.Kind.PHONE in keys:
        keys[CustomerKey.Kind.PHONE] = normalize_phone(keys[CustomerKey.Kind.PHONE])
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return _resolve_once(channel, keys, defaults or {}, customer, at)
        except IntegrityError:
            continue
    with transaction.atomic():
        return _resolve_once(channel, keys, defaults or {}, customer, at)


def _resolve_once(channel, keys, defaults, customer, at) -> Customer:
    query = Q(pk__in=[])
    for kind, value in keys.items():
        query |= Q(kind=kind, value=value)
    found = list(CustomerKey.objects.filter(query).select_related("customer")) if keys else []
    # The key that ties the customers together names the merge reason.
    kinds = [k.kind for k in found] or list(keys)
    reason = (
        _REASON_BY_KEY.get(CustomerKey.Kind(kinds[0]), MergeRecord.Reason.UNIONID)
        if kinds
        else None
    )
    owners = [_survivor(k.customer) for k in found]
    if customer is not None:
        owners.append(_survivor(customer))
    unique = {c.pk: c for c in owners}
    if not unique:
        fields = {"first_channel": channel, "created_at": at or timezone.now(), **defaults}
        if fields.get("phone"):
            fields["phone"] = normalize_phone(fields["phone"])
        if fields.get("email"):
            fields["email"] = normalize_email(fields["email"])
        survivor = Customer.objects.create(**fields)
    else:
        ordered = sorted(unique.values(), key=lambda c: (c.created_at, c.pk))
        survivor = ordered[0]
        for other in ordered[1:]:
            if reason is None:  # two owners means at least one key was found or given
                raise RuntimeError("merging customers without a key naming the reason")
            merge_customers(other, survivor, reason=reason)
        survivor.refresh_from_db()
    for kind, value in keys.items():
        CustomerKey.objects.get_or_create(kind=kind, value=value, defaults={"customer": survivor})
    if CustomerKey.Kind.PHONE in keys and not survivor.phone:
        survivor.phone = keys[CustomerKey.Kind.PHONE]
        survivor.phone_verified = True
        survivor.save(update_fields=["phone", "phone_verified", "updated_at"])
    return survivor


def create_customers(*, channel: str, people: list[dict[str, Any]]) -> list[int]:
    """Bulk `resolve_customer` without keys: one new customer per dict of defaults, in order.

    For channel identities that carry no strong key (a Weibo uid): resolving such an identity
    always creates a customer, so a page of them is one INSERT per 500. Each starts in stage
    `follower` with `first_channel=channel`, created at its `created_at` (default now); the
    dicts may only name plain fields (name, city, gender...). Every field's default is prepared
    once for the page, not once per customer as `bulk_create` does, because ingestion creates
    customers by the hundred (`crm.bulk.upsert_rows`). Returns the new ids in the order given.
    Caller's transaction.
    """
    if not people:
        return []
    now = timezone.now()
    blank = Customer(first_channel=channel, created_at=now)
    fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
    template = [f.get_db_prep_save(f.pre_save(blank, add=True), connection) for f in fields]
    # Where each named field goes, and whether a str needs no preparing (a CharField's).
    slots = {f.name: (i, f, isinstance(f, CharField)) for i, f in enumerate(fields)}
    rows = []
    for person in people:
        row = list(template)
        for name, value in person.items():
            if name == "created_at" and value is None:
                continue  # the default: now
            i, field, text = slots[name]
            row[i] = (
                value if text and type(value) is str else field.get_db_prep_save(value, connection)
            )
        rows.append(row)
    returned = upsert_rows(Customer, [f.attname for f in fields], rows, returning=["id"])
    return [pk for (pk,) in returned]


def set_verified_phone(customer: Customer, phone: str) -> Customer:
    """Record a phone the customer proved they own; merges with any other owner of that number.

    Returns the surviving customer. Atomic. Raises ValidationError for an invalid number.
    """
    phone = normalize_phone(phone)
    with transaction.atomic():
        survivor = resolve_customer(
            channel=customer.first_channel, keys={CustomerKey.Kind.PHONE: phone}, customer=customer
        )
        Customer.objects.filter(pk=survivor.pk).update(phone=phone, phone_verified=True)
        survivor.refresh_from_db()
    return survivor


def duplicate_candidates(customer: Customer) -> QuerySet[Customer]:
    """Active customers that may be the same person on a weak key, for a person to review.

    Weak keys: the same email, the same name in the same city, the same (normalised) phone.
    """
    query = Q(pk__in=[])
    if customer.email:
        query |= Q(email=normalize_email(customer.email))
    if customer.name and customer.city:
        query |= Q(name=customer.name, city=customer.city)
    if customer.phone:
        query |= Q(phone=customer.phone)
    return Customer.objects.active().filter(query).exclude(pk=customer.pk).order_by("pk")


def duplicate_groups(limit: int = 100) -> list[dict[str, Any]]:
    """Groups of active customers sharing a weak key: [{"key", "value", "ids"}], biggest first."""
    groups: list[dict[str, Any]] = []
    active = Customer.objects.active()
    for key, fields, exclude in (
        ("phone", ["phone"], Q(phone="")),
        ("email", ["email"], Q(email="")),
        ("name_city", ["name", "city"], Q(name="") | Q(city="")),
    ):
        rows = (
            active.exclude(exclude)
            .values(*fields)
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .order_by("-n")[:limit]
        )
        for row in rows:
            members = active.filter(**{f: row[f] for f in fields}).order_by("pk")
            groups.append(
                {
                    "key": key,
                    "value": " / ".join(row[f] for f in fields),
                    "ids": list(members.values_list("pk", flat=True)),
                }
            )
    groups.sort(key=lambda g: -len(g["ids"]))
    return groups[:limit]
