"""The journey conditions and actions crm owns: tag, stage, segment; add tag, create lead,
assign to an agent. Registered in `CrmConfig.ready`."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.actions.customers import tag_customer_by_name, update_customer
from crm.actions.leads import create_lead
from crm.filtersets import segment_customers
from crm.models import Channel, Customer, JourneyStep, Segment, Stage

from .journeys import register_action, register_condition


def _has_tag(value: str):
    return Customer.objects.filter(tags__name=value)


def _at_stage(value: str):
    return Customer.objects.filter(stage=value)


def _check_stage(value: str) -> None:
    if value not in Stage.values:
        raise ValidationError(
            _("Unknown stage %(value)s; one of: %(stages)s.")
            % {"value": value, "stages": ", ".join(Stage.values)}
        )


def _in_segment(value: str):
    segment = Segment.objects.filter(name=value).first()
    if segment is None:
        return Customer.objects.none()
    return segment_customers(segment)


def _check_segment(value: str) -> None:
    if not Segment.objects.filter(name=value).exists():
        raise ValidationError(_("No segment is called %(value)s.") % {"value": value})


def _check_not_empty(value: str) -> None:
    if not value.strip():
        raise ValidationError(_("This step needs a value."))


def _add_tag(customer: Customer, value: str, *, key: str, at) -> str:
    tag = tag_customer_by_name(customer, value)
    return _("Tag %(name)s added") % {"name": tag.name}


def _create_lead(customer: Customer, value: str, *, key: str, at) -> str:
    # The step is the lead's source, so the lead is created once per customer and step.
    step = JourneyStep.objects.get(pk=int(key.rsplit(":", 1)[1]))
    lead, created = create_lead(
        customer, value or _("Journey lead"), source_channel=Channel.SYSTEM, source=step, at=at
    )
    return (_("Lead %(id)s created") if created else _("Lead %(id)s already open")) % {
        "id": lead.pk
    }


def _agent(value: str):
    return get_user_model().objects.filter(username=value, is_active=True, is_staff=True).first()


def _check_agent(value: str) -> None:
    if _agent(value) is None:
        raise ValidationError(
            _("No active staff member has the username %(value)s.") % {"value": value}
        )


def _assign(customer: Customer, value: str, *, key: str, at) -> str:
    agent = _agent(value)
    if agent is None:
        raise ValidationError(
            _("No active staff member has the username %(value)s.") % {"value": value}
        )
    update_customer(customer, {"owner": agent})
    return _("Assigned to %(name)s") % {"name": agent.get_username()}


def register() -> None:
    # As querysets: the tick decides 100,000 customers in the SQL that moves them.
    register_condition(
        "tag", gettext_lazy("has tag"), validate=_check_not_empty, customers=_has_tag
    )
    register_condition(
        "stage", gettext_lazy("is at lifecycle stage"), validate=_check_stage, customers=_at_stage
    )
    register_condition(
        "segment", gettext_lazy("is in segment"), validate=_check_segment, customers=_in_segment
    )
    register_action(
        "add_tag", gettext_lazy("add tag"), _add_tag, idempotent=True, validate=_check_not_empty
    )
    register_action("create_lead", gettext_lazy("create a lead"), _create_lead, idempotent=True)
    register_action(
        "assign_agent",
        gettext_lazy("assign to an agent"),
        _assign,
        idempotent=True,
        validate=_check_agent,
    )
