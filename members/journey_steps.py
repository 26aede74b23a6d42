"""The journey steps members owns: the tier condition, the issue-coupon action, and the scanners
of the time-based triggers (coupon expiring in N days, no purchase for N days). Registered in
`MembersConfig.ready`."""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.journeys import register_action, register_condition, register_scanner
from crm.models import Customer, JourneyTrigger

from .actions.coupons import issue_coupon
from .models import Coupon, CouponTemplate, IssuedVia, Membership, Order, Tier
from .models.orders import PAID_STATUSES


def _at_tier(customer_ids: list[int], value: str) -> set[int]:
    return set(
        Membership.objects.filter(customer_id__in=customer_ids, tier__name=value).values_list(
            "customer_id", flat=True
        )
    )


def _check_tier(value: str) -> None:
    if not Tier.objects.filter(name=value).exists():
        raise ValidationError(_("No membership tier is called %(value)s.") % {"value": value})


def _template(value: str) -> CouponTemplate | None:
    return CouponTemplate.objects.filter(name=value).first()


def _check_template(value: str) -> None:
    if _template(value) is None:
        raise ValidationError(_("No coupon is called %(value)s.") % {"value": value})


def _issue(customer: Customer, value: str, *, key: str, at: datetime) -> str:
    # The step's key is the coupon's campaign, so a step run again finds its coupon.
    existing = Coupon.objects.filter(customer=customer, campaign=key).first()
    if existing is not None:
        return _("Coupon %(code)s already issued") % {"code": existing.code}
    template = _template(value)
    if template is None:
        raise ValidationError(_("No coupon is called %(value)s.") % {"value": value})
    coupon = issue_coupon(
        template, customer, via=IssuedVia.JOURNEY, campaign=key, at=at, notify=True
    )
    return _("Coupon %(code)s issued") % {"code": coupon.code}


def coupons_expiring(days: int, at: datetime):
    """Unused coupons that expire on the day `days` days from `at` (local date)."""
    day = timezone.localdate(at) + timedelta(days=days)
    rows = Coupon.objects.filter(
        redeemed_at__isnull=True, expires_at__date=day, customer__merged_into__isnull=True
    ).values_list("customer_id", "code")
    return [(customer_id, f"coupon:{code}") for customer_id, code in rows]


def lapsed_buyers(days: int, at: datetime):
    """Customers who have paid before and not in the last `days` days; one entry per last
    purchase, so buying again and lapsing again enters the journey again."""
    rows = (
        Order.objects.filter(status__in=PAID_STATUSES, customer__isnull=False)
        .values("customer_id")
        .annotate(last=Max("paid_at"))
        .filter(last__lt=at - timedelta(days=days))
        .values_list("customer_id", "last")
    )
    return [(customer_id, f"last:{last:%Y-%m-%d}") for customer_id, last in rows]


def register() -> None:
    register_condition("tier", gettext_lazy("is at membership tier"), _at_tier, _check_tier)
    register_action(
        "issue_coupon",
        gettext_lazy("issue a coupon"),
        _issue,
        idempotent=True,
        validate=_check_template,
    )
    register_scanner(JourneyTrigger.COUPON_EXPIRING, coupons_expiring)
    register_scanner(JourneyTrigger.NO_PURCHASE, lapsed_buyers)
