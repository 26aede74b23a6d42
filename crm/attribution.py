"""Customers whose attribution inputs changed: their Weibo leads, applied channel-code scans,
paid orders or membership (or, in a merge, all of them at once).

Attribution (first and last touch of each paid order and membership) is worked out by the
dashboards app, which stores each event's touches so the campaign pages only read them. crm
imports no other app, so the dashboards register here in AppConfig.ready and every action that
changes such an input calls `customers_changed` in its own transaction: crm's lead and merge
actions, the members order and membership actions, the WeChat channel-code scan.
"""

from collections.abc import Iterable

from django.utils.module_loading import import_string

_LISTENERS: list[str] = []


def register_customers_changed(path: str) -> None:
    """Let `customers_changed` call `path(customer_ids)` (a sorted list of ids)."""
    if path not in _LISTENERS:
        _LISTENERS.append(path)


def customers_changed(customer_ids: Iterable[int | None]) -> None:
    """Tell the listeners these customers' touches or events changed. Caller's transaction."""
    ids = sorted({pk for pk in customer_ids if pk is not None})
    if ids:
        for path in _LISTENERS:
            import_string(path)(ids)
