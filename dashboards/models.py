from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class KpiSnapshot(models.Model):
    """One precomputed KPI part of one local day (Asia/Shanghai) for one account of one channel.

    `metric` names a part of `dashboards.kpis` (e.g. `conversations`, a count; `first_response`,
    the sorted list of that day's first-response durations in seconds), so any period's figures
    are combined exactly from its days. The row with metric `computed` and an empty account marks
    a day as computed for the channel (a day with no activity has no other row). Written by the
    nightly task and the backfill command; recomputing a day replaces all its rows.
    """

    channel = models.CharField(_("channel"), max_length=16)
    account = models.CharField(_("account"), max_length=64, blank=True)
    day = models.DateField(_("day"))
    metric = models.CharField(_("metric"), max_length=32)
    value = models.JSONField(_("value"))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["channel", "day", "account", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "account", "day", "metric"], name="uniq_kpi_snapshot"
            )
        ]
        indexes = [models.Index(fields=["channel", "day"])]
        permissions = [
            ("view_all_kpis", _("Can view every dashboard and KPI")),
            ("view_own_kpis", _("Can view own customer-service figures")),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.account or '*'} {self.day} {self.metric}"
