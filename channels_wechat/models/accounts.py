"""WeChat Official Accounts, their followers, and the automation agents configure.

Conversations and messages live in crm (`crm.models.Conversation`/`Message`, channel "wechat",
account = appid, external_user = openid) because one inbox serves WeChat and Weibo.
"""

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.fields import EncryptedTextField
from crm.models import Customer, schedule_for

MESSAGE_WINDOW = timedelta(hours=48)
MESSAGE_QUOTA = 5
EVENT_WINDOW = timedelta(minutes=1)
EVENT_QUOTA = 3


class OfficialAccount(models.Model):
    """A brand's WeChat Official Account (公众号) and its developer credentials.

    The app secret, token and EncodingAESKey are encrypted at rest (crm.fields). `mode` is the
    message encryption mode chosen in the WeChat console; pushes arrive at /hooks/wechat/<appid>.
    Service hours (local time) decide when the out-of-hours reply is sent.
    """

    class Mode(models.TextChoices):
        PLAINTEXT = "plaintext", _("Plaintext")
        COMPATIBLE = "compatible", _("Compatible")
        SAFE = "safe", _("Safe (encrypted)")

    appid = models.CharField(_("AppID"), max_length=32, unique=True)
    original_id = models.CharField(_("original ID"), max_length=32, blank=True, help_text="gh_...")
    name = models.CharField(_("name"), max_length=64)
    app_secret = EncryptedTextField(_("AppSecret"))
    token = EncryptedTextField(_("token"))
    encoding_aes_key = EncryptedTextField(_("EncodingAESKey"), blank=True)
    mode = models.CharField(_("encryption mode"), max_length=12, choices=Mode.choices)
    welcome_message = models.TextField(_("welcome message"), blank=True)
    out_of_hours_reply = models.TextField(_("out-of-hours reply"), blank=True)
    service_start = models.TimeField(_("service hours start"), null=True, blank=True)
    service_end = models.TimeField(_("service hours end"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("official account")
        verbose_name_plural = _("official accounts")

    def __str__(self) -> str:
        return f"{self.name} ({self.appid})"

    def in_service_hours(self, at, team_id: int | None = None) -> bool:
        """Whether `at` (aware) falls in the service hours: the business hours of the account
        (and the conversation's team) set in the admin, with China's public holidays and 调休
        workdays and the dated exceptions (crm.models.hours); without any, the account's own
        daily range; neither set means always."""
        schedule = schedule_for(self.appid, team_id)
        if not schedule.open_always:
            return schedule.is_open(at)
        if self.service_start is None or self.service_end is None:
            return True
        local = timezone.localtime(at).time()
        if self.service_start <= self.service_end:
            return self.service_start <= local < self.service_end
        return local >= self.service_start or local < self.service_end


class WeChatUser(models.Model):
    """A follower of one official account (openid is per account) and the customer it belongs to.

    `unionid` is the same person across the brand's accounts (a strong identity key).
    `window_*` track the customer-service window: a user message allows 5 messages for 48 hours,
    a follow/scan/menu click 3 for one minute (WeChat's rules since 2023).
    """

    account = models.ForeignKey(
        OfficialAccount, verbose_name=_("account"), on_delete=models.CASCADE, related_name="users"
    )
    openid = models.CharField(_("OpenID"), max_length=64)
    unionid = models.CharField(_("UnionID"), max_length=64, blank=True, db_index=True)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wechat_users",
    )
    nickname = models.CharField(_("nickname"), max_length=64, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True)
    remark = models.CharField(_("remark"), max_length=64, blank=True)
    subscribed = models.BooleanField(_("subscribed"), default=False)
    subscribe_time = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    unsubscribe_time = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    subscribe_scene = models.CharField(_("subscribe scene"), max_length=64, blank=True)
    qr_scene = models.CharField(_("QR scene"), max_length=64, blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    window_expires_at = models.DateTimeField(_("service window ends"), null=True, blank=True)
    window_quota = models.PositiveSmallIntegerField(_("messages allowed"), default=0)
    window_used = models.PositiveSmallIntegerField(_("messages sent"), default=0)
    info_fetched_at = models.DateTimeField(_("profile fetched at"), null=True, blank=True)
    # First touch: the channel code this follower first followed or scanned through.
    channel_code = models.ForeignKey(
        "ChannelCode",
        verbose_name=_("channel code"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followers",
    )
    channel_code_at = models.DateTimeField(_("attributed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("first seen"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("WeChat follower")
        verbose_name_plural = _("WeChat followers")
        constraints = [
            models.UniqueConstraint(fields=["account", "openid"], name="uniq_wechat_openid")
        ]

    def __str__(self) -> str:
        return self.nickname or self.openid

    def open_window(self, at, *, by_message: bool) -> None:
        """A user action opened (or renewed) the window; a message window is not shortened."""
        if by_message:
            self.window_expires_at, self.window_quota, self.window_used = (
                at + MESSAGE_WINDOW,
                MESSAGE_QUOTA,
                0,
            )
        elif not self.window_expires_at or self.window_expires_at < at + EVENT_WINDOW:
            self.window_expires_at, self.window_quota, self.window_used = (
                at + EVENT_WINDOW,
                EVENT_QUOTA,
                0,
            )

    def window_state(self, now=None) -> tuple[bool, int]:
        """(window open, messages left) as far as this CRM knows."""
        now = now or timezone.now()
        if not self.window_expires_at or self.window_expires_at <= now:
            return False, 0
        return True, max(self.window_quota - self.window_used, 0)


class AutoReplyRule(models.Model):
    """A keyword auto-reply: a user text that matches gets `reply` (not a human response)."""

    class Match(models.TextChoices):
        EXACT = "exact", _("Exact")
        CONTAINS = "contains", _("Contains")

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="auto_replies",
    )
    keyword = models.CharField(_("keyword"), max_length=64)
    match = models.CharField(_("match"), max_length=10, choices=Match.choices, default="contains")
    reply = models.TextField(_("reply"))
    priority = models.PositiveSmallIntegerField(_("priority"), default=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("auto-reply rule")
        verbose_name_plural = _("auto-reply rules")

    def __str__(self) -> str:
        return self.keyword

    def matches(self, text: str) -> bool:
        text = (text or "").strip()
        if self.match == self.Match.EXACT:
            return text == self.keyword
        return self.keyword in text


class CannedResponse(models.Model):
    """A prepared answer agents insert in the reply box (快捷回复)."""

    title = models.CharField(_("title"), max_length=64)
    text = models.TextField(_("text"))
    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text=_("Empty: available on every account."),
    )

    class Meta:
        ordering = ["title"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")

    def __str__(self) -> str:
        return self.title
