from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from crm.models import Customer, Segment

from ..models import (
    Coupon,
    CouponTemplate,
    JoinedVia,
    Membership,
    Order,
    PointsEntry,
    PosCharge,
    Refund,
    Store,
)


class MembershipSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.active())
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    tier = serializers.CharField(source="tier.name", read_only=True, default=None)
    joined_via = serializers.ChoiceField(choices=JoinedVia.choices)

    class Meta:
        model = Membership
        fields = [
            "id",
            "customer",
            "customer_name",
            "member_number",
            "tier",
            "points_balance",
            "joined_at",
            "joined_via",
            "tier_changed_at",
        ]
        read_only_fields = ["member_number", "points_balance", "joined_at", "tier_changed_at"]


class PointsEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsEntry
        fields = ["id", "kind", "points", "balance_after", "reason", "source_ref", "occurred_at"]


class PointsAdjustSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    reason = serializers.CharField(max_length=200)
    reference = serializers.CharField(
        max_length=100, required=False, help_text=_("Idempotency key: the same one adjusts once.")
    )


class CouponTemplateSerializer(serializers.ModelSerializer):
    stores = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Store.objects.all(), required=False
    )

    class Meta:
        model = CouponTemplate
        fields = [
            "id",
            "name",
            "kind",
            "value",
            "min_spend_fen",
            "description",
            "valid_from",
            "valid_until",
            "valid_days",
            "stock",
            "issued_count",
            "per_customer_limit",
            "stores",
            "active",
            "public_claim",
            "claim_starts_at",
            "claim_ends_at",
            "created_at",
        ]
        read_only_fields = ["issued_count", "created_at"]


class IssueSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.active(), required=False
    )
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(), required=False)
    via = serializers.ChoiceField(
        choices=["wechat", "weibo_campaign", "pos", "admin"], default="admin"
    )
    campaign = serializers.CharField(max_length=100, required=False, default="")

    def validate(self, attrs):
        if bool(attrs.get("customer")) == bool(attrs.get("segment")):
            raise serializers.ValidationError(
                {"customer": [_("Give either a customer or a segment.")]}
            )
        return attrs


class CouponSerializer(serializers.ModelSerializer):
    template_name = serializers.CharField(source="template.name", read_only=True)
    redeemed_store = serializers.CharField(
        source="redeemed_store.code", read_only=True, default=None
    )
    redeemed_order = serializers.CharField(
        source="redeemed_order.out_trade_no", read_only=True, default=None
    )

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "template",
            "template_name",
            "customer",
            "issued_via",
            "campaign",
            "issued_at",
            "expires_at",
            "state",
            "redeemed_at",
            "redeemed_store",
            "redeemed_order",
        ]


class RedeemSerializer(serializers.Serializer):
    store = serializers.SlugRelatedField(slug_field="code", queryset=Store.objects.all())
    order = serializers.SlugRelatedField(
        slug_field="out_trade_no", queryset=Order.objects.all(), required=False
    )


class OrderSerializer(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code", read_only=True, default=None)
    coupon = serializers.CharField(source="coupon.code", read_only=True, default=None)

    class Meta:
        model = Order
        fields = [
            "id",
            "out_trade_no",
            "transaction_id",
            "customer",
            "amount_fen",
            "discount_fen",
            "channel",
            "store",
            "status",
            "coupon",
            "created_at",
            "paid_at",
            "refunded_fen",
            "flags",
        ]


class RefundRequestSerializer(serializers.Serializer):
    amount_fen = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=200, required=False, default="")


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", *Refund.RECORD_FIELDS]


class PosChargeRequestSerializer(serializers.Serializer):
    store = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Store.objects.all(),
        required=False,
        default=None,
        help_text=_("Optional: the device's own store (any other is refused)."),
    )
    amount_fen = serializers.IntegerField(min_value=1, max_value=10**9)
    member_code = serializers.CharField(max_length=500, required=False, default="")
    coupon_code = serializers.CharField(max_length=32, required=False, default="")
    description = serializers.CharField(max_length=100, required=False, default="")


class PosSaleRequestSerializer(PosChargeRequestSerializer):
    method = serializers.ChoiceField(choices=[("cash", _("Cash")), ("card", _("Bank card"))])


class MemberCodeSerializer(serializers.Serializer):
    member_code = serializers.CharField(max_length=500)


class PosChargeSerializer(serializers.ModelSerializer):
    out_trade_no = serializers.CharField(source="order.out_trade_no")
    status = serializers.CharField(source="order.status")
    amount_fen = serializers.IntegerField(source="order.amount_fen")
    discount_fen = serializers.IntegerField(source="order.discount_fen")
    store = serializers.CharField(source="store.code")
    paid_at = serializers.DateTimeField(source="order.paid_at")
    transaction_id = serializers.CharField(source="order.transaction_id")
    customer = serializers.IntegerField(source="order.customer_id")
    member = serializers.SerializerMethodField()
    qr_svg_url = serializers.SerializerMethodField()
    qr_png_url = serializers.SerializerMethodField()

    class Meta:
        model = PosCharge
        fields = [
            "id",
            "out_trade_no",
            "status",
            "store",
            "amount_fen",
            "discount_fen",
            "code_url",
            "qr_svg_url",
            "qr_png_url",
            "customer",
            "member",
            "transaction_id",
            "paid_at",
            "created_at",
        ]

    def get_member(self, obj) -> dict | None:
        customer = obj.order.customer
        membership = getattr(customer, "membership", None) if customer else None
        if membership is None:
            return None
        return {
            "member_number": membership.member_number,
            "tier": membership.tier.name if membership.tier else None,
            "points_balance": membership.points_balance,
        }

    def _url(self, obj, suffix):
        request = self.context.get("request")
        path = f"/api/v1/pos/charges/{obj.pk}/qr.{suffix}"
        return request.build_absolute_uri(path) if request else path

    def get_qr_svg_url(self, obj) -> str:
        return self._url(obj, "svg")

    def get_qr_png_url(self, obj) -> str:
        return self._url(obj, "png")
