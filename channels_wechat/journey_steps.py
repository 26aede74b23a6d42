"""The journey steps the WeChat app owns: a customer-service message while the 48-hour window
is open, and a template message (which reaches a follower whatever the window). Registered in
`ChannelsWechatConfig.ready`.

A template step's value names the template and where each variable's value comes from:
`<template ID> | thing1=customer_name | thing2=text:会员日福利 | time3=today`, the sources being
JOURNEY_FIELDS or a fixed `text:`.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.inbox import SendError, deliver, record_outbound
from crm.journeys import register_action
from crm.models import Customer, DeliveryStatus, SenderKind

from .models import MessageTemplate, WeChatUser
from .template_notices import follower_of
from .template_rules import check_value
from .templates import send_template_message

JOURNEY_FIELDS = ("customer_name", "member_number", "points_balance", "tier", "today")


def _parse_template_step(value: str) -> tuple[MessageTemplate, dict[str, str]]:
    """(template, {variable: source}); ValidationError naming what is wrong."""
    head, *pairs = [part.strip() for part in value.split("|")]
    template = MessageTemplate.objects.filter(
        template_id=head, kind=MessageTemplate.Kind.TEMPLATE, active=True
    ).first()
    if template is None:
        raise ValidationError(_("No active template has the ID %(id)s.") % {"id": head or "—"})
    mapping = {}
    for pair in pairs:
        name, _sep, source = pair.partition("=")
        mapping[name.strip()] = source.strip()
    problems = []
    for name in template.variables:
        source = mapping.get(name, "")
        if source.startswith("text:"):
            reason = check_value(name, source[len("text:") :])
            if reason:
                problems.append(f"{name}: {_(reason)}")
        elif source not in JOURNEY_FIELDS:
            problems.append(
                f"{name}: "
                + _("map it to one of %(fields)s or text:...")
                % {"fields": ", ".join(JOURNEY_FIELDS)}
            )
    if problems:
        raise ValidationError(problems)
    return template, mapping


def _journey_fields(customer: Customer, at: datetime) -> dict[str, str]:
    membership = getattr(customer, "membership", None)
    return {
        "customer_name": customer.name,
        "member_number": membership.member_number if membership else "",
        "points_balance": str(membership.points_balance) if membership else "",
        "tier": membership.tier.name if membership and membership.tier_id else "",
        "today": f"{at:%Y-%m-%d}",
    }


def _template_message(customer: Customer, value: str, *, key: str, at: datetime) -> str:
    """Queue the template message to the customer's follower of the template's account, once
    per step (the step's key is the send's key)."""
    template, mapping = _parse_template_step(value)
    user = follower_of(customer)
    if user is None or user.account_id != template.account_id:
        raise ValidationError(_("The customer does not follow this template's account."))
    fields = _journey_fields(customer, at)
    data = {
        name: source[len("text:") :] if source.startswith("text:") else fields[source]
        for name, source in mapping.items()
        if name in template.variables
    }
    send_template_message(template, [user], data, batch=f"journey:{key.rsplit(':', 1)[1]}", key=key)
    return _("Template message queued")


def _check_text(value: str) -> None:
    if not value.strip():
        raise ValidationError(_("The message needs a text."))


def _service_message(customer: Customer, value: str, *, key: str, at: datetime) -> str:
    """Send `value` to the follower whose window is open now; fails (not queued) otherwise."""
    user = (
        WeChatUser.objects.filter(customer=customer, subscribed=True, window_expires_at__gt=at)
        .select_related("account")
        .order_by("-window_expires_at")
        .first()
    )
    if user is None:
        raise ValidationError(_("The 48-hour service window is closed."), code="window_closed")
    message = record_outbound(
        None,
        content=value,
        sender_kind=SenderKind.SYSTEM,
        delivery_status=DeliveryStatus.QUEUED,
        customer=customer,
        channel="wechat",
        account=user.account.appid,
        external_user=user.openid,
        data={"journey": key},
    )
    try:
        deliver(message)
    except SendError as exc:
        raise ValidationError(exc.message, code=exc.code) from exc
    return _("Customer-service message sent")


def _check_template_step(value: str) -> None:
    _parse_template_step(value)


def register() -> None:
    register_action(
        "template_message",
        gettext_lazy("template message"),
        _template_message,
        idempotent=True,
        validate=_check_template_step,
    )
    register_action(
        "service_message",
        gettext_lazy("customer-service message (window open)"),
        _service_message,
        idempotent=False,
        validate=_check_text,
    )
