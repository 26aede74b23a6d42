"""Canned responses for the inbox's reply box, from whichever channel apps keep them.

An app registers `func(account: str) -> [{"title": ..., "text": ...}]` by dotted path in its
AppConfig.ready (as senders and customer panels are registered); crm imports no channel app.
`account` is the conversation's platform account (a WeChat appid, say).
"""

from django.utils.module_loading import import_string

CANNED_RESPONSE_SOURCES: list[str] = []


def register_canned_responses(path: str) -> None:
    if path not in CANNED_RESPONSE_SOURCES:
        CANNED_RESPONSE_SOURCES.append(path)


def canned_responses(account: str) -> list[dict[str, str]]:
    """The canned responses of every registered app for this account, in registration order."""
    found: list[dict[str, str]] = []
    for path in CANNED_RESPONSE_SOURCES:
        found += import_string(path)(account)
    return found
