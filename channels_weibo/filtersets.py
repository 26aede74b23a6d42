"""One FilterSet per model, used by the API lists and the listening page."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from .models import KeywordRule, KolCategory, SentimentLabel, WeiboAccount, WeiboPost


class PostFilterSet(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__uid", label=_("account uid"))
    sentiment = django_filters.MultipleChoiceFilter(
        field_name="sentiment_label", choices=SentimentLabel.choices, label=_("sentiment")
    )
    keyword = django_filters.ModelChoiceFilter(
        queryset=KeywordRule.objects.all(), method="filter_keyword", label=_("keyword rule")
    )
    q = django_filters.CharFilter(field_name="text", lookup_expr="icontains", label=_("text"))
    verified = django_filters.BooleanFilter(field_name="author__verified", label=_("verified"))
    kol = django_filters.MultipleChoiceFilter(
        field_name="author__kol_category", choices=KolCategory.choices, label=_("KOL category")
    )
    author = django_filters.CharFilter(field_name="author__uid", label=_("author uid"))
    created = django_filters.DateFromToRangeFilter(field_name="created_at", label=_("posted"))

    class Meta:
        model = WeiboPost
        fields = ["account", "is_brand_post", "mentions_brand", "sentiment", "keyword", "q"]

    @extend_schema_field(OpenApiTypes.INT)  # the rule's id
    def filter_keyword(self, queryset, name, rule):
        # `keywords` holds [{"rule": id, "words": [...]}]; its JSON text is the same on
        # PostgreSQL and SQLite, so a text match works on both.
        if rule is None:
            return queryset
        return queryset.filter(keywords__icontains=f'"rule": {rule.pk},')


class AccountFilterSet(django_filters.FilterSet):
    class Meta:
        model = WeiboAccount
        fields = ["uid", "token_status", "active"]


class KeywordRuleFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="words", lookup_expr="icontains", label=_("word"))
    account = django_filters.CharFilter(field_name="accounts__uid", label=_("account uid"))

    class Meta:
        model = KeywordRule
        fields = [
            "active",
            "action_lead",
            "action_tag",
            "action_alert",
            "action_handoff",
            "q",
            "account",
        ]
