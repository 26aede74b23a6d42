"""Channel QR codes (带参二维码) and each scan of one: who followed through which code."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Message, Tag

from .accounts import OfficialAccount, WeChatUser

MAX_SCENE_LENGTH = 64  # WeChat's limit for scene_str
MAX_EXPIRE_SECONDS = 30 * 24 * 3600  # a temporary code lives at most 30 days


class ChannelCode(models.Model):
    """A parametric QR code (带参二维码 / 渠道活码) of one official account.

    Created at WeChat through `cgi-bin/qrcode/create` (channels_wechat.codes.create_channel_code)
    which gives `ticket` and `url`; a follow or scan through it carries `scene`. A scan of an
    active, unexpired code adds `tags` and sends `welcome_message` instead of the account's.
    """

    class Purpose(models.TextChoices):
        STORE = "store", _("Store")
        CAMPAIGN = "campaign", _("Campaign")
        KOL = "kol", _("KOL")
        EVENT = "event", _("Event")
        WEIBO_HANDOFF = "weibo_handoff", _("Weibo handoff")

    class Kind(models.TextChoices):
        TEMPORARY = "temporary", _("Temporary (up to 30 days)")
        PERMANENT = "permanent", _("Permanent")

    account = models.ForeignKey(
        OfficialAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="channel_codes",
    )
    name = models.CharField(_("name"), max_length=64)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    scene = models.CharField(_("scene"), max_length=MAX_SCENE_LENGTH)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    expire_seconds = models.PositiveIntegerField(
        _("expires after (seconds)"), null=True, blank=True
    )
    welcome_message = models.TextField(_("welcome message"), blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags to add"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    active = models.BooleanField(_("active"), default=True)
    ticket = models.CharField(_("ticket"), max_length=255, blank=True)
    url = models.CharField(_("QR content URL"), max_length=255, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("channel QR code")
        verbose_name_plural = _("channel QR codes")
        constraints = [
            models.UniqueConstraint(fields=["account", "scene"], name="uniq_channel_code_scene")
        ]

    def __str__(self) -> str:
        return self.name

    def expired(self, at) -> bool:
        return self.expires_at is not None and self.expires_at <= at


class ChannelCodeScan(models.Model):
    """One follow (`subscribe`) or scan (`SCAN`) through a channel code, applied or not."""

    class Event(models.TextChoices):
        SUBSCRIBE = "subscribe", _("Follow")
        SCAN = "scan", _("Scan")

    code = models.ForeignKey(
        ChannelCode,
        verbose_name=_("channel code"),
        on_delete=models.CASCADE,
        related_name="scan_rows",
    )
    user = models.ForeignKey(
        WeChatUser,
        verbose_name=_("follower"),
        on_delete=models.CASCADE,
        related_name="code_scans",
    )
    event = models.CharField(_("event"), max_length=12, choices=Event.choices)
    new_follower = models.BooleanField(_("new follower"), default=False)
    applied = models.BooleanField(_("applied"), default=False)
    at = models.DateTimeField(_("at"), default=timezone.now)
    message = models.ForeignKey(
        Message, verbose_name=_("event message"), null=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("channel code scan")
        verbose_name_plural = _("channel code scans")

    def __str__(self) -> str:
        return f"{self.code} {self.get_event_display()} {self.at:%Y-%m-%d %H:%M}"
