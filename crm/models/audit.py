"""The audit log: who exported, merged, deleted, erased or changed a secret, and when."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference


class AuditAction(models.TextChoices):
    EXPORT = "export", _("Customer export (CSV)")
    MERGE = "merge", _("Customer merge")
    DELETE = "delete", _("Customer deletion")
    SECRET_CHANGE = "secret_change", _("Secret changed")
    ERASE = "erase", _("Personal data erased")
    DATA_EXPORT = "data_export", _("Personal data export")


class AuditEntry(models.Model):
    """One sensitive operation, written by the action that performed it and never edited.

    `object_type` is a model label (`crm.Customer`) and `object_id` its primary key as text, so
    an entry outlives the row it names (a deleted customer) and crm needs no foreign key into the
    channel apps. `summary` says what happened without personal data or secret values (a secret
    change names the field, never the old or new value).
    """

    actor = staff_reference(_("who"))
    actor_name = models.CharField(_("username"), max_length=150, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    summary = models.CharField(_("summary"), max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action} {self.object_type}"
