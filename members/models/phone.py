"""Phone verification by SMS code on the member join page."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PhoneVerification(models.Model):
    """One code sent to one mobile number (`members.actions.phone_verification`).

    `phone` is normalised (`crm.models.normalize_phone`); `code_hash` is an HMAC of the phone and
    the code keyed with SECRET_KEY, never the code itself. A code is good until `expires_at`
    (5 minutes after sending) for one successful check (`verified_at`); `attempts` counts wrong
    tries, and the fifth sets `locked_until` on the number (30 minutes), during which no code for
    that number is sent or accepted. `client_ip` is the address that asked for the code.
    """

    phone = models.CharField(_("mobile number"), max_length=32, db_index=True)
    code_hash = models.CharField(max_length=64)
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="phone_verifications",
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("phone verification")
        verbose_name_plural = _("phone verifications")

    def __str__(self) -> str:
        # Masked: the string names the row in admin titles, breadcrumbs and logs.
        from crm.security import mask_phone

        return f"{mask_phone(self.phone)} @ {self.created_at:%Y-%m-%d %H:%M}"
