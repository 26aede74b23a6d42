"""What the inbox modules share: the rating window, the survey text and the two errors."""

import logging
import re
from datetime import timedelta

from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

RATING_WINDOW = timedelta(hours=24)
RATING_REPLY = re.compile(r"^\s*([1-5])\s*$")
SURVEY_TEXT = "感谢您的咨询！请为本次服务打分：直接回复数字 1-5（5 = 非常满意，1 = 非常不满意）。"


# Called with [(conversation, first message text), ...] when messages or public posts open
# conversations: crm.inbox.routing registers its team, SLA and assignment step here, because
# routing assigns through .agents, which .receiving must not import back.
OPENED_HANDLERS: list = []


def conversations_opened(opened: list) -> None:
    if opened:
        for handler in OPENED_HANDLERS:
            handler(opened)


class SendError(Exception):
    """A platform refused or failed to deliver a message; `code` is the platform's error code."""

    def __init__(self, code: str | int, message: str, *, transient: bool = False):
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.transient = transient


class InboxError(ValidationError):
    """An inbox action that is not allowed (resolving a resolved conversation, say)."""
