"""Merging one customer into another: everything that points at the source moves to the target,
nothing is lost, and the merge is recorded (MergeRecord, timeline, audit log)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from ..attribution import customers_changed
from ..audit import record_audit
from ..models import AuditAction, Channel, Customer, InteractionKind, MergeRecord
from .timeline import record_interaction


class MergeError(ValidationError):
    """A merge that is not allowed (self, already merged, conflicting one-to-one rows)."""


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
        # The target's touches and events are now both customers'.
        customers_changed([source.pk, target.pk])
    return record
