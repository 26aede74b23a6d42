"""The shared inbox: conversations and messages of every private channel (WeChat, Weibo).

They live in crm because one inbox serves both channel apps, which never import each other.
Conversation rules (when one opens, ends, gets rated) are in `crm.inbox`; the WeChat KPIs of
DESIGN.md section 5 are computed from these two tables.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference
from ..send_errors import send_error_text
from .customers import Channel, Customer


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")  # the customer is waiting for the brand
    PENDING = "pending", _("Pending")  # the brand answered; waiting for the customer
    RESOLVED = "resolved", _("Resolved")


ACTIVE_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)
# The conversations an inbox lists by default: active, of the private channels, of either kind
# (what crm.filtersets.visible_conversations and the status tabs ask, in the same terms, so
# PostgreSQL can prove that the inbox's queries fall inside the partial indexes below).
INBOX_ACTIVE = Q(
    status__in=["open", "pending"],
    channel__in=["wechat", "weibo"],
    kind__in=["service", "complaint"],
)


class Conversation(models.Model):
    # The conversation's course, set by the inbox actions only (read-only in the admin and API).
    COURSE_FIELDS = (
        "opened_at",
        "first_response_at",
        "last_inbound_at",
        "last_message_at",
        "resolved_at",
        "resolved_by",
        "survey_sent_at",
        "rating",
        "rated_at",
    )

    """One customer-service thread with one user on one account, from opening to resolution.

    It opens with the user's first inbound message (not an event) while the user has no open or
    pending conversation of that kind on that account, and ends when an agent resolves it.
    `first_response_at` is the time of the first message an agent sent (auto-replies, welcome
    messages and surveys do not count). A `complaint` is a case opened from a public post.
    """

    class Kind(models.TextChoices):
        SERVICE = "service", _("Service")
        COMPLAINT = "complaint", _("Complaint")

    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    account = models.CharField(_("account"), max_length=64, help_text=_("appid or Weibo uid"))
    external_user = models.CharField(_("user"), max_length=64, help_text=_("openid or Weibo uid"))
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="conversations",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.SERVICE)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ConversationStatus.choices,
        default=ConversationStatus.OPEN,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    # The team whose queue it is in (crm.actions.routing); None: opened before teams existed.
    team = models.ForeignKey(
        "crm.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    first_response_at = models.DateTimeField(_("first human response at"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("last customer message at"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = staff_reference(_("resolved by"))
    survey_sent_at = models.DateTimeField(_("survey sent at"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating (1-5)"), null=True, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")

    class Meta:
        ordering = ["-last_message_at", "-id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["channel", "account", "opened_at"]),
            # Dashboards count today's conversations of a channel live (dashboards.kpis).
            models.Index(fields=["channel", "kind", "opened_at"], name="crm_conv_channel_opened"),
            models.Index(fields=["status", "last_inbound_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["team", "status"], name="crm_conv_team_status"),
            models.Index(fields=["channel", "account", "external_user", "-opened_at"]),
            # The inbox list (crm.inbox.pages): its active conversations of the private channels
            # (crm.filtersets.visible_conversations) in the page's order, oldest waiting first
            # (ASC is NULLS LAST), so a page of 50 reads about 50 entries: 4 ms instead of 890
            # over 115,000 active conversations (bench/inbox_routing.py).
            models.Index(
                fields=["last_inbound_at", "opened_at", "id"],
                condition=INBOX_ACTIVE,
                name="crm_conv_inbox_waiting",
            ),
            # ...and the tab counts by visibility (team, assignee), read index-only: 33 ms for
            # 65,000 visible of 115,000 active, where each count read the table (110-290 ms).
            models.Index(
                fields=["team", "assignee"], condition=INBOX_ACTIVE, name="crm_conv_inbox_visible"
            ),
            # The inbox's order: a search walks it for a common word (crm.search.search_page),
            # where the top 1,000 of 100,000 conversations took a sort of them all.
            models.Index(fields=["-last_message_at", "-id"], name="crm_conv_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "account", "external_user", "kind"],
                condition=Q(status__in=["open", "pending"]),
                name="one_active_conversation_per_user",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="conversation_rating_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk} {self.customer}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Direction(models.TextChoices):
    IN = "in", _("Received")
    OUT = "out", _("Sent")


class SenderKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    AGENT = "agent", _("Agent")
    AUTO_REPLY = "auto_reply", _("Auto-reply")
    WELCOME = "welcome", _("Welcome message")
    SURVEY = "survey", _("Satisfaction survey")
    SYSTEM = "system", _("System notice")


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUEUED = "queued", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Message(models.Model):
    """One message in or out on a private channel, or an event shown in a conversation.

    `platform_msg_id` is the platform's own id (WeChat MsgId, Weibo message id) as text; with
    channel and account it is unique, which makes a redelivered push a no-op. `sent_at` is the
    message's own time. Only `sender_kind=agent` messages are human responses.
    """

    conversation = models.ForeignKey(
        Conversation,
        verbose_name=_("conversation"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="messages"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    account = models.CharField(_("account"), max_length=64)
    external_user = models.CharField(_("user"), max_length=64)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    msg_type = models.CharField(_("type"), max_length=24, default="text")
    content = models.TextField(_("content"), blank=True)
    media_id = models.CharField(_("media id"), max_length=255, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    platform_msg_id = models.CharField(_("platform message id"), max_length=64, blank=True)
    sent_at = models.DateTimeField(_("time"), default=timezone.now)
    sender = staff_reference(_("agent"))
    sender_kind = models.CharField(_("sender"), max_length=12, choices=SenderKind.choices)
    delivery_status = models.CharField(
        _("delivery"),
        max_length=12,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.RECEIVED,
    )
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error_message = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["conversation", "sent_at"]),
            models.Index(fields=["channel", "account", "sent_at"]),
            models.Index(fields=["channel", "sent_at"], name="crm_message_channel_sent"),
            models.Index(fields=["channel", "account", "external_user", "-sent_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "account", "platform_msg_id"],
                condition=~Q(platform_msg_id=""),
                name="uniq_platform_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.content[:40]}"

    @property
    def error_text(self) -> str:
        """What the agent reads about a send that failed ("" for any other message)."""
        if self.delivery_status != DeliveryStatus.FAILED:
            return ""
        return send_error_text(self.error_code, self.error_message)
