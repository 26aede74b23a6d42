"""Clicks on signed tracked links (crm.links): which campaign object a click came from."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LinkClick(models.Model):
    """One click on a tracked link `/r/<signed token>`.

    `source` names what carried the link (e.g. `wechat_mass:12`); `visitor` is a random key kept
    in a cookie, so unique clickers can be counted without knowing who they are; `customer` is
    set when the link was made for one customer.
    """

    source = models.CharField(_("source"), max_length=64, db_index=True)
    url = models.CharField(_("target URL"), max_length=500)
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    visitor = models.CharField(_("visitor"), max_length=32, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), default=timezone.now)

    class Meta:
        ordering = ["-clicked_at", "-id"]
        verbose_name = _("link click")
        verbose_name_plural = _("link clicks")

    def __str__(self) -> str:
        return f"{self.source} {self.clicked_at:%Y-%m-%d %H:%M}"
