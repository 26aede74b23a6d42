"""In-app notifications for staff: a colleague @-mentioned you in a conversation note."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference
from .inbox import Conversation
from .notes import ConversationNote


class Notification(models.Model):
    """Something a staff member should look at; unread while `read_at` is empty."""

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mentioned in a note")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="crm_notifications",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    actor = staff_reference(_("from"))
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    note = models.ForeignKey(
        ConversationNote, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    text = models.CharField(_("text"), max_length=200)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.text
