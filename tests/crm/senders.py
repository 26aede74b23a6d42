"""A sender registered for a test channel: it records what it was asked to send, and refuses with
the error code a test sets, the way a platform would."""

from crm.inbox import SendError

SENT: list = []
FAIL_WITH: dict = {}


def record_sender(message):
    if FAIL_WITH:
        raise SendError(FAIL_WITH["code"], FAIL_WITH["message"])
    SENT.append((message.external_user, message.content, message.sender_kind))
    return f"out-{len(SENT)}"
