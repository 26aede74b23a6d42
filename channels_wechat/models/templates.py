"""Template messages (模板消息) and subscription messages (订阅通知) of an official account:
the templates synced from WeChat, which notice uses which template with which fields, every
send per recipient, and each follower's subscription consents.

Rules (what the sends obey) are channels_wechat.templates'; these rows are the record.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Customer

from .accounts import OfficialAccount, WeChatUser


class NoticeKind(models.TextChoices):
    """The member notices that can go out as a template (or subscription) message."""

    ORDER_PAID = "order_paid", _("Order paid")
    ORDER_REFUNDED = "order_refunded", _("Order refunded")
    COUPON_ISSUED = "coupon_issued", _("Coupon issued")
    COUPON_EXPIRING = "coupon_expiring", _("Coupon expiring")
    POINTS_CHANGED = "points_changed", _("Points changed")


class MessageTemplate(models.Model):
    """A template of one official account, as WeChat lists it.

    `kind` template: a template message from `template/get_all_private_template` (added from the
    library with `template/api_add_template`); subscribe: a subscription-message template the
    follower must consent to. `variables` are the `{{name.DATA}}` keys of `content`, in order;
    a key's type is its name without the trailing digits (thing1 -> thing), which decides
    WeChat's value limits. `active` is false once a sync no longer finds it at WeChat.
    """

    class Kind(models.TextChoices):
        TEMPLATE = "template", _("Template message")
        SUBSCRIBE = "subscribe", _("Subscription message")

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="message_templates",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default="template")
    template_id = models.CharField(_("template ID"), max_length=64)
    title = models.CharField(_("title"), max_length=128)
    primary_industry = models.CharField(_("primary industry"), max_length=64, blank=True)
    deputy_industry = models.CharField(_("deputy industry"), max_length=64, blank=True)
    content = models.TextField(_("content"), blank=True)
    example = models.TextField(_("example"), blank=True)
    variables = models.JSONField(_("variables"), default=list, blank=True)
    long_term = models.BooleanField(_("long-term subscription"), default=False)
    active = models.BooleanField(_("active"), default=True)
    synced_at = models.DateTimeField(_("synced at"), default=timezone.now)

    class Meta:
        ordering = ["account", "title"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "template_id"], name="uniq_wechat_template_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.template_id})"

    @staticmethod
    def parse_variables(content: str) -> list[str]:
        """The `{{name.DATA}}` keys of a template's content, in order, each once."""
        from ..template_rules import template_variables

        return template_variables(content)


class TemplateBinding(models.Model):
    """Which template a member notice uses on an account, and where each variable's value comes
    from: `mapping` is {variable: field}, a field being one of the notice fields
    (channels_wechat.templates.NOTICE_FIELDS) or literal text written `text:...`. `url` (a page
    the message opens; `{member_url}` etc. are filled from the notice) or a mini-program path."""

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="template_bindings",
    )
    notice = models.CharField(_("notice"), max_length=20, choices=NoticeKind.choices)
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        on_delete=models.PROTECT,
        related_name="bindings",
    )
    mapping = models.JSONField(_("variable mapping"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    miniprogram_appid = models.CharField(_("mini program AppID"), max_length=32, blank=True)
    miniprogram_path = models.CharField(_("mini program path"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["account", "notice"]
        verbose_name = _("template binding")
        verbose_name_plural = _("template bindings")
        constraints = [
            models.UniqueConstraint(fields=["account", "notice"], name="uniq_template_notice")
        ]

    def __str__(self) -> str:
        return f"{self.get_notice_display()} → {self.template.title}"


class TemplateSend(models.Model):
    """One template or subscription message to one follower: the intent is stored before WeChat
    is called, under the unique `key`, so a send retried (or resumed after a worker died) never
    reaches the same recipient twice: WeChat also gets `key` as `client_msg_id`.

    status: pending (not yet tried), held (daily limit 45009: kept for `next_attempt_at`),
    sending (WeChat is being called), sent (WeChat's `msgid` stored), failed (refused:
    `error_code`). `delivery` is the TEMPLATESENDJOBFINISH status (success, failed:user block,
    failed: system failed) once WeChat reports it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        HELD = "held", _("Held for the next allowed time")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="template_sends",
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=MessageTemplate.Kind.choices, default="template"
    )
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        on_delete=models.PROTECT,
        related_name="sends",
    )
    user = models.ForeignKey(
        WeChatUser,
        verbose_name=_("follower"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="template_sends",
    )
    openid = models.CharField(_("OpenID"), max_length=64)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="template_sends",
    )
    key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    batch = models.CharField(_("send job"), max_length=64, db_index=True)
    notice = models.CharField(_("notice"), max_length=20, blank=True)
    data = models.JSONField(_("data"), default=dict)
    url = models.CharField(_("link"), max_length=500, blank=True)
    miniprogram = models.JSONField(_("mini program"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default="pending", db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=16, blank=True)
    error_message = models.CharField(_("error message"), max_length=255, blank=True)
    msgid = models.CharField(_("WeChat MsgID"), max_length=32, blank=True, db_index=True)
    delivery = models.CharField(_("delivery status"), max_length=32, blank=True)
    delivered_at = models.DateTimeField(_("delivery reported at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("template send")
        verbose_name_plural = _("template sends")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="tplsend_due")]

    def __str__(self) -> str:
        return f"{self.template.title} → {self.openid} ({self.status})"


class SubscribeConsent(models.Model):
    """A follower's consent to receive one subscription-message template.

    From `subscribe_msg_popup_event` (accept: a one-time consent adds one send; a long-term one
    stays until withdrawn) and `subscribe_msg_change_event` (reject: withdrawn). `remaining`
    counts the one-time sends left; a send uses one up. `long_term` consents are not used up.
    """

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="subscribe_consents",
    )
    user = models.ForeignKey(
        WeChatUser,
        verbose_name=_("follower"),
        on_delete=models.CASCADE,
        related_name="subscribe_consents",
    )
    template_id = models.CharField(_("template ID"), max_length=64)
    remaining = models.PositiveIntegerField(_("one-time sends left"), default=0)
    long_term = models.BooleanField(_("long-term"), default=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("subscription consent")
        verbose_name_plural = _("subscription consents")
        constraints = [
            models.UniqueConstraint(fields=["user", "template_id"], name="uniq_subscribe_consent")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.template_id}"

    @property
    def usable(self) -> bool:
        return self.long_term or self.remaining > 0


class SubscribeEvent(models.Model):
    """One consent change as pushed (a popup choice, a change, a sent report), stored once per
    push and template so that a redelivered push changes no consent twice."""

    account = models.ForeignKey(
        OfficialAccount, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    openid = models.CharField(_("OpenID"), max_length=64)
    event = models.CharField(_("event"), max_length=32)
    template_id = models.CharField(_("template ID"), max_length=64)
    msgid = models.CharField(_("MsgID"), max_length=32, blank=True)  # sent events only
    status = models.CharField(_("status"), max_length=32, blank=True)
    create_time = models.BigIntegerField(_("CreateTime"))
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription events")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "openid", "create_time", "event", "template_id", "msgid"],
                name="uniq_subscribe_event",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.openid} {self.template_id} {self.status}"
