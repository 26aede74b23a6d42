"""The record of a customer import from a CSV or Excel file (crm.admin.imports): what was
created, so it can be undone."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..fields import staff_reference


class CustomerImport(models.Model):
    """One confirmed import: the file, its row counts, the rows refused (line, field, message)
    and the ids of the customers it created. Undo deletes those customers (if nothing has been
    attached to them since) and stamps `undone_at`."""

    file_name = models.CharField(_("file"), max_length=255)
    created_by = staff_reference(_("imported by"))
    created_at = models.DateTimeField(_("imported at"), default=timezone.now)
    rows_total = models.PositiveIntegerField(_("rows in file"), default=0)
    mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    errors = models.JSONField(_("rows refused"), default=list, blank=True)
    customer_ids = models.JSONField(_("customers created"), default=list, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = staff_reference(_("undone by"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({len(self.customer_ids)})"

    @property
    def rows_imported(self) -> int:
        return len(self.customer_ids)
