"""Customer panels: what other apps show beside a customer (inbox, customer pages).

An app registers `func(customer) -> (title, html) | None` by dotted path in its AppConfig.ready;
crm renders whatever is registered without importing the app. The html must be escaped by the
app (build it with format_html or render_to_string).
"""

import logging

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

PANELS: list[str] = []


def register_customer_panel(path: str) -> None:
    if path not in PANELS:
        PANELS.append(path)


def customer_panels(customer) -> list[tuple[str, str]]:
    """The registered panels for this customer, in registration order; a failing one is skipped."""
    panels = []
    for path in PANELS:
        try:
            panel = import_string(path)(customer)
        except Exception:  # noqa: BLE001  one broken panel must not break the page
            logger.exception("customer panel %s failed", path)
            continue
        if panel:
            panels.append(panel)
    return panels
