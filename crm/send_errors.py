"""What an agent reads when a platform refused a message: `Message.error_text`, the inbox pages
and the conversation APIs all use `send_error_text`. A module of its own, importing nothing from
crm, because the models need it and crm.inbox imports the models."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

# Platform refusals an agent must understand (errcodes of WeChat's customer-service API).
SEND_ERRORS = {
    "45015": _lazy(
        "WeChat refused: the customer has not written in the last 48 hours (or unfollowed), so "
        "no customer-service message can be sent until they write again."
    ),
    "45047": _lazy(
        "WeChat refused: five messages were already sent since the customer last wrote; wait "
        "for the customer to write again."
    ),
}


def send_error_text(code: str, message: str = "") -> str:
    """What the agent reads when a send failed."""
    known = SEND_ERRORS.get(str(code))
    if known:
        return f"{known} ({code})"
    return _("Not delivered: %(code)s %(message)s") % {"code": code, "message": message}
