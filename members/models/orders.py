"""Stores, WeChat Pay merchants, orders, refunds, payment notifications and POS charges."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.fields import EncryptedTextField, staff_reference
from crm.models import Customer, RawDelivery


class Store(models.Model):
    """A shop where POS charges are taken and coupons redeemed; `code` is the POS's name for it."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class MerchantConfig(models.Model):
    """A WeChat Pay merchant account (商户号) and the keys that check its notifications.

    `api_key` signs API v2 requests and notifications (MD5 or HMAC-SHA256, per `sign_type`);
    `apiv3_key` decrypts API v3 notification resources (AES-256-GCM); `platform_public_key` is
    the WeChat Pay platform certificate or public key (PEM) that verifies v3 notification
    signatures, `platform_serial` its serial or public-key id. `app_secret` is the secret of the
    Official Account `appid`, used for the member pages' OAuth. Secrets are encrypted at rest.
    """

    class SignType(models.TextChoices):
        MD5 = "MD5", "MD5"
        HMAC_SHA256 = "HMAC-SHA256", "HMAC-SHA256"

    mchid = models.CharField(_("merchant id (mchid)"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    appid = models.CharField(_("appid"), max_length=32)
    app_secret = EncryptedTextField(_("app secret (OAuth)"), blank=True)
    api_key = EncryptedTextField(_("API v2 key"), blank=True)
    sign_type = models.CharField(
        _("v2 sign type"), max_length=16, choices=SignType.choices, default=SignType.MD5
    )
    apiv3_key = EncryptedTextField(_("APIv3 key"), blank=True)
    platform_serial = models.CharField(_("platform certificate serial"), max_length=80, blank=True)
    platform_public_key = models.TextField(
        _("platform public key or certificate (PEM)"), blank=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["mchid"]
        verbose_name = _("WeChat Pay merchant")
        verbose_name_plural = _("WeChat Pay merchants")

    def __str__(self) -> str:
        return f"{self.name or self.mchid}"

    def __repr__(self) -> str:  # never the keys
        return f"<MerchantConfig {self.mchid}>"


class OrderChannel(models.TextChoices):
    JSAPI = "jsapi", _("WeChat Pay JSAPI")
    NATIVE = "native", _("WeChat Pay Native")
    POS = "pos", _("POS (WeChat Pay)")
    CASH = "cash", _("Cash or card at POS")


class OrderStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    CLOSED = "closed", _("Closed")


PAID_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


class Order(models.Model):
    """A purchase: a WeChat Pay order (JSAPI/Native, POS QR) or a cash/card sale at a POS.

    Amounts are integer fen. `paid_at` is when the platform says it was paid (UTC).
    `flags` records anomalies for staff, e.g. `{"amount_mismatch": {"expected": 100,
    "notified": 1}}`; a flagged order is shown in the admin and not treated as paid.
    """

    out_trade_no = models.CharField(_("out_trade_no"), max_length=32, unique=True)
    transaction_id = models.CharField(
        _("WeChat transaction id"), max_length=32, unique=True, null=True, blank=True
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    merchant = models.ForeignKey(
        MerchantConfig,
        verbose_name=_("merchant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    channel = models.CharField(_("channel"), max_length=8, choices=OrderChannel.choices)
    description = models.CharField(_("description"), max_length=128, blank=True)
    amount_fen = models.PositiveBigIntegerField(_("amount (fen)"))
    discount_fen = models.PositiveBigIntegerField(_("coupon discount (fen)"), default=0)
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED
    )
    payer_openid = models.CharField(_("payer openid"), max_length=64, blank=True)
    coupon = models.ForeignKey(
        "members.Coupon",
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True, db_index=True)
    refunded_fen = models.PositiveBigIntegerField(_("refunded (fen)"), default=0)
    flags = models.JSONField(_("flags"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [models.Index(fields=["customer", "-paid_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=models.F("amount_fen")),
                name="order_refund_not_above_amount",
            )
        ]

    def __str__(self) -> str:
        return self.out_trade_no

    @property
    def amount_yuan(self) -> str:
        return f"{self.amount_fen / 100:.2f}"


class Refund(models.Model):
    """Money returned on a paid order (whole or part), with the points it took back."""

    # What a refund records; written by the refund actions only, so read-only everywhere.
    RECORD_FIELDS = (
        "out_refund_no",
        "refund_id",
        "amount_fen",
        "reason",
        "points_reversed",
        "created_at",
    )

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="refunds"
    )
    out_refund_no = models.CharField(_("out_refund_no"), max_length=64, unique=True)
    refund_id = models.CharField(_("WeChat refund id"), max_length=64, blank=True)
    amount_fen = models.PositiveBigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    points_reversed = models.BigIntegerField(_("points taken back"), default=0)
    created_at = models.DateTimeField(_("refunded at"), default=timezone.now)
    created_by = staff_reference(_("refunded by"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return self.out_refund_no


class PaymentNotification(models.Model):
    """One WeChat Pay notification as understood, next to its stored raw delivery.

    `outcome` says what it did: `paid` (the order became paid), `duplicate` (already applied),
    `unknown_order` and `amount_mismatch` (kept for staff to look at), `not_success` (a failed
    payment result) or `ignored` (an event type this app does not act on).
    """

    class Outcome(models.TextChoices):
        PAID = "paid", _("Order paid")
        DUPLICATE = "duplicate", _("Duplicate")
        UNKNOWN_ORDER = "unknown_order", _("Unknown order")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs from the order")
        NOT_SUCCESS = "not_success", _("Payment not successful")
        IGNORED = "ignored", _("Ignored")
        REFUNDED = "refunded", _("Refund recorded")
        REFUND_NOT_SUCCESS = "refund_failed", _("Refund not successful")
        REFUND_REFUSED = "refund_refused", _("Refund does not fit the order")

    raw = models.OneToOneField(
        RawDelivery,
        verbose_name=_("raw delivery"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    mchid = models.CharField(_("mchid"), max_length=32)
    api_version = models.CharField(_("API version"), max_length=4)
    out_trade_no = models.CharField(_("out_trade_no"), max_length=32, blank=True, db_index=True)
    transaction_id = models.CharField(_("transaction id"), max_length=32, blank=True, db_index=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"), null=True, blank=True)
    payer_openid = models.CharField(_("payer openid"), max_length=64, blank=True)
    order = models.ForeignKey(
        Order,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    data = models.JSONField(_("fields"), default=dict)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("payment notification")
        verbose_name_plural = _("payment notifications")

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.outcome}"


class PosCharge(models.Model):
    """A charge started at a POS: the QR code the customer scans and the order it pays."""

    order = models.OneToOneField(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="pos_charge"
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="charges"
    )
    code_url = models.CharField(_("code_url"), max_length=255, blank=True)
    created_by = staff_reference(_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("POS charge")
        verbose_name_plural = _("POS charges")

    def __str__(self) -> str:
        return f"{self.store.code} {self.order.out_trade_no}"
