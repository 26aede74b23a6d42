"""One FilterSet per model, used by the API lists, the admin pages and saved segments."""

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import extend_schema_field

from .models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    Lead,
    LeadStatus,
    Segment,
    Stage,
    Tag,
    normalize_phone,
    team_scope,
)


class UTCDateTimeRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` / `<name>_before` as ISO 8601 datetimes, compared in UTC.

    Python accepts UTC offsets up to ±23:59 but PostgreSQL refuses those beyond ±15:59, so an
    offset such as -21:05 was a 500 (found by tests/security/test_api_fuzz.py).
    """

    def filter(self, qs, value):
        if value:
            start, stop = (
                None if v is None else v.astimezone(UTC) for v in (value.start, value.stop)
            )
            value = slice(start, stop)
        return super().filter(qs, value)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TagNameFilter(django_filters.ModelMultipleChoiceFilter):
    """Tags by name (`?tag=VIP&tag=母婴`): customers with any of them."""


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_lazy("name, phone or email"))
    # distinct=False: a plain column cannot repeat a row, and DISTINCT over every column made
    # a filtered page over 1,000,000 customers sort and hash the whole match (bench/api.py).
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    tag = TagNameFilter(
        field_name="tags__name",
        to_field_name="name",
        queryset=Tag.objects.all(),
        label=_lazy("tag"),
    )
    channel = django_filters.MultipleChoiceFilter(
        field_name="first_channel",
        choices=Channel.choices,
        label=_lazy("first-touch channel"),
        distinct=False,
    )
    city = django_filters.CharFilter()
    owner = django_filters.NumberFilter(field_name="owner_id")
    created = django_filters.DateFromToRangeFilter(field_name="created_at")
    has_phone = django_filters.BooleanFilter(method="filter_has_phone")
    consent_marketing = django_filters.BooleanFilter()

    class Meta:
        model = Customer
        fields = [
            "q",
            "stage",
            "tag",
            "channel",
            "city",
            "owner",
            "created",
            "gender",
            "has_phone",
            "consent_marketing",
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        query = Q(name__icontains=value) | Q(email__iexact=value.lower())
        try:
            query |= Q(phone=normalize_phone(value))
        except ValidationError:
            pass
        return queryset.filter(query)

    def filter_has_phone(self, queryset, name, value):
        return queryset.exclude(phone="") if value else queryset.filter(phone="")

    @classmethod
    def saved_field_names(cls) -> list[str]:
        """The query parameter names a segment may use (a date range expands to two)."""
        names = []
        for name, f in cls.base_filters.items():
            if isinstance(f, django_filters.DateFromToRangeFilter):
                names += [f"{name}_after", f"{name}_before"]
            else:
                names.append(name)
        return names

    @classmethod
    def validate_saved(cls, filters) -> dict:
        """Check a segment's saved filters; raise ValidationError naming the bad field."""
        if not isinstance(filters, dict):
            raise ValidationError({"filters": _("Filters must be an object of field: value.")})
        allowed = cls.saved_field_names()
        unknown = sorted(set(filters) - set(allowed))
        if unknown:
            raise ValidationError(
                {
                    "filters": _("Unknown filter field: %(fields)s. Allowed: %(allowed)s.")
                    % {"fields": ", ".join(unknown), "allowed": ", ".join(allowed)}
                }
            )
        filterset = cls(data=_as_query(filters), queryset=Customer.objects.active())
        if not filterset.is_valid():
            messages = [f"{field}: {' '.join(errs)}" for field, errs in filterset.errors.items()]
            raise ValidationError({"filters": "; ".join(messages)})
        return filters

    @classmethod
    def apply_saved(cls, filters):
        cls.validate_saved(filters)
        filterset = cls(data=_as_query(filters), queryset=Customer.objects.active())
        return filterset.qs.distinct()


def segment_customers(segment: Segment):
    """Active customers matching the segment's saved filters, as of now. Raises ValidationError
    if the filters no longer apply (a tag deleted since, say)."""
    return CustomerFilterSet.apply_saved(segment.filters)


def _as_query(filters: dict):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, value in filters.items():
        if isinstance(value, list):
            query.setlist(key, [str(v) for v in value])
        elif isinstance(value, bool):
            query[key] = "true" if value else "false"
        else:
            query[key] = str(value)
    return query


class TagFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Tag
        fields = ["name"]


class SegmentFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Segment
        fields = ["name", "owner"]


class LeadFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    source_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    owner = django_filters.NumberFilter(field_name="owner_id")
    customer = django_filters.NumberFilter(field_name="customer_id")
    created = django_filters.DateFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Lead
        fields = ["status", "source_channel", "owner", "customer", "created"]


PRIVATE_CHANNELS = [(Channel.WECHAT, _lazy("WeChat")), (Channel.WEIBO, _lazy("Weibo"))]


class ConversationFilterSet(django_filters.FilterSet):
    """Inbox and API filters: `assigned` = mine | unassigned | all, status, channel, kind
    (service | complaint), account, team (an id), assignee, customer, opened."""

    assigned = django_filters.ChoiceFilter(
        method="filter_assigned",
        choices=[
            ("mine", _lazy("Mine")),
            ("unassigned", _lazy("Unassigned")),
            ("all", _lazy("All")),
        ],
        label=_lazy("assigned"),
    )
    # distinct=False: a plain column cannot repeat a row, and DISTINCT over every column (with
    # the inbox's joined customer, assignee, team and SLA clock) made the inbox page sort and
    # hash all 65,000 conversations an agent sees: 890 ms for 50 rows (bench/inbox_routing.py).
    status = django_filters.MultipleChoiceFilter(choices=ConversationStatus.choices, distinct=False)
    channel = django_filters.ChoiceFilter(choices=PRIVATE_CHANNELS)
    kind = django_filters.ChoiceFilter(choices=Conversation.Kind.choices)
    account = django_filters.CharFilter()
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    team = django_filters.NumberFilter(field_name="team_id")
    customer = django_filters.NumberFilter(field_name="customer_id")
    opened = django_filters.DateFromToRangeFilter(field_name="opened_at")

    class Meta:
        model = Conversation
        fields = [
            "assigned",
            "status",
            "channel",
            "kind",
            "account",
            "assignee",
            "team",
            "customer",
            "opened",
        ]

    def filter_assigned(self, queryset, name, value):
        if value == "mine":
            return queryset.filter(assignee=self.request.user)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


def visible_conversations(user):
    """The conversations of the inbox this user may see (with the permission): service
    conversations of the private channels, and complaint cases opened from public posts, of
    the user's teams unless they see every team (crm.models.teams.team_scope)."""
    if not user.has_perm("crm.view_conversation"):
        return Conversation.objects.none()
    rows = Conversation.objects.filter(
        channel__in=[c for c, _label in PRIVATE_CHANNELS],
        kind__in=[Conversation.Kind.SERVICE, Conversation.Kind.COMPLAINT],
    ).select_related("customer", "assignee", "team", "sla")
    return team_scope(rows, user)
