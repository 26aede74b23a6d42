"""What an agent reads when a platform refused a message: `Message.error_text`, the inbox pages
and the conversation APIs all use `send_error_text`. A module of its own, importing nothing from
crm, because the models need it and crm.inbox imports the models."""

from typing import Any

from django.utils.translation import gettext as _

# Platform refusals an agent must understand, by error code: each channel app registers its own
# (`register_send_errors` in its AppConfig.ready).
SEND_ERRORS: dict[str, Any] = {}


def register_send_errors(texts: dict[str, Any]) -> None:
    """Declare what the agent reads for these platform error codes (lazy translated strings)."""
    SEND_ERRORS.update(texts)


def send_error_text(code: str, message: str = "") -> str:
    """What the agent reads when a send failed."""
    known = SEND_ERRORS.get(str(code))
    if known:
        return f"{known} ({code})"
    return _("Not delivered: %(code)s %(message)s") % {"code": code, "message": message}
