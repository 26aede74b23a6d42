"""Weibo → WeChat handoffs: a link sent to one Weibo user that opens a one-off WeChat QR code.

The record lives in crm because both channel apps reach it and neither may import the other:
channels_weibo issues it and sends the link (`crm.actions.issue_handoff`), channels_wechat makes
its QR code (a "handoff QR provider" registered in crm.handoff) and claims it when the follow or
scan through that code arrives (`crm.actions.claim_handoff`).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .customers import Customer, Lead


class Handoff(models.Model):
    """One Weibo user's link to WeChat for one purpose.

    `token_hash` is the SHA-256 of the link's token (the token itself is only in the sent link);
    `scene` is the WeChat QR scene issued to this handoff alone (set when the page first shows
    the code); `used_at`/`used_openid` are set by the first follower through it, who alone is
    linked, and `used_via` says how: by following through its QR code (`qr`) or by opening the
    link inside WeChat (`oauth`; the attribution's handoff touch then has no scan to come from). `send_error` is why the link last failed to go out (the platform's refusal), empty
    once it was sent.

    A handoff of purpose `campaign` names its KOL campaign and KOL on the Weibo side
    (`channels_weibo.CampaignHandoff`): crm may not import the channel apps.
    """

    class Purpose(models.TextChoices):
        LEAD = "lead", _("Weibo lead")
        COMPLAINT = "complaint", _("Complaint case")
        CAMPAIGN = "campaign", _("KOL campaign")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="handoffs"
    )
    weibo_uid = models.CharField(_("Weibo uid"), max_length=32)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True)
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs",
    )
    appid = models.CharField(_("official account"), max_length=32, blank=True)
    scene = models.CharField(_("scene"), max_length=64, blank=True, db_index=True)
    sent_by = models.CharField(_("sent by"), max_length=16, blank=True)  # "message" / "comment"
    send_error = models.CharField(_("send error"), max_length=255, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_openid = models.CharField(_("used by openid"), max_length=64, blank=True)
    used_via = models.CharField(
        _("used through"),
        max_length=8,
        blank=True,
        choices=[("qr", _("QR code")), ("oauth", _("link opened in WeChat"))],
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Weibo handoff")
        verbose_name_plural = _("Weibo handoffs")
        constraints = [
            models.UniqueConstraint(fields=["weibo_uid", "purpose"], name="uniq_handoff_user")
        ]

    def __str__(self) -> str:
        return f"{self.weibo_uid} {self.purpose}"

    def expired(self, at) -> bool:
        return self.expires_at <= at
