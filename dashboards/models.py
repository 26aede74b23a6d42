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


class EventTouch(models.Model):
    """The first and the last touch of one attributed event (a paid order or a membership), by
    the attribution rule (dashboards.kpis.attribution): the touch's kind (`weibo_lead`,
    `channel_code`, `handoff`) and id (the lead's, the scan's, the handoff's). An event with no
    touch in its 30 days has no row.

    Stored so the KOL campaign page reads each event's touches instead of ranking them on every
    view; the campaign and KOL of a touch are not stored here but read through the leads'
    stored credit (channels_weibo.LeadCredit), so campaign edits do not touch this table.
    Refreshed per customer in the transaction of every action that changes a customer's
    touches or events (`crm.attribution.customers_changed`); `manage.py rebuild_attribution`
    rebuilds it. PostgreSQL only: elsewhere (the demo's SQLite) the figures are worked out
    on each view.
    """

    event = models.CharField(_("event"), max_length=16)
    event_id = models.BigIntegerField(_("event id"))
    customer_id = models.BigIntegerField(_("customer id"), db_index=True)
    first_kind = models.CharField(_("first touch kind"), max_length=16)
    first_id = models.BigIntegerField(_("first touch id"))
    last_kind = models.CharField(_("last touch kind"), max_length=16)
    last_id = models.BigIntegerField(_("last touch id"))

    class Meta:
        verbose_name = _("event touch")
        verbose_name_plural = _("event touches")
        constraints = [
            models.UniqueConstraint(fields=["event", "event_id"], name="uniq_event_touch")
        ]
        indexes = [
            models.Index(fields=["last_kind", "last_id"], name="event_touch_last"),
            models.Index(fields=["first_kind", "first_id"], name="event_touch_first"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}: {self.first_kind} {self.first_id} … {self.last_kind} {self.last_id}"
