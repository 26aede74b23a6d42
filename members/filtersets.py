"""One FilterSet per model, used by the API lists."""

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Coupon, CouponTemplate, Membership, Order


class MembershipFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("member number, name or phone"))
    tier = django_filters.CharFilter(field_name="tier__name")
    joined = django_filters.DateFromToRangeFilter(field_name="joined_at")
    min_points = django_filters.NumberFilter(field_name="points_balance", lookup_expr="gte")

    class Meta:
        model = Membership
        fields = ["q", "tier", "joined_via", "joined", "min_points", "customer"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(member_number__iexact=value)
            | Q(customer__name__icontains=value)
            | Q(customer__phone=value)
        )


class OrderFilterSet(django_filters.FilterSet):
    store = django_filters.CharFilter(field_name="store__code")
    paid = django_filters.DateFromToRangeFilter(field_name="paid_at")
    flagged = django_filters.BooleanFilter(method="filter_flagged")
    min_amount_fen = django_filters.NumberFilter(field_name="amount_fen", lookup_expr="gte")

    class Meta:
        model = Order
        fields = [
            "status",
            "channel",
            "store",
            "customer",
            "paid",
            "flagged",
            "out_trade_no",
            "min_amount_fen",
        ]

    def filter_flagged(self, queryset, name, value):
        return queryset.exclude(flags={}) if value else queryset.filter(flags={})


class CouponFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("valid", _("Valid")), ("redeemed", _("Redeemed")), ("expired", _("Expired"))],
        method="filter_state",
    )
    store = django_filters.CharFilter(field_name="redeemed_store__code")

    class Meta:
        model = Coupon
        fields = ["template", "customer", "issued_via", "state", "store", "campaign"]

    def filter_state(self, queryset, name, value):
        now = timezone.now()
        if value == "redeemed":
            return queryset.filter(redeemed_at__isnull=False)
        expired = Q(redeemed_at__isnull=True, expires_at__lte=now)
        if value == "expired":
            return queryset.filter(expired)
        return queryset.filter(redeemed_at__isnull=True).exclude(expired)


class CouponTemplateFilterSet(django_filters.FilterSet):
    class Meta:
        model = CouponTemplate
        fields = ["kind", "active"]
