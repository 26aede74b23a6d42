"""The master customer record and everything that hangs off it.

Channel apps attach to a customer with a ForeignKey to `Customer` (their identities, messages,
orders...). `crm` never imports them: a merge moves every row that points at the merged customer
by walking `Customer._meta.related_objects` (see `crm.actions.merge_customers`), and channel
objects appear on the timeline through a generic relation on `Interaction`.
"""

import re

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference


class Channel(models.TextChoices):
    WECHAT = "wechat", _("WeChat")
    WEIBO = "weibo", _("Weibo")
    POS = "pos", _("POS")
    WEB = "web", _("Web")
    IMPORT = "import", _("Import")
    MANUAL = "manual", _("Manual")
    SYSTEM = "system", _("System")


class Stage(models.TextChoices):
    """Lifecycle stages in their order; automatic moves only go forward."""

    FOLLOWER = "follower", _("Follower")
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    MEMBER = "member", _("Member")

    @classmethod
    def rank(cls, stage: str) -> int:
        return list(cls.values).index(stage)


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_INTL_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_phone(raw: str) -> str:
    """Return a phone number in one canonical form, or raise ValidationError.

    Mainland mobile numbers are kept as 11 digits whatever prefix they came with
    (`+86 138 0013 8000`, `0086-13800138000`, `86 13800138000` all give `13800138000`), so that
    variants of one number compare equal. Other numbers keep a `+` and their country code.
    """
    if raw is None:
        return ""
    phone = _PHONE_SEPARATORS.sub("", str(raw).strip())
    if not phone:
        return ""
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    if _CN_MOBILE.match(phone) or _INTL_PHONE.match(phone):
        return phone
    raise ValidationError(
        _("Enter a valid mobile number, such as 13800138000 or +8613800138000."), code="invalid"
    )


def normalize_email(raw: str) -> str:
    return (raw or "").strip().lower()


TAG_DEFAULT_COLOR = "#1677ff"
TAG_COLOR_RE = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")
# The colour is written into `style=` attributes: anything but #RRGGBB could carry CSS.
tag_color_validator = RegexValidator(
    TAG_COLOR_RE, _("Enter a colour as #RRGGBB, for example #1677ff."), code="invalid_color"
)


class Tag(models.Model):
    """A label marketing staff put on customers; also applied by keyword rules.

    `color` is `#RRGGBB` (validated); `css_color` is what pages put in a style attribute.
    """

    name = models.CharField(_("name"), max_length=64, unique=True)
    color = models.CharField(
        _("color"), max_length=16, default=TAG_DEFAULT_COLOR, validators=[tag_color_validator]
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name

    @property
    def css_color(self) -> str:
        """The colour for a style attribute: the stored one if valid, else the default (a row
        written without validation, by `update()` or raw SQL, never reaches the CSS)."""
        return self.color if TAG_COLOR_RE.match(self.color or "") else TAG_DEFAULT_COLOR


class CustomerQuerySet(models.QuerySet):
    def active(self) -> "CustomerQuerySet":
        """Customers that have not been merged into another one."""
        return self.filter(merged_into__isnull=True)


class Customer(models.Model):
    """The master customer record: one person across Weibo, WeChat, POS and membership.

    A merged customer keeps its row (for the audit trail) with `merged_into` set; every list
    and API shows only active (unmerged) customers.
    """

    name = models.CharField(_("name"), max_length=128, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    phone_verified = models.BooleanField(_("phone verified"), default=False)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    gender = models.CharField(
        _("gender"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN
    )
    city = models.CharField(_("city"), max_length=64, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    stage = models.CharField(
        _("lifecycle stage"), max_length=16, choices=Stage.choices, default=Stage.FOLLOWER
    )
    first_channel = models.CharField(
        _("first-touch channel"), max_length=16, choices=Channel.choices, default=Channel.MANUAL
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    consent_marketing = models.BooleanField(_("consents to marketing"), default=False)
    consent_privacy_at = models.DateTimeField(_("accepted privacy terms at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_customers",
    )
    erased_at = models.DateTimeField(
        _("personal data erased at"),
        null=True,
        blank=True,
        help_text=_("Set when the customer's personal data was erased on request (PIPL)."),
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("merge_customer", _("Can merge customers")),
            ("export_customer", _("Can export customers")),
            ("view_customer_phone", _("Can see customers' full phone numbers")),
            ("erase_customer", _("Can erase a customer's personal data")),
        ]
        indexes = [
            models.Index(fields=["stage", "created_at"]),
            models.Index(fields=["name", "city"]),
            # The customer list filtered by city (and stage), newest first.
            models.Index(fields=["city", "stage", "-created_at"], name="crm_customer_city_stage"),
        ]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    def clean(self) -> None:
        if self.phone:
            self.phone = normalize_phone(self.phone)
        self.email = normalize_email(self.email)

    def stage_rank(self) -> int:
        return Stage.rank(self.stage)


class CustomerKey(models.Model):
    """A strong identity key that belongs to exactly one customer.

    `unionid` (the same WeChat user across the brand's accounts) and a verified `phone` are
    strong: two customers holding the same key are one person and are merged automatically
    (`crm.identity.resolve_customer`).
    """

    class Kind(models.TextChoices):
        UNIONID = "unionid", _("WeChat unionid")
        PHONE = "phone", _("verified phone")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=128)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="keys"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("identity key")
        verbose_name_plural = _("identity keys")
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="uniq_customer_key")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class InteractionKind(models.TextChoices):
    MENTION = "mention", _("Mention")
    COMMENT = "comment", _("Comment")
    REPOST = "repost", _("Repost")
    MESSAGE_IN = "message_in", _("Message received")
    MESSAGE_OUT = "message_out", _("Message sent")
    SUBSCRIBE = "subscribe", _("Subscribed")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    FOLLOW = "follow", _("Followed")
    UNFOLLOW = "unfollow", _("Unfollowed")
    ORDER = "order", _("Order")
    REFUND = "refund", _("Refund")
    COUPON_ISSUED = "coupon_issued", _("Coupon issued")
    COUPON_REDEEMED = "coupon_redeemed", _("Coupon redeemed")
    MEMBER_JOIN = "member_join", _("Joined membership")
    POINTS = "points", _("Points")
    STAGE_CHANGE = "stage_change", _("Stage changed")
    LEAD = "lead", _("Lead")
    NOTE = "note", _("Note")
    MERGE = "merge", _("Merged")
    RATING = "rating", _("Satisfaction rating")
    OTHER = "other", _("Other")


class Interaction(models.Model):
    """One thing that happened with a customer, on any channel: the unified timeline.

    `subject` points back at the channel object (a WeChat message, a Weibo comment, an order).
    Recording the same kind for the same subject twice is a no-op (`crm.actions.record_interaction`).
    """

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=InteractionKind.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"]),
            # Dashboards count a day's subscriptions of a channel live (dashboards.kpis).
            models.Index(
                fields=["channel", "kind", "occurred_at"], name="crm_interaction_kind_time"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id"],
                condition=Q(subject_type__isnull=False),
                name="uniq_interaction_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.summary}"[:80]


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    CONVERTED = "converted", _("Converted")
    LOST = "lost", _("Lost")


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)


class LostReason(models.TextChoices):
    NO_BUDGET = "no_budget", _("No budget")
    NO_RESPONSE = "no_response", _("No response")
    COMPETITOR = "competitor", _("Chose a competitor")
    NOT_INTERESTED = "not_interested", _("Not interested")
    INVALID = "invalid", _("Invalid or spam")
    OTHER = "other", _("Other")


class LeadQuerySet(models.QuerySet):
    def open(self) -> "LeadQuerySet":
        return self.filter(status__in=OPEN_LEAD_STATUSES)


class Lead(models.Model):
    """A sales opportunity with one customer.

    `source` is the channel object it came from (a Weibo post, a WeChat message); `origin` is what
    created it (a keyword rule, a campaign). It converts automatically when its customer first
    pays or becomes a member after the lead was created (`crm.actions.mark_customer_paid`).
    """

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="leads"
    )
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW
    )
    source_channel = models.CharField(
        _("source channel"), max_length=16, choices=Channel.choices, default=Channel.MANUAL
    )
    source_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    origin_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    origin_id = models.CharField(max_length=64, blank=True)
    origin = GenericForeignKey("origin_type", "origin_id")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_step_at = models.DateTimeField(_("next step due"), null=True, blank=True)
    lost_reason = models.CharField(
        _("lost reason"), max_length=24, choices=LostReason.choices, blank=True
    )
    lost_note = models.CharField(_("lost note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [models.Index(fields=["source_channel", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "source_type", "source_id"],
                condition=Q(source_type__isnull=False),
                name="uniq_lead_per_customer_source",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.status == LeadStatus.LOST and not self.lost_reason:
            raise ValidationError({"lost_reason": _("A lost lead needs a lost reason.")})
        if self.status != LeadStatus.LOST and self.lost_reason:
            raise ValidationError({"lost_reason": _("Only a lost lead has a lost reason.")})


class Note(models.Model):
    """A free-text note a staff member wrote about a customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField(_("text"), max_length=5000)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("note")
        verbose_name_plural = _("notes")

    def __str__(self) -> str:
        return self.body[:40]


class Segment(models.Model):
    """A saved customer filter that is re-run on demand.

    `filters` holds the query parameters of the customer list (`crm.filtersets.CustomerFilterSet`),
    e.g. `{"stage": "lead", "tag": "VIP", "city": "上海"}`; its members are whoever matches now
    (`crm.filtersets.segment_customers`).
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    owner = staff_reference(_("owner"))
    member_count = models.PositiveIntegerField(_("members (last counted)"), default=0)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class MergeRecord(models.Model):
    """Who merged which customer into which, and every row that moved.

    `moved` maps a model label to the primary keys that were re-pointed, e.g.
    `{"crm.Interaction": [3, 4], "channels_wechat.WeChatUser": [9]}`; `snapshot` keeps the merged
    customer's own fields as they were, so nothing is lost even where the survivor's won.
    """

    class Reason(models.TextChoices):
        MANUAL = "manual", _("Merged by staff")
        UNIONID = "unionid", _("Same WeChat unionid")
        PHONE = "phone", _("Same verified phone")
        HANDOFF = "handoff", _("Weibo to WeChat handoff")

    source = models.ForeignKey(
        Customer, verbose_name=_("merged customer"), on_delete=models.PROTECT, related_name="+"
    )
    target = models.ForeignKey(
        Customer, verbose_name=_("surviving customer"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    merged_by = staff_reference(_("merged by"))
    moved = models.JSONField(_("moved rows"), default=dict)
    snapshot = models.JSONField(_("merged customer's fields"), default=dict)
    created_at = models.DateTimeField(_("merged at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("merge record")
        verbose_name_plural = _("merge records")

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id}"
