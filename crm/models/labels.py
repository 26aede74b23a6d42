"""Conversation labels (售后, 物流, 投诉升级...): what a conversation is about, for filtering and
the dashboards. Separate from customer tags: a tag says who the customer is, a label says what
one conversation was about.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference
from .customers import TAG_COLOR_RE, TAG_DEFAULT_COLOR, tag_color_validator
from .inbox import Conversation


class ConversationLabel(models.Model):
    """A label agents put on conversations. Defined by marketing (admin, API); agents pick from
    the defined ones (an unknown name is refused, never created on the fly)."""

    name = models.CharField(_("name"), max_length=32, unique=True)
    color = models.CharField(
        _("color"), max_length=16, default=TAG_DEFAULT_COLOR, validators=[tag_color_validator]
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    conversations = models.ManyToManyField(
        Conversation,
        through="ConversationLabelling",
        related_name="labels",
        blank=True,
        verbose_name=_("conversations"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("conversation label")
        verbose_name_plural = _("conversation labels")

    def __str__(self) -> str:
        return self.name

    @property
    def css_color(self) -> str:
        return self.color if TAG_COLOR_RE.match(self.color or "") else TAG_DEFAULT_COLOR


class ConversationLabelling(models.Model):
    """One label on one conversation: who put it there and when."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="labellings"
    )
    label = models.ForeignKey(ConversationLabel, on_delete=models.CASCADE, related_name="+")
    added_by = staff_reference(_("added by"))
    added_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        verbose_name = _("conversation labelling")
        verbose_name_plural = _("conversation labellings")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "label"], name="one_label_per_conversation"
            )
        ]
        # Filtering by label goes from the label to its conversations.
        indexes = [models.Index(fields=["label", "conversation"])]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.label_id}"
