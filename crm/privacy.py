"""A customer's personal data: export it (JSON) and erase it on request (PIPL articles 45, 47).

crm imports no channel app: the rows to export or erase are found by walking the reverse
relations of `Customer` (every model of every app with a ForeignKey or OneToOne to it, hidden
ones included), then one level further (rows that point at those rows: a Weibo user's posts, an
order's refunds, a membership's points). What is personal in each model is listed in
`PERSONAL_FIELDS` (crm's own models here; every other app registers its models with
`register_personal_fields` in its AppConfig.ready); a model that is not listed falls back to its text fields named like personal
data (`_GENERIC_PERSONAL`). Erasure keeps every row, count, amount, status, id and timestamp, so
aggregates and KPIs do not change; it blanks the personal values and deletes the strong identity
keys (unionid, verified phone) so the person can no longer be recognised through them.
"""

import json
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import record_audit
from .fields import EncryptedTextField
from .models import AuditAction, Customer, CustomerKey, Gender

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


def _blank_value(field: models.Field, value: Any) -> Any:
    if isinstance(field, models.JSONField):
        return scrub_json(value)
    if isinstance(field, (models.CharField, models.TextField)):
        return None if field.null and value is None else ""
    return None


def _erase_rows(model, pks: list) -> int:
    fields = personal_fields(model)
    if not fields:
        return 0
    changed = 0
    for obj in model._base_manager.filter(pk__in=pks).only("pk", *[f.name for f in fields]):
        values = {f.attname: _blank_value(f, getattr(obj, f.attname)) for f in fields}
        changed += model._base_manager.filter(pk=obj.pk).update(**values)
    return changed


def _erase_one(customer: Customer, counts: dict[str, int]) -> None:
    for merged in Customer.objects.filter(merged_into=customer):
        _erase_one(merged, counts)
    deleted, _per_model = CustomerKey.objects.filter(customer=customer).delete()
    if deleted:
        counts["crm.CustomerKey (deleted)"] = counts.get("crm.CustomerKey (deleted)", 0) + deleted
    for model, pks in _related_rows(customer):
        if model is CustomerKey:
            continue
        n = _erase_rows(model, pks)
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
    strong identity keys. Customers merged into it are the same person and are erased too.
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
