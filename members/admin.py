"""Admin for every members model: lists with the filters and searches staff use."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm.admin.readonly import ReadOnlyAdmin
from crm.fields import SecretFieldsAdminMixin
from crm.staff_phones import PhoneSearchAdminMixin

from .actions import join_membership
from .models import (
    Coupon,
    CouponTemplate,
    Membership,
    MerchantConfig,
    Order,
    PayerOpenid,
    PaymentNotification,
    PointsEntry,
    PosCharge,
    PosDevice,
    Refund,
    Store,
    Tier,
)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["rank", "name", "basis", "threshold", "benefits"]
    list_display_links = ["name"]


class PointsEntryInline(admin.TabularInline):
    model = PointsEntry
    extra = 0
    can_delete = False
    fields = ("occurred_at", "kind", "points", "balance_after", "reason", "source_ref")
    readonly_fields = ("occurred_at", "kind", "points", "balance_after", "reason", "source_ref")
    ordering = ["-occurred_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False  # the ledger is written by actions only


@admin.register(Membership)
class MembershipAdmin(PhoneSearchAdminMixin, admin.ModelAdmin):
    list_display = [
        "member_number",
        "customer",
        "tier",
        "points_balance",
        "joined_via",
        "joined_at",
    ]
    list_filter = ["tier", "joined_via", "joined_at"]
    search_fields = ["member_number", "customer__name", "customer__phone"]
    raw_id_fields = ["customer"]
    readonly_fields = ["points_balance", "tier_changed_at"]
    inlines = [PointsEntryInline]
    date_hierarchy = "joined_at"

    def get_readonly_fields(self, request, obj=None):
        # A new member's number and entry tier are join_membership's to give.
        if obj is None:
            return [*self.readonly_fields, "member_number", "tier"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        # Joining here is joining as through the API: stage `member`, leads converted, timeline.
        if change:
            return super().save_model(request, obj, form, change)
        membership, _created = join_membership(obj.customer, via=obj.joined_via, at=obj.joined_at)
        obj.pk = membership.pk
        obj.refresh_from_db()


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "membership", "kind", "points", "balance_after", "reason"]
    list_filter = ["kind", "occurred_at"]
    search_fields = ["membership__member_number", "source_ref", "reason"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "active"]
    list_filter = ["city", "active"]
    search_fields = ["code", "name"]


@admin.register(MerchantConfig)
class MerchantConfigAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """The three keys are write-only (crm.fields.SecretFormField): "set" / "not set" and an
    input that replaces the stored value; empty keeps it."""

    list_display = ["mchid", "name", "appid", "sign_type", "active"]
    fields = [
        "mchid",
        "name",
        "appid",
        "app_secret",
        "api_key",
        "sign_type",
        "apiv3_key",
        "platform_serial",
        "platform_public_key",
        "active",
    ]


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    readonly_fields = fields = Refund.RECORD_FIELDS

    def has_add_permission(self, request, obj=None):
        return False


class FlaggedFilter(admin.SimpleListFilter):
    title = _("flags")
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", _("Flagged (amount mismatch, coupon failed)"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(flags={})
        return queryset


@admin.register(Order)
class OrderAdmin(PhoneSearchAdminMixin, ReadOnlyAdmin):
    """Orders as paid, read-only for every role: an order's amount and state come from WeChat
    Pay's notifications and the POS (members.actions); a status typed here would change
    revenue and points without a refund. Refunds go through the order API's `refund`."""

    list_display = [
        "out_trade_no",
        "customer",
        "amount_yuan",
        "channel",
        "store",
        "status",
        "paid_at",
        "flags",
    ]
    list_filter = ["status", "channel", "store", FlaggedFilter, "paid_at"]
    search_fields = ["out_trade_no", "transaction_id", "customer__name", "customer__phone"]
    raw_id_fields = ["customer", "coupon"]
    readonly_fields = ["transaction_id", "paid_at", "refunded_fen", "flags", "payer_openid"]
    inlines = [RefundInline]
    date_hierarchy = "created_at"

    @admin.display(description=_("amount (yuan)"), ordering="amount_fen")
    def amount_yuan(self, obj):
        return obj.amount_yuan


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    """Refunds as recorded, read-only: a refund is made through the order's API `refund`
    (`members.actions.refund_through_platform`, which asks WeChat Pay) or recorded from WeChat
    Pay's notification; a row written here would change neither the order nor the points."""

    list_display = ["out_refund_no", "order", "amount_fen", "points_reversed", "created_at"]
    search_fields = ["out_refund_no", "order__out_trade_no"]
    raw_id_fields = ["order"]


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "mchid",
        "api_version",
        "out_trade_no",
        "transaction_id",
        "amount_fen",
        "outcome",
        "order",
    ]
    list_filter = ["outcome", "api_version", "mchid"]
    search_fields = ["out_trade_no", "transaction_id", "payer_openid"]
    readonly_fields = [f.name for f in PaymentNotification._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PosCharge)
class PosChargeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "store", "order", "code_url"]
    list_filter = ["store"]
    search_fields = ["order__out_trade_no"]
    raw_id_fields = ["order"]


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "value",
        "valid_until",
        "valid_days",
        "stock",
        "issued_count",
        "active",
    ]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    readonly_fields = ["issued_count"]


@admin.register(Coupon)
class CouponAdmin(PhoneSearchAdminMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "template",
        "customer",
        "issued_via",
        "issued_at",
        "expires_at",
        "redeemed_at",
        "redeemed_store",
    ]
    list_filter = ["template", "issued_via", "redeemed_store", "issued_at"]
    search_fields = ["code", "customer__name", "customer__phone", "campaign"]
    raw_id_fields = ["customer", "redeemed_order"]


@admin.register(PayerOpenid)
class PayerOpenidAdmin(admin.ModelAdmin):
    list_display = ["openid", "appid", "unionid", "customer", "created_at"]
    search_fields = ["openid", "unionid"]
    raw_id_fields = ["customer"]


@admin.register(PosDevice)
class PosDeviceAdmin(admin.ModelAdmin):
    """A store's tills. Adding one issues its key, shown once in the message that follows (only
    its hash is stored); "Issue a new key" replaces a lost or leaked key at once."""

    list_display = ["name", "store", "key_prefix", "active", "last_used_at", "created_at"]
    list_filter = ["active", "store"]
    search_fields = ["name", "store__code", "store__name"]
    fields = [
        "store",
        "name",
        "active",
        "key_prefix",
        "key_issued_at",
        "created_by",
        "last_used_at",
    ]
    readonly_fields = ["key_prefix", "key_issued_at", "created_by", "last_used_at"]
    actions = ["issue_new_key"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        from .actions.pos import issue_pos_device_key

        self._show_key(request, obj, issue_pos_device_key(obj, by=request.user))

    @admin.action(
        description=_("Issue a new key (the old one stops working)"), permissions=["change"]
    )
    def issue_new_key(self, request, queryset):
        from .actions.pos import issue_pos_device_key

        for device in queryset.select_related("store"):
            self._show_key(request, device, issue_pos_device_key(device))

    def _show_key(self, request, device, key: str) -> None:
        self.message_user(
            request,
            _(
                "POS device %(device)s: its key is %(key)s. Enter it in the till now "
                "(Authorization: PosDevice <key>); it is not shown again."
            )
            % {"device": device, "key": key},
            level="warning",
        )


from . import admin_phone  # noqa: E402, F401  (registers the phone verification admin)
