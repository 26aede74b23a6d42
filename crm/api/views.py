from django.db.models import Count, Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..actions import add_note, merge_customers, tag_customers
from ..csvexport import csv_response
from ..filtersets import (
    CustomerFilterSet,
    LeadFilterSet,
    SegmentFilterSet,
    TagFilterSet,
    segment_customers,
)
from ..identity import duplicate_candidates
from ..models import Customer, Interaction, Lead, Segment, Tag
from ..privacy import (
    DeletionError,
    audited_export,
    delete_customers,
    erase_customer,
    export_customers,
)
from .serializers import (
    BulkTagSerializer,
    CustomerSerializer,
    InteractionSerializer,
    LeadSerializer,
    MergeRecordSerializer,
    MergeRequestSerializer,
    NoteSerializer,
    SegmentSerializer,
    TagSerializer,
)


class CustomerViewSet(viewsets.ModelViewSet):
    """Master customer records (active ones; merged customers are not listed)."""

    queryset = (
        Customer.objects.active()
        .select_related("owner")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name")))
    )
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering_fields = ["created_at", "updated_at", "name", "stage", "id"]
    ordering = ["-created_at", "-id"]
    action_permissions = {
        "merge": ["crm.merge_customer"],
        "export": ["crm.export_customer"],
        "bulk_tag": ["crm.change_customer"],
        "timeline": ["crm.view_customer"],
        "duplicates": ["crm.view_customer"],
        "notes": ["crm.view_note"],
        "erase": ["crm.erase_customer"],
        "data_export": ["crm.export_customer"],
    }

    def filter_queryset(self, queryset):
        # List filters (`?channel=`, `?q=`...) select customers; they must not hide the one a
        # detail route names (the timeline takes its own `?channel=`).
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self):
        # Details may name a merged customer (to see where it went); lists only active ones.
        if self.action in ("retrieve", "timeline", "data_export", "erase"):
            return Customer.objects.select_related("owner").prefetch_related("tags")
        return super().get_queryset()

    @extend_schema(request=MergeRequestSerializer, responses=MergeRecordSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge the customer named in `source` into this one; this one survives."""
        target = self.get_object()
        body = MergeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = merge_customers(body.validated_data["source"], target, by=request.user)
        return Response(MergeRecordSerializer(record).data, status=status.HTTP_200_OK)

    @extend_schema(responses=InteractionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        """The customer's unified timeline, newest first (`?kind=`, `?channel=`)."""
        customer = self.get_object()
        rows = Interaction.objects.filter(customer=customer).order_by("-occurred_at", "-id")
        for param in ("kind", "channel"):
            if request.query_params.get(param):
                rows = rows.filter(**{param: request.query_params[param]})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(InteractionSerializer(page, many=True).data)

    @extend_schema(responses=CustomerSerializer(many=True))
    @action(detail=True, methods=["get"])
    def duplicates(self, request, pk=None):
        """Customers that may be the same person (same email, name + city, or phone)."""
        rows = (
            duplicate_candidates(self.get_object()).select_related("owner").prefetch_related("tags")
        )
        return Response(self.get_serializer(rows[:50], many=True).data)

    @extend_schema(request=NoteSerializer, responses=NoteSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        customer = self.get_object()
        if request.method == "POST":
            if not request.user.has_perm("crm.add_note"):
                self.permission_denied(request)
            body = NoteSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            note = add_note(customer, body.validated_data["body"], author=request.user)
            return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        rows = customer.notes.select_related("author")
        return Response(NoteSerializer(rows, many=True).data)

    @extend_schema(request=BulkTagSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="bulk-tag")
    def bulk_tag(self, request):
        """Add tags (by name, which must exist) to many customers at once."""
        body = BulkTagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["customers"]
        known = set(Customer.objects.active().filter(pk__in=ids).values_list("pk", flat=True))
        missing = sorted(set(ids) - known)
        if missing:
            raise ValidationError({"customers": [f"Unknown customer: {missing[:20]}"]})
        added = tag_customers(ids, body.validated_data["tags"])
        return Response({"added": added})

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The filtered customers as CSV (UTF-8 with BOM, so Excel opens Chinese correctly)."""
        lines = export_customers(
            self.filter_queryset(self.get_queryset()),
            by=request.user,
            via="through the API",
            query=request.GET.urlencode(),
        )
        return csv_response(lines, "customers.csv")

    def perform_destroy(self, instance):
        try:
            delete_customers(
                Customer.objects.filter(pk=instance.pk), by=self.request.user, via="through the API"
            )
        except DeletionError as exc:
            raise ValidationError({"detail": exc.messages[0]}) from exc

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        """Erase the customer's personal data on their request (PIPL); rows and KPIs stay."""
        counts = erase_customer(self.get_object(), by=request.user)
        return Response({"erased": counts})

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="data-export")
    def data_export(self, request, pk=None):
        """Everything stored about the customer, as JSON (PIPL right of access)."""
        return Response(audited_export(self.get_object(), by=request.user))


class TagViewSet(viewsets.ModelViewSet):
    queryset = Tag.objects.annotate(customer_count=Count("customers"))
    serializer_class = TagSerializer
    filterset_class = TagFilterSet
    ordering_fields = ["name", "created_at", "customer_count"]
    ordering = ["name"]


class SegmentViewSet(viewsets.ModelViewSet):
    """Saved customer filters; `customers` re-runs the filter now."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilterSet
    ordering_fields = ["name", "created_at", "member_count"]
    ordering = ["name"]
    action_permissions = {"customers": ["crm.view_segment", "crm.view_customer"]}

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    @extend_schema(responses=CustomerSerializer(many=True))
    @action(detail=True, methods=["get"])
    def customers(self, request, pk=None):
        segment = self.get_object()
        rows = segment_customers(segment).select_related("owner").prefetch_related("tags")
        rows = rows.order_by("-created_at", "-id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(
            CustomerSerializer(page, many=True, context=self.get_serializer_context()).data
        )


class LeadViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Sales leads; creating one moves its customer to stage `lead` and assigns an owner."""

    queryset = Lead.objects.select_related("customer", "owner")
    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    ordering_fields = ["created_at", "updated_at", "status", "next_step_at", "id"]
    ordering = ["-created_at", "-id"]
