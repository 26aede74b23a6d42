"""The WeChat notice router (members.notices): a member notice goes out as a customer-service
message while the follower's 48-hour window is open, and as the account's template message for
that notice (TemplateBinding) once it is closed.

Registered in apps.py with members.notices.register_notice_router.
"""

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import TemplateBinding, WeChatUser
from .templates import NOTICE_FIELDS, link_for, render_binding, send_template_message  # noqa: F401

logger = logging.getLogger(__name__)


def follower_of(customer) -> WeChatUser | None:
    """The customer's followed WeChat identity that wrote last (or followed last)."""
    return (
        WeChatUser.objects.filter(customer=customer, subscribed=True)
        .select_related("account")
        .order_by("-last_message_at", "-subscribe_time", "-id")
        .first()
    )


def route_notice(customer, kind: str, text: str, fields: dict[str, Any], ref: str):
    """members.notices router. Window open, no WeChat follower, or no active binding: None
    (the notice goes out as a customer-service message). Window closed with a binding: a
    template send keyed `notice:<ref>` (so it happens once) and its batch id is returned; a
    notice whose fields do not fill the template is logged and returns "refused"."""
    user = follower_of(customer)
    if user is None:
        return None
    is_open, left = user.window_state(timezone.now())
    if is_open and left > 0:
        return None
    binding = (
        TemplateBinding.objects.filter(account=user.account, notice=kind, active=True)
        .select_related("template")
        .first()
    )
    if binding is None or not binding.template.active:
        return None
    try:
        data = render_binding(binding, fields)
        miniprogram = (
            {"appid": binding.miniprogram_appid, "pagepath": binding.miniprogram_path}
            if binding.miniprogram_appid
            else None
        )
        return send_template_message(
            binding.template,
            [user],
            data,
            url=link_for(binding, fields),
            miniprogram=miniprogram,
            batch=f"notice:{kind}",
            key=f"notice:{ref}",
            notice=kind,
        )
    except ValidationError as exc:
        logger.warning("%s notice %s not sent by template: %s", kind, ref, exc.messages)
        return "refused"
