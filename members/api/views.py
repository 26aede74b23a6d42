from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response

from crm.csvexport import csv_lines, csv_response
from crm.privacy import EXPORT_PERMISSION, export_rows

from .. import qr
from ..actions import (
    adjust_points,
    issue_coupon,
    issue_to_segment,
    join_membership,
    redeem_coupon,
    refund_through_platform,
)
from ..actions.orders import OrderError
from ..actions.pos import (
    device_store,
    membership_from_code,
    record_pos_sale,
    start_pos_charge,
)
from ..filtersets import (
    CouponFilterSet,
    CouponTemplateFilterSet,
    MembershipFilterSet,
    OrderFilterSet,
)
from ..models import Coupon, CouponTemplate, Membership, Order, PosCharge
from .pos_auth import NEEDS_DEVICE, IsPosDevice, PosDeviceAuthentication, PosDeviceThrottle
from .serializers import (
    CouponSerializer,
    CouponTemplateSerializer,
    IssueSerializer,
    MemberCodeSerializer,
    MembershipSerializer,
    OrderSerializer,
    PointsAdjustSerializer,
    PointsEntrySerializer,
    PosChargeRequestSerializer,
    PosChargeSerializer,
    PosSaleRequestSerializer,
    RedeemSerializer,
    RefundRequestSerializer,
    RefundSerializer,
)


def _csv(header, rows, filename):
    return csv_response(csv_lines(header, rows), filename)


def _local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


class MembershipViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Members. Creating one joins the customer (stage `member`); `points` is the ledger."""

    queryset = Membership.objects.select_related("customer", "tier")
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    ordering_fields = ["joined_at", "points_balance", "member_number", "id"]
    ordering = ["-joined_at", "-id"]
    # A member list is a customer list with phones: the customer export's permission and audit.
    action_permissions = {"export": ["members.view_membership", EXPORT_PERMISSION]}

    def get_permissions(self):
        if self.action == "points":
            wanted = ["members.view_pointsentry"]
            if self.request.method == "POST":
                wanted.append("members.add_pointsentry")
            self.action_permissions = {**self.action_permissions, "points": wanted}
        return super().get_permissions()

    def perform_create(self, serializer):
        data = serializer.validated_data
        membership, _created = join_membership(data["customer"], via=data["joined_via"])
        serializer.instance = membership

    @extend_schema(request=PointsAdjustSerializer, responses=PointsEntrySerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def points(self, request, pk=None):
        """GET the member's ledger, newest first; POST an adjustment with a reason."""
        membership = self.get_object()
        if request.method == "POST":
            body = PointsAdjustSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
            reference = data.get("reference") or f"{timezone.now().timestamp():.6f}"
            entry, created = adjust_points(
                membership,
                data["points"],
                source_ref=f"adjust:{membership.pk}:{reference}",
                reason=data["reason"],
                by=request.user,
            )
            return Response(
                PointsEntrySerializer(entry).data,
                status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            )
        page = self.paginate_queryset(membership.points_entries.order_by("-occurred_at", "-id"))
        return self.get_paginated_response(PointsEntrySerializer(page, many=True).data)

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The filtered members as CSV; audited, and only for users who may export customers."""
        lines = export_rows(
            "members.Membership",
            self.filter_queryset(self.get_queryset()),
            ["会员号", "客户编号", "姓名", "手机", "等级", "积分", "入会渠道", "入会时间"],
            lambda m: [
                m.member_number,
                m.customer_id,
                m.customer.name,
                m.customer.phone,
                m.tier.name if m.tier else "",
                m.points_balance,
                m.get_joined_via_display(),
                _local(m.joined_at),
            ],
            by=request.user,
            via="through the API",
            noun="members",
            query=request.GET.urlencode(),
        )
        return csv_response(lines, "members.csv")


class CouponTemplateViewSet(viewsets.ModelViewSet):
    """Coupon templates; `issue` gives coupons to one customer or a whole segment."""

    queryset = CouponTemplate.objects.prefetch_related("stores")
    serializer_class = CouponTemplateSerializer
    filterset_class = CouponTemplateFilterSet
    ordering_fields = ["created_at", "name", "issued_count", "id"]
    ordering = ["-created_at", "-id"]
    action_permissions = {"issue": ["members.add_coupon"]}

    @extend_schema(request=IssueSerializer, responses=CouponSerializer)
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        template = self.get_object()
        body = IssueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data.get("segment"):
            result = issue_to_segment(template, data["segment"])
            return Response(result, status=status.HTTP_200_OK)
        coupon = issue_coupon(
            template,
            data["customer"],
            via=data["via"],
            campaign=data["campaign"],
            notify=data["via"] == "wechat",
        )
        return Response(CouponSerializer(coupon).data, status=status.HTTP_201_CREATED)


class CouponViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Issued coupons, looked up by code; `redeem` uses one at a store (once, atomically)."""

    queryset = Coupon.objects.select_related("template", "redeemed_store", "redeemed_order")
    serializer_class = CouponSerializer
    filterset_class = CouponFilterSet
    lookup_field = "code"
    ordering_fields = ["issued_at", "redeemed_at", "expires_at", "id"]
    ordering = ["-issued_at", "-id"]
    action_permissions = {"redeem": ["members.change_coupon"]}

    @extend_schema(request=RedeemSerializer, responses=CouponSerializer)
    @action(detail=True, methods=["post"])
    def redeem(self, request, code=None):
        body = RedeemSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        coupon = redeem_coupon(
            code, store=body.validated_data["store"], order=body.validated_data.get("order")
        )
        return Response(CouponSerializer(coupon).data)


class OrderViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Orders from WeChat Pay and the POS; `refund` returns money (and takes back points)."""

    queryset = Order.objects.select_related("store", "coupon")
    serializer_class = OrderSerializer
    filterset_class = OrderFilterSet
    ordering_fields = ["created_at", "paid_at", "amount_fen", "id"]
    ordering = ["-created_at", "-id"]
    action_permissions = {
        "refund": ["members.add_refund", "members.change_order"],
        "export": ["members.view_order"],
    }

    @extend_schema(request=RefundRequestSerializer, responses=RefundSerializer)
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        order = self.get_object()
        body = RefundRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refund = refund_through_platform(
            order,
            body.validated_data["amount_fen"],
            reason=body.validated_data["reason"],
            by=request.user,
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=False, methods=["get"])
    def export(self, request):
        rows = self.filter_queryset(self.get_queryset()).iterator(chunk_size=2000)
        return _csv(
            [
                "订单号",
                "微信支付单号",
                "客户编号",
                "金额(元)",
                "渠道",
                "门店",
                "状态",
                "支付时间",
                "已退款(元)",
            ],
            (
                [
                    o.out_trade_no,
                    o.transaction_id or "",
                    o.customer_id or "",
                    o.amount_yuan,
                    o.get_channel_display(),
                    o.store.code if o.store else "",
                    o.get_status_display(),
                    _local(o.paid_at),
                    f"{o.refunded_fen / 100:.2f}",
                ]
                for o in rows
            ),
            "orders.csv",
        )


class PosChargeViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The POS API, for tills authenticated as a POS device of one store (`pos_auth`): start a
    WeChat Pay charge (QR code), poll it, record cash sales, identify members by their card code.
    A device sees only its own store's charges; staff tokens are refused (401)."""

    queryset = PosCharge.objects.select_related(
        "order", "store", "order__customer__membership__tier"
    )
    serializer_class = PosChargeSerializer
    authentication_classes = [PosDeviceAuthentication]
    permission_classes = [IsPosDevice]
    throttle_classes = [PosDeviceThrottle]

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise NotAuthenticated(NEEDS_DEVICE)
        super().permission_denied(request, message, code)

    def get_queryset(self):
        return super().get_queryset().filter(store_id=self.request.auth.store_id)

    @extend_schema(request=PosChargeRequestSerializer, responses=PosChargeSerializer)
    def create(self, request):
        body = PosChargeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            store = device_store(request.auth, data.pop("store"))
            charge = start_pos_charge(store=store, **data)
        except OrderError as exc:
            if exc.reason == "payment":
                return Response(exc.message_dict, status=status.HTTP_502_BAD_GATEWAY)
            raise  # a refusal: crm.api.errors makes it a 400
        data = PosChargeSerializer(charge, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "image/svg+xml"): str})
    @action(detail=True, methods=["get"], url_path="qr.svg")
    def qr_svg(self, request, pk=None):
        return HttpResponse(qr.svg(self.get_object().code_url), content_type="image/svg+xml")

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="qr.png")
    def qr_png(self, request, pk=None):
        return HttpResponse(qr.png(self.get_object().code_url), content_type="image/png")

    @extend_schema(request=PosSaleRequestSerializer, responses=OrderSerializer)
    @action(detail=False, methods=["post"])
    def sale(self, request):
        """A cash or card sale: a paid order at once (points, stage, coupon)."""
        body = PosSaleRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        data.pop("description")  # a sale's description is its payment method
        order = record_pos_sale(device=request.auth, **data)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberCodeSerializer, responses=MembershipSerializer)
    @action(detail=False, methods=["post"])
    def identify(self, request):
        """Who is this? The member behind a scanned member card QR code."""
        body = MemberCodeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = membership_from_code(body.validated_data["member_code"])
        return Response(MembershipSerializer(membership).data)
