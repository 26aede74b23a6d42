"""The period, account and audience of a dashboard or KPI request, validated in one place.

Used by the KPI API and the pages, so both give the same clear errors: an invalid date, `end`
before `start`, a period longer than MAX_DAYS, an unknown account.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext as _

MAX_DAYS = 366
DEFAULT_DAYS = 30
# channel -> (app label, model, field holding the account id)
ACCOUNT_MODELS = {
    "wechat": ("channels_wechat", "OfficialAccount", "appid"),
    "weibo": ("channels_weibo", "WeiboAccount", "uid"),
}


class PeriodError(ValueError):
    """Field -> message of what is wrong with the request."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    account: str | None

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of the same length just before this one (for the change figures)."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.length - 1), end, self.account)


def _parse_day(value: str, field: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = _("not a date (YYYY-MM-DD): %(value)s") % {"value": value}
        return None


def accounts(channel: str) -> list[tuple[str, str]]:
    """(account id, display name) of the channel's accounts, for pickers."""
    if channel not in ACCOUNT_MODELS:
        return []
    label, model_name, field = ACCOUNT_MODELS[channel]
    try:
        model = apps.get_model(label, model_name)
    except LookupError:
        return []
    name_field = next(
        (f for f in ("name", "screen_name") if f in {x.name for x in model._meta.fields}), field
    )
    return list(model.objects.order_by(field).values_list(field, name_field))


def parse_period(params, channel: str | None = None) -> Period:
    """Period from query parameters `start`, `end` (inclusive local dates) and `account`.

    Defaults: the last 30 days up to today. Raises PeriodError naming each bad field.
    """
    errors: dict[str, str] = {}
    today = timezone.localdate()
    end = _parse_day(params["end"], "end", errors) if params.get("end") else today
    if params.get("start"):
        start = _parse_day(params["start"], "start", errors)
    else:
        start = (end or today) - timedelta(days=DEFAULT_DAYS - 1)
    if start and end:
        if end < start:
            errors["end"] = _("end %(end)s is before start %(start)s") % {
                "end": end,
                "start": start,
            }
        elif (end - start).days + 1 > MAX_DAYS:
            errors["start"] = _("the period is longer than %(max)s days") % {"max": MAX_DAYS}
    account = params.get("account") or None
    if account and channel:
        if channel not in ACCOUNT_MODELS:
            errors["account"] = _("this report takes no account")
        elif account not in {a for a, _name in accounts(channel)}:
            errors["account"] = _("unknown %(channel)s account: %(account)s") % {
                "channel": channel,
                "account": account,
            }
    if errors:
        raise PeriodError(errors)
    assert start and end
    return Period(start, end, account)


def scope(user) -> str | None:
    """What the user may see: "all" (managers, marketing, superusers), "own" (agents: their
    own service figures), or None."""
    if not user.is_authenticated:
        return None
    if user.has_perm("dashboards.view_kpisnapshot") or user.has_perm("dashboards.view_all_kpis"):
        return "all"
    if user.has_perm("dashboards.view_own_kpis"):
        return "own"
    return None
