"""The journey steps the WeChat app owns: a customer-service message while the 48-hour window
is open. Registered in `ChannelsWechatConfig.ready`."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.inbox import SendError, deliver, record_outbound
from crm.journeys import register_action
from crm.models import Customer, DeliveryStatus, SenderKind

from .models import WeChatUser


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


def register() -> None:
    register_action(
        "service_message",
        gettext_lazy("customer-service message (window open)"),
        _service_message,
        idempotent=False,
        validate=_check_text,
    )
