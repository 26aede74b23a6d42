from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RawDelivery(models.Model):
    """A webhook delivery exactly as it arrived, stored before anything else happens.

    Every platform push (WeChat, Weibo fan service, WeChat Pay) is verified, stored here and
    acknowledged; a worker then processes it (`crm.ingestion`). A row left `pending` (broker down,
    worker killed) is re-enqueued by the sweep, and processing is idempotent, so a stored delivery
    is never lost. `rejected` rows (malformed bodies) are kept for inspection and not processed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", _("Rejected")

    source = models.CharField(_("source"), max_length=24)
    account = models.CharField(_("account"), max_length=64)
    method = models.CharField(_("method"), max_length=8, default="POST")
    path = models.CharField(_("path"), max_length=255, blank=True)
    query = models.JSONField(_("query"), default=dict, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.BinaryField(_("body"))
    remote_addr = models.CharField(_("remote address"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=128, blank=True)
    # The identity of a verified push (crm.ingestion.push_key: a SHA-256 over the source, the
    # account and what the push's signature covers), unique: the same signed push delivered again
    # is answered without a second row. Null for rows that are not verified pushes (rejected
    # bodies, imports) and for rows stored before it existed.
    push_key = models.CharField(_("push key"), max_length=64, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("raw delivery")
        verbose_name_plural = _("raw deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["push_key"], name="raw_push_key_uniq", condition=Q(push_key__isnull=False)
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"], name="raw_pending_idx", condition=Q(status="pending")
            ),
            models.Index(fields=["source", "account", "-received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.account} #{self.pk} {self.status}"
