"""Tags and segments in the admin."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..filtersets import CustomerFilterSet, segment_customers
from ..models import (
    Segment,
    Tag,
)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color", "description", "customer_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n=Count("customers"))

    @admin.display(description=_("customers"), ordering="n")
    def customer_count(self, obj):
        return obj.n


class SegmentAdminForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "filters", "owner"]

    def clean_filters(self):
        try:
            return CustomerFilterSet.validate_saved(self.cleaned_data["filters"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict.get("filters", exc.messages))


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentAdminForm
    list_display = ["name", "description", "member_count", "counted_at", "members_link"]
    search_fields = ["name"]
    readonly_fields = ["member_count", "counted_at"]

    @admin.display(description=_("members"))
    def members_link(self, obj):
        url = reverse("admin:crm_segment_members", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Show members"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/members/",
                self.admin_site.admin_view(self.members_view),
                name="crm_segment_members",
            ),
        ] + super().get_urls()

    def members_view(self, request, pk):
        """The customers matching the segment now (the filter is re-run)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        segment = get_object_or_404(Segment, pk=pk)
        rows = segment_customers(segment).select_related("owner").prefetch_related("tags")
        total = rows.count()
        return render(
            request,
            "admin/crm/segment_members.html",
            {
                **self.admin_site.each_context(request),
                "segment": segment,
                "customers": rows.order_by("-created_at")[:200],
                "total": total,
                "title": _("Members of segment %(name)s") % {"name": segment.name},
                "opts": self.model._meta,
            },
        )
