"""Coupons (卡券): templates and the coupons issued from them."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Customer

from .orders import Order, Store


class CouponKind(models.TextChoices):
    CASH = "cash", _("Cash off (fen)")
    DISCOUNT = "discount", _("Discount (percent paid)")
    GIFT = "gift", _("Gift")


class IssuedVia(models.TextChoices):
    WECHAT = "wechat", _("WeChat message")
    WEIBO_CAMPAIGN = "weibo_campaign", _("Weibo campaign link")
    POS = "pos", _("POS")
    SEGMENT = "segment", _("Bulk to a segment")
    ADMIN = "admin", _("Staff")
    JOURNEY = "journey", _("Journey")


class CouponTemplateQuerySet(models.QuerySet):
    def claimable(self, at):
        """Templates anyone signed in may claim through `/m/claim/<id>` at `at`: active, marked
        `public_claim`, and inside the claim window (an empty end is open)."""
        return (
            self.filter(active=True, public_claim=True)
            .exclude(claim_starts_at__gt=at)
            .exclude(claim_ends_at__lte=at)
        )


class CouponTemplate(models.Model):
    """What a coupon is worth, when it is valid, how many exist and where it can be used.

    `value`: fen off for `cash`; the percentage paid for `discount` (85 = 15% off, 八五折); unused
    for `gift`. A coupon is valid from issue until `valid_until`, or for `valid_days` after issue,
    whichever is sooner. `stock` null = unlimited. `per_customer_limit`: how many one customer may
    hold and redeem. No `stores` = every store.

    `public_claim`: the template may be handed out by its public claim link (`/m/claim/<id>`,
    shared on Weibo, say) to whoever signs in, from `claim_starts_at` until `claim_ends_at`
    (empty = no bound). Off by default: VIP, compensation and segment templates are issued only
    by staff or to a segment, and their claim link answers 404.
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=CouponKind.choices)
    value = models.PositiveIntegerField(_("value"), default=0)
    min_spend_fen = models.PositiveBigIntegerField(_("minimum spend (fen)"), default=0)
    description = models.CharField(_("description"), max_length=255, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(_("valid days after issue"), null=True, blank=True)
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)
    issued_count = models.PositiveIntegerField(_("issued"), default=0)
    per_customer_limit = models.PositiveIntegerField(_("per-customer limit"), default=1)
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    public_claim = models.BooleanField(
        _("claimable by public link"),
        default=False,
        help_text=_("Anyone who opens the claim link /m/claim/<id> may take one."),
    )
    claim_starts_at = models.DateTimeField(_("claim link opens"), null=True, blank=True)
    claim_ends_at = models.DateTimeField(_("claim link closes"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = CouponTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if (
            self.claim_starts_at
            and self.claim_ends_at
            and self.claim_ends_at <= self.claim_starts_at
        ):
            raise ValidationError({"claim_ends_at": _("The claim link must close after it opens.")})

    def expiry_for(self, issued_at):
        candidates = [d for d in (self.valid_until,) if d]
        if self.valid_days:
            candidates.append(issued_at + timedelta(days=self.valid_days))
        return min(candidates) if candidates else None

    def discount_for(self, amount_fen: int) -> int:
        """Fen taken off an order of `amount_fen` by one coupon of this template."""
        if self.kind == CouponKind.CASH:
            return min(self.value, amount_fen)
        if self.kind == CouponKind.DISCOUNT:
            return amount_fen - (amount_fen * self.value) // 100
        return 0


class Coupon(models.Model):
    """One coupon held by one customer; redeemed at most once."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    template = models.ForeignKey(
        CouponTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="coupons"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="coupons"
    )
    issued_via = models.CharField(_("issued via"), max_length=16, choices=IssuedVia.choices)
    campaign = models.CharField(_("campaign or segment"), max_length=100, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_store = models.ForeignKey(
        Store,
        verbose_name=_("redeemed at store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    redeemed_order = models.ForeignKey(
        Order,
        verbose_name=_("redeemed on order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [models.Index(fields=["customer", "template"])]

    def __str__(self) -> str:
        return self.code

    @property
    def state(self) -> str:
        if self.redeemed_at:
            return "redeemed"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "valid"
