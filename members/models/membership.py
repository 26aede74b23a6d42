"""Membership, tiers and the points ledger."""

from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.fields import staff_reference
from crm.models import Customer


class Tier(models.Model):
    """A membership level. A member holds the highest-ranked tier whose threshold they meet.

    The threshold is measured over the last 12 months: points earned (`points`) or money spent
    on paid orders net of refunds, in fen (`spend`). Rank 0 is the entry tier (threshold 0).
    """

    class Basis(models.TextChoices):
        POINTS = "points", _("Points earned in 12 months")
        SPEND = "spend", _("Spend in 12 months (fen)")

    name = models.CharField(_("name"), max_length=64, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    basis = models.CharField(_("threshold basis"), max_length=8, choices=Basis.choices)
    threshold = models.PositiveBigIntegerField(_("threshold"), default=0)
    benefits = models.CharField(_("benefits"), max_length=255, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")

    def __str__(self) -> str:
        return self.name


class JoinedVia(models.TextChoices):
    WECHAT = "wechat", _("WeChat")
    POS = "pos", _("POS")
    WEIBO_CAMPAIGN = "weibo_campaign", _("Weibo campaign")
    IMPORT = "import", _("Import")


class Membership(models.Model):
    """A customer's membership: number, tier and points balance.

    `points_balance` is always the sum of the member's PointsEntry rows (the ledger); it is only
    changed by `members.actions.points`, in the same transaction as the entry, and never below 0.
    """

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="membership"
    )
    member_number = models.CharField(_("member number"), max_length=20, unique=True)
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    points_balance = models.BigIntegerField(_("points balance"), default=0)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    joined_via = models.CharField(_("joined via"), max_length=16, choices=JoinedVia.choices)
    tier_changed_at = models.DateTimeField(_("tier changed at"), null=True, blank=True)

    class Meta:
        ordering = ["-joined_at", "-id"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=Q(points_balance__gte=0), name="membership_points_not_negative"
            )
        ]

    def __str__(self) -> str:
        return self.member_number

    def ledger_sum(self) -> int:
        return self.points_entries.aggregate(s=Sum("points"))["s"] or 0


class PointsKind(models.TextChoices):
    EARN = "earn", _("Earned")
    SPEND = "spend", _("Spent")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted")


class PointsEntry(models.Model):
    """One movement of a member's points: an immutable ledger row.

    `points` is signed (earn > 0; spend and expire < 0; adjust either way). `source_ref` names what
    caused it (`order:<out_trade_no>`, `refund:<out_refund_no>`...) and is unique, so the same
    cause never moves points twice. `balance_after` is the balance right after this entry.
    """

    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="points_entries",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=PointsKind.choices)
    points = models.BigIntegerField(_("points"))
    balance_after = models.BigIntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source_ref = models.CharField(_("source reference"), max_length=128, unique=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now, db_index=True)
    created_by = staff_reference(_("created by"))

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason}"


class PayerOpenid(models.Model):
    """An openid (per WeChat appid) known to belong to a customer.

    Learned only when a person signs in to the member pages through WeChat OAuth, so later
    payment notifications (which carry only the openid) find the customer. Paying an order never
    teaches one: anyone may pay someone else's order (members.actions.orders.mark_order_paid).
    """

    appid = models.CharField(_("appid"), max_length=32)
    openid = models.CharField(_("openid"), max_length=64)
    unionid = models.CharField(_("unionid"), max_length=64, blank=True)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="payer_openids"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("payer openid")
        verbose_name_plural = _("payer openids")
        constraints = [
            models.UniqueConstraint(fields=["appid", "openid"], name="uniq_payer_openid")
        ]

    def __str__(self) -> str:
        return self.openid


def customer_tier_name(customer) -> str | None:
    """The name of the customer's membership tier, or None (crm's tier routing rules ask)."""
    return (
        Membership.objects.filter(customer_id=customer.pk)
        .values_list("tier__name", flat=True)
        .first()
    )
