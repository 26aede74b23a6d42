"""Mass sends (群发) and the WeChat user tags they can target.

A `MassSend` is drafted by marketing for a crm Segment, a crm Tag or all followers of one account,
approved by someone else (manager or superuser), then planned into `MassSendRecipient` rows (one
per follower that may receive it) grouped into `MassSendBatch`es of at most 10,000 openids. Each
batch is one WeChat API call carrying its own `clientmsgid`: WeChat refuses a second call with the
same clientmsgid (45065), which is what makes a resumed batch go out exactly once.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, Segment, Tag

from .accounts import OfficialAccount, WeChatUser

# WeChat's limits for a service account (服务号): 4 mass messages per follower per month; at most
# 10,000 openids per `message/mass/send` call; 50 openids per tag (un)tagging call.
MONTHLY_MASS_QUOTA = 4
MAX_OPENIDS_PER_CALL = 10_000
MAX_OPENIDS_PER_TAG_CALL = 50


class WeChatTag(models.Model):
    """A WeChat user tag (`tags/create`) of one account, linked to the crm Tag it mirrors.

    `wechat_id` is WeChat's tag id; `synced_at` is when its members were last made equal to
    the followers whose customer holds the crm tag (push) or read from WeChat (pull).
    """

    account = models.ForeignKey(
        OfficialAccount, verbose_name=_("account"), on_delete=models.CASCADE, related_name="tags"
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("CRM tag"), on_delete=models.CASCADE, related_name="wechat_tags"
    )
    wechat_id = models.PositiveIntegerField(_("WeChat tag id"))
    name = models.CharField(_("name"), max_length=30)
    member_count = models.PositiveIntegerField(_("members on WeChat"), default=0)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "name"]
        verbose_name = _("WeChat tag")
        verbose_name_plural = _("WeChat tags")
        constraints = [
            models.UniqueConstraint(fields=["account", "wechat_id"], name="uniq_wechat_tag_id"),
            models.UniqueConstraint(fields=["account", "tag"], name="uniq_wechat_tag_crm_tag"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.wechat_id})"


class MassSend(models.Model):
    """One mass send (群发): what, to whom, who approved it, and its running totals.

    Counts are numbers of followers: `targeted` = followers planned to receive it,
    `skipped_consent` = followers of the target without marketing consent (never sent),
    `deferred` = followers over their monthly quota or left when the daily API limit was hit
    (sent at the next allowed time), `sent`/`failed` = recipients the API accepted / refused
    (by reason in `MassSendRecipient.error_code`), `filtered` = WeChat's own FilterCount from
    MASSSENDJOBFINISH (unfollowed, blocked, over quota on WeChat's side).
    """

    class Target(models.TextChoices):
        SEGMENT = "segment", _("Segment")
        TAG = "tag", _("Tag")
        ALL = "all", _("All followers")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        NEWS = "mpnews", _("News (article)")
        COUPON = "coupon", _("Coupon")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        WAITING = "waiting", _("Waiting for quota")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    account = models.ForeignKey(
        OfficialAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("title"), max_length=100)
    target = models.CharField(_("target"), max_length=8, choices=Target.choices)
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.PROTECT
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag"), null=True, blank=True, on_delete=models.PROTECT
    )
    kind = models.CharField(_("message type"), max_length=8, choices=Kind.choices)
    text = models.TextField(_("text"), blank=True)
    media_id = models.CharField(_("media id"), max_length=128, blank=True)
    article = models.JSONField(_("article"), default=dict, blank=True)
    coupon_template = models.ForeignKey(
        "members.CouponTemplate",
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    link_url = models.CharField(_("tracked link"), max_length=500, blank=True)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    use_sendall = models.BooleanField(_("sent by tag"), default=False)
    targeted = models.PositiveIntegerField(_("targeted"), default=0)
    skipped_consent = models.PositiveIntegerField(_("skipped (no consent)"), default=0)
    deferred = models.PositiveIntegerField(_("deferred"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    filtered = models.PositiveIntegerField(_("filtered by WeChat"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("mass send")
        verbose_name_plural = _("mass sends")
        permissions = [("approve_masssend", _("Can approve mass sends"))]

    def __str__(self) -> str:
        return self.title

    @property
    def progress(self) -> float | None:
        """Share of the targeted followers whose message was handed to WeChat (0..1)."""
        if not self.targeted:
            return None
        return (self.sent + self.failed) / self.targeted


class MassSendBatch(models.Model):
    """One API call of a mass send: up to 10,000 openids (or one tag) and its clientmsgid.

    `msg_id` is WeChat's job id (MsgID of MASSSENDJOBFINISH); the job's counts arrive with that
    event: total, filtered (not delivered by WeChat), sent and error counts.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SPLIT = "split", _("Split")

    send = models.ForeignKey(
        MassSend, verbose_name=_("mass send"), on_delete=models.CASCADE, related_name="batches"
    )
    seq = models.PositiveIntegerField(_("number"))
    clientmsgid = models.CharField(_("clientmsgid"), max_length=64, unique=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    size = models.PositiveIntegerField(_("openids"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    msg_id = models.CharField(_("WeChat msg_id"), max_length=32, blank=True, db_index=True)
    error_code = models.CharField(_("error"), max_length=16, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    total_count = models.PositiveIntegerField(_("total (WeChat)"), null=True, blank=True)
    filter_count = models.PositiveIntegerField(_("filtered (WeChat)"), null=True, blank=True)
    sent_count = models.PositiveIntegerField(_("sent (WeChat)"), null=True, blank=True)
    error_count = models.PositiveIntegerField(_("errors (WeChat)"), null=True, blank=True)
    finished_at = models.DateTimeField(_("job finished at"), null=True, blank=True)

    class Meta:
        ordering = ["send", "seq"]
        verbose_name = _("mass send batch")
        verbose_name_plural = _("mass send batches")
        constraints = [models.UniqueConstraint(fields=["send", "seq"], name="uniq_mass_batch_seq")]

    def __str__(self) -> str:
        return self.clientmsgid


class MassSendRecipient(models.Model):
    """A follower a mass send is for, and what became of it (one row per follower and send).

    Planning writes these by the hundred thousand in one statement (bench/mass_send.py), so each
    index and foreign-key check is a write or a lookup per follower (a check locks the row it
    finds: 450,000 checks took 3.3 s of a 7.8 s plan). The database checks only the customer,
    which erasure may delete while a send is planned. The send, the batch and the follower are
    not checked by it: `plan_send` writes the rows holding the send's row lock, with batches of
    the same transaction, from followers it reads in the same statement, and followers are never
    deleted but with their account (the product keeps unfollowers); Django's on_delete clears
    the rows before a send, a batch or a follower goes. Indexes: no single send or user index
    (the status and the unique index lead with them), and the quota index holds sent rows only
    (planned rows are pending).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DEFERRED = "deferred", _("Deferred (quota)")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    send = models.ForeignKey(
        MassSend,
        verbose_name=_("mass send"),
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
        db_constraint=False,
    )
    user = models.ForeignKey(
        WeChatUser,
        verbose_name=_("follower"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    openid = models.CharField(_("OpenID"), max_length=64)
    batch = models.ForeignKey(
        MassSendBatch,
        verbose_name=_("batch"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipients",
        db_constraint=False,
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    error_code = models.CharField(_("error"), max_length=16, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["send", "id"]
        verbose_name = _("mass send recipient")
        verbose_name_plural = _("mass send recipients")
        # Led by the user: it is also the index a follower's deletion looks recipients up by.
        constraints = [models.UniqueConstraint(fields=["user", "send"], name="uniq_mass_recipient")]
        indexes = [
            models.Index(fields=["send", "status"]),
            # Monthly quota: sends received by a follower since the month began.
            models.Index(
                fields=["user", "sent_at"],
                name="mass_recipient_quota",
                condition=models.Q(status="sent"),
            ),
        ]

    def __str__(self) -> str:
        return self.openid
