"""A customer's personal data: export it (CSV lists, JSON per person), delete it, and erase it
on request (PIPL articles 45, 47).

Every export of personal rows, whoever asks (the API, the admin, the members app), goes through
`export_rows`: it checks the one export permission, writes the audit entry and returns CSV lines
from the one guarded writer (crm.csvexport). Deleting customers goes through `delete_customers`
for the same reason: one rule, one audit entry, whichever screen asked.

crm imports no channel app: the rows to export or erase are found by walking the reverse
relations of `Customer` (every model of every app with a ForeignKey or OneToOne to it, hidden
ones included), then one level further (rows that point at those rows: a Weibo user's posts, an
order's refunds, a membership's points). What is personal in each model is listed in
`PERSONAL_FIELDS` (crm's own models here; every other app registers its models with
`register_personal_fields` in its AppConfig.ready); a model that is not listed falls back to its text fields named like personal
data (`_GENERIC_PERSONAL`). Erasure keeps every row, count, amount, status, id and timestamp, so
aggregates and KPIs do not change; it blanks the personal values and deletes the strong identity
keys (unionid, verified phone) so the person can no longer be recognised through them. The
channel identifiers crm does not know (openid, Weibo uid, payer openid) are retired by the steps
each app registers (`register_erasure_step`), so a person who comes back is a new customer.
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import record_audit
from .csvexport import csv_lines
from .fields import EncryptedTextField
from .models import AuditAction, Conversation, Customer, CustomerKey, Gender, Message

# Per model (app_label.ModelName): the fields erasure blanks. Text becomes "", JSON keeps only
# ids, codes, statuses and numbers (`scrub_json`), dates become NULL. Authoritative for the
# models it names; others use the generic fallback.
PERSONAL_FIELDS: dict[str, list[str]] = {
    "crm.Customer": ["name", "phone", "email", "city", "birthday"],
    "crm.Note": ["body"],
    "crm.Interaction": ["summary", "data"],
    "crm.Lead": ["title", "next_step", "lost_note"],
    "crm.Conversation": [],
    "crm.Message": ["content", "media_id", "data"],
    "crm.CustomerKey": [],  # deleted
    "crm.MergeRecord": ["snapshot"],
}


def register_personal_fields(fields: dict[str, list[str]]) -> None:
    """Declare, per model label ("members.Order"), the fields erasure blanks (see PERSONAL_FIELDS);
    called by each app's AppConfig.ready for its own models."""
    PERSONAL_FIELDS.update(fields)


_GENERIC_PERSONAL = re.compile(
    r"(^|_)(name|nickname|screen_name|content|text|summary|body|address|phone|mobile|email|"
    r"avatar_url|avatar|raw|data|remark|location|birthday)$"
)
# JSON keys whose string values are kept: identifiers, codes, statuses, kinds, amounts.
_SAFE_JSON_KEY = re.compile(
    r"(^|_)(id|ids|idstr|uid|mid|pk|appid|mchid|openid|unionid|account|code|status|state|kind|"
    r"type|event|channel|reason|from|to|scene|fen|amount|total|count|currency|at|time|date)$"
)


def _snake(key: str) -> str:
    """`MsgId` -> `msg_id`, `FromUserName` -> `from_user_name`: platform keys are camel case."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def scrub_json(value: Any, key: str = "") -> Any:
    """`value` without personal text: numbers, booleans and ids/codes/statuses stay."""
    if isinstance(value, dict):
        return {k: scrub_json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v, key) for v in value]
    if isinstance(value, str):
        return value if key and _SAFE_JSON_KEY.search(_snake(key)) else ""
    return value


def personal_fields(model) -> list[models.Field]:
    """The fields of `model` that erasure blanks."""
    label = model._meta.label
    if label in PERSONAL_FIELDS:
        return [model._meta.get_field(name) for name in PERSONAL_FIELDS[label] if _has(model, name)]
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        and not isinstance(f, EncryptedTextField)
        and not f.primary_key
        and not f.unique
        and not f.choices
        and _GENERIC_PERSONAL.search(f.name)
    ]


def _has(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:  # noqa: BLE001  FieldDoesNotExist: the list names a field a model lacks
        return False
    return True


def _reverse_relations(model) -> list:
    """Every ForeignKey/OneToOne that points at `model`, hidden ones (related_name="+") too."""
    return [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def _related_rows(customer: Customer) -> list[tuple[type[models.Model], list[int]]]:
    """(model, pks) for every row pointing at the customer, then every row pointing at those."""
    found: dict[type[models.Model], set] = {}
    first_level: list[tuple[type[models.Model], list]] = []
    for relation in _reverse_relations(Customer):
        model = relation.related_model
        if model is Customer:
            continue  # customers merged into this one are handled as customers
        pks = list(
            model._base_manager.filter(**{relation.field.name: customer}).values_list(
                "pk", flat=True
            )
        )
        if pks:
            found.setdefault(model, set()).update(pks)
            first_level.append((model, pks))
    for model, pks in first_level:
        for relation in _reverse_relations(model):
            child = relation.related_model
            if child is Customer or child is model:
                continue
            child_pks = child._base_manager.filter(
                **{f"{relation.field.name}__in": pks}
            ).values_list("pk", flat=True)
            found.setdefault(child, set()).update(child_pks)
    return [(model, sorted(pks)) for model, pks in found.items() if pks]


def _row(obj: models.Model) -> dict[str, Any]:
    """The row's own fields as JSON values; secrets (EncryptedTextField) are never exported."""
    data = {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if not isinstance(f, EncryptedTextField)
    }
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


_NAMED = {
    "crm.CustomerKey": "keys",
    "crm.Note": "notes",
    "crm.Interaction": "interactions",
    "crm.Lead": "leads",
    "crm.Conversation": "conversations",
    "crm.Message": "messages",
}


def export_customer_data(customer: Customer) -> dict[str, Any]:
    """Everything stored about the customer, as JSON-serializable data.

    `customer`, `tags`, and the crm rows under their own keys (`keys`, `notes`, `interactions`,
    `leads`, `conversations`, `messages`); every other app's rows under `related`, by model
    label (`{"members.Order": [...]}`); customers merged into this one under `merged_customers`
    (each exported the same way). Secrets are never included.
    """
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "customer": _row(customer),
        "tags": list(customer.tags.order_by("name").values_list("name", flat=True)),
        **{key: [] for key in _NAMED.values()},
        "related": {},
    }
    for model, pks in _related_rows(customer):
        rows = [_row(obj) for obj in model._base_manager.filter(pk__in=pks).order_by("pk")]
        label = model._meta.label
        if label in _NAMED:
            data[_NAMED[label]] = rows
        else:
            data["related"][label] = rows
    data["merged_customers"] = [
        export_customer_data(c)
        for c in Customer.objects.filter(merged_into=customer).order_by("pk")
    ]
    return data


class ErasureError(ValidationError):
    pass


# Channel identifiers ------------------------------------------------------------------------
# Blanking names is not enough: an openid, a Weibo uid or a payer openid still in a row would
# attach the person's next message, mention or payment to the erased record. crm cannot know
# those identifiers (it imports no channel app), so each app registers, in AppConfig.ready, a
# step `func(customer) -> {label: rows changed}` that retires its identifiers (a tombstone in
# place of a unique id, so rows and counts stay) and redacts the raw bodies that named them.
# Steps run inside the erasure's transaction, before crm blanks its own rows; a step that fails
# fails the erasure, since a half-erased person is still recognisable.
ERASURE_STEPS: list[str] = []


def register_erasure_step(path: str) -> None:
    """Register `func(customer) -> dict[str, int]` (dotted path) to run on every erasure."""
    if path not in ERASURE_STEPS:
        ERASURE_STEPS.append(path)


TOMBSTONE_PREFIX = "erased-"


def tombstone(pk: Any) -> str:
    """What an erased unique identifier becomes: unique per row, never a platform id."""
    return f"{TOMBSTONE_PREFIX}{pk}"


def redact_values(value: Any, needles: Iterable[str]) -> Any:
    """`value` (JSON) with every string (or integer) equal to one of `needles` replaced by ""."""
    needles = {n for n in needles if n}
    if isinstance(value, dict):
        return {k: redact_values(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_values(v, needles) for v in value]
    if isinstance(value, str) and value in needles:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and str(value) in needles:
        return ""  # platforms send numeric ids twice: `id` as a number, `idstr` as text
    return value


def redact_deliveries(rows: QuerySet) -> int:
    """Redact raw webhook deliveries (crm.RawDelivery) that name an erased person.

    Body, query, headers, remote address and dedupe key are emptied; source, account, times and
    status stay (they count nothing personal). A delivery not yet processed is marked rejected,
    so the sweep does not hand an empty body to a processor. Returns the rows redacted.
    """
    from .models import RawDelivery

    pks = list(rows.values_list("pk", flat=True))
    fields = {
        "body": b"",
        "query": {},
        "headers": {},
        "remote_addr": "",
        "dedupe_key": "",
        "error": "redacted: the person's data was erased",
    }
    changed = RawDelivery.objects.filter(pk__in=pks, status=RawDelivery.Status.PROCESSED).update(
        **fields
    )
    changed += (
        RawDelivery.objects.filter(pk__in=pks)
        .exclude(status=RawDelivery.Status.PROCESSED)
        .update(status=RawDelivery.Status.REJECTED, **fields)
    )
    return changed


def _run_erasure_steps(customer: Customer, counts: dict[str, int]) -> None:
    from django.utils.module_loading import import_string

    for path in ERASURE_STEPS:
        for label, n in (import_string(path)(customer) or {}).items():
            if n:
                counts[label] = counts.get(label, 0) + n


def _blank_value(field: models.Field, value: Any, forget: set[str]) -> Any:
    if isinstance(field, models.JSONField):
        # Ids stay in JSON (they count nothing personal), except the person's own identifiers.
        return redact_values(scrub_json(value), forget)
    if isinstance(field, (models.CharField, models.TextField)):
        return None if field.null and value is None else ""
    return None


def _erase_rows(model, pks: list, forget: set[str]) -> int:
    fields = personal_fields(model)
    if not fields:
        return 0
    changed = 0
    for obj in model._base_manager.filter(pk__in=pks).only("pk", *[f.name for f in fields]):
        values = {f.attname: _blank_value(f, getattr(obj, f.attname), forget) for f in fields}
        changed += model._base_manager.filter(pk=obj.pk).update(**values)
    return changed


def _erase_one(customer: Customer, counts: dict[str, int]) -> None:
    for merged in Customer.objects.filter(merged_into=customer):
        _erase_one(merged, counts)
    # The person's channel addresses and strong keys, wherever crm's JSON copied them (a
    # subscribe entry on the timeline names the openid), read before they are retired below.
    forget = {
        *Conversation.objects.filter(customer=customer).values_list("external_user", flat=True),
        *Message.objects.filter(customer=customer).values_list("external_user", flat=True),
        *CustomerKey.objects.filter(customer=customer).values_list("value", flat=True),
    }
    _run_erasure_steps(customer, counts)
    # The inbox finds a conversation by (channel, account, external user): the erased person's
    # openid or uid there would put their next message into the erased conversation.
    for label, inbox_rows in (
        ("crm.Conversation (external user)", Conversation.objects.filter(customer=customer)),
        ("crm.Message (external user)", Message.objects.filter(customer=customer)),
    ):
        n = inbox_rows.update(external_user=tombstone(customer.pk))
        if n:
            counts[label] = counts.get(label, 0) + n
    deleted, _per_model = CustomerKey.objects.filter(customer=customer).delete()
    if deleted:
        counts["crm.CustomerKey (deleted)"] = counts.get("crm.CustomerKey (deleted)", 0) + deleted
    for model, pks in _related_rows(customer):
        if model is CustomerKey:
            continue
        n = _erase_rows(model, pks, forget)
        if n:
            counts[model._meta.label] = counts.get(model._meta.label, 0) + n
    # Tags stay: they are categories that count in segments, not data about the person alone.
    Customer.objects.filter(pk=customer.pk).update(
        name="",
        phone="",
        phone_verified=False,
        email="",
        city="",
        birthday=None,
        gender=Gender.UNKNOWN,
        consent_marketing=False,
        erased_at=timezone.now(),
    )
    counts["crm.Customer"] = counts.get("crm.Customer", 0) + 1


def erase_customer(customer: Customer, *, by=None) -> dict[str, int]:
    """Remove the customer's personal data from every table; return rows changed per model.

    Blanks the customer's name, phone, email, city and birthday, and the personal fields of every
    row that points at it (PERSONAL_FIELDS or the generic fallback): message contents, note
    bodies, interaction summaries, channel nicknames and screen names, raw payloads. Deletes its
    strong identity keys, and the registered steps (ERASURE_STEPS) retire the channel
    identifiers (openid, unionid, Weibo uid, payer openids) and redact the raw webhook bodies
    that named them, so a person who comes back is a new customer. Customers merged into it are
    the same person and are erased too.
    Keeps rows, counts, amounts, statuses, ids and timestamps, and sets `erased_at`.

    One transaction, the customer locked; writes an `erase` audit entry. Raises ErasureError for
    a customer that was merged into another (erase the surviving customer instead).
    """
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.merged_into_id:
            raise ErasureError(
                _("Customer #%(id)s was merged into #%(into)s: erase #%(into)s instead.")
                % {"id": customer.pk, "into": customer.merged_into_id},
                code="merged",
            )
        counts: dict[str, int] = {}
        _erase_one(customer, counts)
        record_audit(
            AuditAction.ERASE,
            "crm.Customer",
            customer.pk,
            "personal data erased: "
            + ", ".join(f"{label} {n}" for label, n in sorted(counts.items())),
            by=by,
        )
    return counts


def audited_export(customer: Customer, *, by=None) -> dict[str, Any]:
    """`export_customer_data` with its `data_export` audit entry (the API and admin call this)."""
    data = export_customer_data(customer)
    record_audit(
        AuditAction.DATA_EXPORT,
        "crm.Customer",
        customer.pk,
        f"personal data export of customer #{customer.pk}",
        by=by,
    )
    return data


# Lists of customers (CSV) and deletion ------------------------------------------------------

EXPORT_PERMISSION = "crm.export_customer"


def export_rows(
    object_type: str,
    rows: QuerySet,
    header: list[str],
    row: Callable[[Any], Iterable[Any]],
    *,
    by,
    via: str,
    noun: str,
    query: str | None = None,
) -> Iterator[str]:
    """The one export of personal rows as CSV, for crm and for the apps that list customers.

    Refuses (PermissionDenied, nothing written) a user without `crm.export_customer`: a list of
    people with their phones is a customer export whichever model it starts from. Otherwise
    writes one `export` audit entry ("CSV export {via} of {n} {noun}", with the request's `query`
    when given) and returns the CSV lines (crm.csvexport: BOM, header, guarded cells) of `row(obj)`
    for each row, read lazily in chunks. The entry is written before the first line is sent.
    """
    if by is None or not by.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied(_("Exporting customers needs the export permission."))
    summary = f"CSV export {via} of {rows.count()} {noun}"
    if query is not None:
        summary += f", query: {query[:300] or '(all)'}"
    record_audit(AuditAction.EXPORT, object_type, "", summary, by=by)
    return csv_lines(header, (row(obj) for obj in rows.iterator(chunk_size=2000)))


CUSTOMER_CSV_HEADER = [
    "编号",
    "姓名",
    "手机",
    "邮箱",
    "性别",
    "城市",
    "生命周期阶段",
    "首次接触渠道",
    "标签",
    "创建时间",
]


def customer_csv_row(c: Customer) -> list[Any]:
    """One customer as a CSV row (CUSTOMER_CSV_HEADER); tags should be prefetched."""
    return [
        c.pk,
        c.name,
        c.phone,
        c.email,
        c.get_gender_display(),
        c.city,
        c.get_stage_display(),
        c.get_first_channel_display(),
        " ".join(t.name for t in c.tags.all()),
        timezone.localtime(c.created_at).strftime("%Y-%m-%d %H:%M"),
    ]


def customer_csv_lines(rows: QuerySet) -> Iterator[str]:
    """The CSV lines of `rows`, unaudited: only for callers that audit (`export_customers`)."""
    return csv_lines(CUSTOMER_CSV_HEADER, (customer_csv_row(c) for c in rows.iterator(2000)))


def export_customers(rows: QuerySet, *, by, via: str, query: str | None = None) -> Iterator[str]:
    """`export_rows` for customers: the API's export and the admin's export action call this."""
    return export_rows(
        "crm.Customer",
        rows.prefetch_related("tags"),
        CUSTOMER_CSV_HEADER,
        customer_csv_row,
        by=by,
        via=via,
        noun="customers",
        query=query,
    )


class DeletionError(ValidationError):
    """A customer that cannot be deleted: rows that must be kept (orders...) point at it."""


def delete_customers(rows: QuerySet, *, by, via: str) -> int:
    """Delete customers, one `delete` audit entry each ("customer #{id} deleted {via}").

    One transaction: if any of them has rows that must be kept (a ProtectedError: orders,
    memberships), nothing is deleted or audited and DeletionError says which rows and what to
    do instead (merge or erase). Returns the number of customers deleted.
    """
    with transaction.atomic():
        pks = list(rows.order_by("pk").values_list("pk", flat=True))
        for pk in pks:
            record_audit(
                AuditAction.DELETE, "crm.Customer", pk, f"customer #{pk} deleted {via}", by=by
            )
        try:
            with transaction.atomic():
                Customer.objects.filter(pk__in=pks).delete()
        except ProtectedError as exc:
            blocking = sorted({str(obj._meta.verbose_name) for obj in exc.protected_objects})
            # The audit entries above are undone with the transaction this raise leaves.
            raise DeletionError(
                _(
                    "This customer has %(rows)s, which must be kept: merge it into "
                    "another customer or erase its personal data instead."
                )
                % {"rows": ", ".join(blocking)},
                code="protected",
            ) from exc
    return len(pks)
