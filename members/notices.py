"""Member notices (order paid, refund, coupon issued or expiring, points changed) and who
delivers them.

members sits below the channel apps, so it names no channel: a channel app registers a notice
router in its AppConfig.ready (`register_notice_router`). `send_notice` asks each router in
turn; a router that takes the notice (WeChat with its 48-hour window closed sends a template
message, say) returns what it did, one that does not returns None. When none takes it, the
notice goes out as a customer-service message through crm.inbox.send_to_customer.
"""

import logging
from typing import Any

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

NOTICE_ROUTERS: list[str] = []

ORDER_PAID = "order_paid"
ORDER_REFUNDED = "order_refunded"
COUPON_ISSUED = "coupon_issued"
COUPON_EXPIRING = "coupon_expiring"
POINTS_CHANGED = "points_changed"


def register_notice_router(path: str) -> None:
    """Declare `router(customer, kind, text, fields, ref) -> result | None` (dotted path)."""
    if path not in NOTICE_ROUTERS:
        NOTICE_ROUTERS.append(path)


def send_notice(customer, kind: str, text: str, fields: dict[str, Any], ref: str):
    """Deliver one notice to a customer. `text` is the customer-service wording, `fields` the
    notice's values for templates (see channels_wechat.templates.NOTICE_FIELDS), `ref`
    names the notice once (e.g. "order:42") so it is never sent twice by template.
    Returns what the router or send_to_customer returned (None: unreachable)."""
    from crm.inbox import send_to_customer

    for path in NOTICE_ROUTERS:
        result = import_string(path)(customer, kind, text, fields, ref)
        if result is not None:
            return result
    return send_to_customer(customer, text)
