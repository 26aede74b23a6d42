"""The admin, one module per topic (the models' own split, crm/models/): customers with their
timeline, notes and merges; leads and the pipeline; tags and segments; the record-keeping pages
(merge records, raw deliveries, conversations, the audit log); API tokens without their keys.
Importing the package registers them all (Django's admin autodiscovery imports `crm.admin`)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import (  # noqa: F401  (registers them)
    customers,
    handoffs,
    imports,
    journeys,
    labels,
    leads,
    records,
    segments,
    teams,
    tokens,
)

admin.site.site_header = _("Social CRM")
admin.site.site_title = _("Social CRM")
admin.site.index_title = _("Weibo acquires, WeChat retains: one customer record")
