"""The live inbox's durable record: every inbox change as an ordered event, and what each agent
has read.

`InboxEvent` rows are written in the same transaction as the change they describe
(`crm.live.emit`) and published to open inbox pages after commit. Their id is the order a page
resumes from: a page that lost its socket (a Redis restart, a network drop) asks for the events
after the last id it saw, so a lost publish loses nothing.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .inbox import Conversation


class InboxEvent(models.Model):
    """One change an inbox page shows live: a message in or out, an assignment, a status change.

    `id` orders the events (pages resume after the last id they saw). `message_id` and
    `assignee_id` are plain ids, not keys: an event is a notice, not a copy of the row, and erasing
    a message must not be blocked by the notice that it arrived.
    """

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        ASSIGNED = "assigned", _("Assigned")
        STATUS = "status", _("Status changed")

    at = models.DateTimeField(_("at"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="live_events", db_index=False
    )
    message_id = models.BigIntegerField(_("message"), null=True, blank=True)
    direction = models.CharField(_("direction"), max_length=3, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    assignee_id = models.BigIntegerField(_("assignee"), null=True, blank=True)
    by_id = models.BigIntegerField(_("by"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbox event")
        verbose_name_plural = _("inbox events")
        indexes = [models.Index(fields=["conversation", "id"], name="crm_inboxevent_conv_id")]

    def __str__(self) -> str:
        return f"{self.pk} {self.kind} #{self.conversation_id}"


class ConversationRead(models.Model):
    """When an agent last had a conversation open: its inbound messages after `read_at` are unread
    for that agent (the inbox tabs' unread counts)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField(_("read at"))

    class Meta:
        verbose_name = _("conversation read")
        verbose_name_plural = _("conversation reads")
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="crm_read_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read #{self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"
