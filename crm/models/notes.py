"""Private notes inside a conversation: colleagues talk to each other in the thread.

A note is its own model, not a Message: the senders (`crm.inbox.register_sender`) and every
delivery path only ever read `Message` rows, so a note cannot be sent by construction.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .inbox import Conversation

NOTE_MAX_LENGTH = 5000


class ConversationNote(models.Model):
    """A private note an agent wrote in a conversation; shown in the thread, never sent.

    `mentions` are the colleagues its `@username` named who could see the conversation; each
    got a notification. An `@` of anyone else stays plain text.
    """

    # The thread template tells notes from messages by this.
    is_private_note = True

    conversation = models.ForeignKey(
        Conversation,
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="notes",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField(_("text"), max_length=NOTE_MAX_LENGTH)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("mentions"), blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("conversation note")
        verbose_name_plural = _("conversation notes")
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return self.body[:40]
