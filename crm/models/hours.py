"""Business hours per account and team, and dated exceptions to them.

Hours are local (Asia/Shanghai) ranges per weekday; China's public holidays close a day and its
调休 make-up workdays open one, from the maintained calendar of the `chinese-calendar` package;
a `HolidayException` overrides one date. The arithmetic (is it open now, N business minutes
after a time, business seconds between two times) is `crm.business_time`, which is pure; this
module only loads a `Schedule` for it.

Scope: hours (and exceptions) are looked up for (account, team), then (any account, team), then
(account, any team), then (any account, any team); the first scope that has any hours is used.
No hours anywhere means always open (24 × 7).
"""

from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .teams import Team

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


def _check_range(start: time | None, end: time | None) -> None:
    if start is None or end is None:
        raise ValidationError(_("Give both the start and the end."))
    if end != time(0) and end <= start:
        raise ValidationError(
            {"end": _("The end must be after the start (00:00 means midnight, the day's end).")}
        )


class BusinessHours(models.Model):
    """One open range of a weekday (local time; an end of 00:00 means midnight). Several rows
    of one weekday make a split day or two shifts."""

    account = models.CharField(
        _("account"), max_length=64, blank=True, help_text=_("appid or Weibo uid; empty: all")
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="hours",
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))

    class Meta:
        ordering = ["account", "team", "weekday", "start"]
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self) -> None:
        _check_range(self.start, self.end)


class HolidayException(models.Model):
    """A date whose hours differ from the calendar: closed (a company holiday) or open for the
    given range (a working day the public calendar calls a holiday)."""

    account = models.CharField(_("account"), max_length=64, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="holiday_exceptions",
    )
    date = models.DateField(_("date"))
    closed = models.BooleanField(_("closed all day"), default=True)
    start = models.TimeField(_("from"), null=True, blank=True)
    end = models.TimeField(_("until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        ordering = ["-date"]
        verbose_name = _("holiday exception")
        verbose_name_plural = _("holiday exceptions")
        indexes = [models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.note}"

    def clean(self) -> None:
        if self.closed:
            if self.start or self.end:
                raise ValidationError(_("A closed day has no hours: clear them or untick closed."))
        else:
            _check_range(self.start, self.end)


def schedule_for(account: str, team_id: int | None):
    """The `crm.business_time.Schedule` of an account and team (see the module docstring)."""
    from ..business_time import Schedule

    scopes = [(account, team_id), ("", team_id), (account, None), ("", None)]
    if team_id is None:
        scopes = [(account, None), ("", None)]
    rows = list(
        BusinessHours.objects.filter(
            account__in={a for a, _t in scopes},
        )
        .filter(models.Q(team_id=team_id) | models.Q(team__isnull=True))
        .values_list("account", "team_id", "weekday", "start", "end")
    )
    for scope in scopes:
        chosen = [r for r in rows if (r[0], r[1]) == scope]
        if chosen:
            break
    else:
        return Schedule.always()
    exceptions: dict = {}
    team_q = models.Q(team__isnull=True) if scope[1] is None else models.Q(team_id=scope[1])
    for day, closed, start, end in HolidayException.objects.filter(
        team_q, account=scope[0]
    ).values_list("date", "closed", "start", "end"):
        exceptions.setdefault(day, [])
        if not closed:
            exceptions[day].append((start, end))
    weekly: dict[int, list[tuple[time, time]]] = {d: [] for d in range(7)}
    for _a, _t, weekday, start, end in chosen:
        weekly[weekday].append((start, end))
    return Schedule(weekly=weekly, exceptions=exceptions)
