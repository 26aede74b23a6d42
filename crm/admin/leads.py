"""Leads in the admin: the list, the pipeline board, and the add and change forms, all through
crm.actions (create_lead, update_lead, delete_leads)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..actions import (
    LEAD_DETAILS,
    create_lead,
    delete_leads,
    update_lead,
)
from ..handoff import send_handoff
from ..models import (
    Lead,
    LeadStatus,
)
from ..staff_phones import PhoneSearchAdminMixin


def _create_lead_from_form(lead: Lead) -> None:
    """`create_lead` with what an admin form put on the unsaved `lead`, which then is the row
    (stage `lead`, an owner in turn if none was chosen, the timeline, the status rules)."""
    created, _new = create_lead(
        lead.customer,
        lead.title,
        source_channel=lead.source_channel,
        owner=lead.owner,
        details={field: getattr(lead, field) for field in LEAD_DETAILS},
    )
    lead.pk = created.pk
    lead.refresh_from_db()


@admin.register(Lead)
class LeadAdmin(PhoneSearchAdminMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "customer_link",
        "status",
        "source_channel",
        "source_object",
        "owner",
        "next_step",
        "next_step_at",
        "created_at",
    ]
    list_filter = ["status", "source_channel", "owner", ("created_at", admin.DateFieldListFilter)]
    list_editable = ["status", "owner", "next_step"]
    actions = ["send_wechat_handoff"]

    class Media:
        css = {"all": ["crm/admin.css"]}

    search_fields = ["title", "customer__name", "customer__phone"]
    list_select_related = ["customer", "owner", "source_type"]
    autocomplete_fields = ["customer", "owner"]
    readonly_fields = ["source_object", "converted_at", "created_at", "updated_at"]
    fields = [
        "customer",
        "title",
        "status",
        "source_channel",
        "source_object",
        "owner",
        "next_step",
        "next_step_at",
        "lost_reason",
        "lost_note",
        "converted_at",
        "created_at",
        "updated_at",
    ]

    def save_model(self, request, obj, form, change):
        # The form, the list's editable columns and the API write a lead through one action.
        if change:
            update_lead(obj, {field: form.cleaned_data[field] for field in form.changed_data})
        else:
            _create_lead_from_form(obj)

    def delete_model(self, request, obj):
        delete_leads(Lead.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        delete_leads(queryset)

    @admin.action(
        description=_("Send the WeChat handoff link to the selected Weibo leads"),
        permissions=["change"],
    )
    def send_wechat_handoff(self, request, queryset):
        # Each lead on its own: a refusal (no Weibo user, window closed and no post) is reported
        # for that lead and the others still go out (crm.handoff's registered sender).
        for lead in queryset.filter(source_channel="weibo").select_related("customer"):
            try:
                how = send_handoff(lead=lead, agent=request.user)
            except (ValidationError, LookupError) as exc:
                text = " ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"{lead}: {text}", messages.ERROR)
            else:
                sent = (
                    _("sent by private message")
                    if how == "message"
                    else _("sent as a public comment reply")
                )
                self.message_user(request, f"{lead}: {sent}", messages.SUCCESS)

    @admin.display(description=_("customer"))
    def customer_link(self, obj):
        url = reverse("admin:crm_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer)

    @admin.display(description=_("source"))
    def source_object(self, obj):
        if not obj.source_type_id:
            return "-"
        try:
            url = reverse(
                f"admin:{obj.source_type.app_label}_{obj.source_type.model}_change",
                args=[obj.source_id],
            )
        except Exception:  # noqa: BLE001  the source model may have no admin page
            return f"{obj.source_type.model} {obj.source_id}"
        return format_html('<a href="{}">{} {}</a>', url, obj.source_type.model, obj.source_id)

    def get_urls(self):
        return [
            path(
                "pipeline/",
                self.admin_site.admin_view(self.pipeline_view),
                name="crm_lead_pipeline",
            ),
        ] + super().get_urls()

    def pipeline_view(self, request):
        """The leads as a pipeline: one column per status, newest first in each."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        leads = Lead.objects.select_related("customer", "owner").order_by("-created_at")
        if request.GET.get("owner") == "me":
            leads = leads.filter(owner=request.user)
        columns = []
        counts = dict(Lead.objects.values_list("status").annotate(n=Count("id")))
        for status, label in LeadStatus.choices:
            columns.append(
                {
                    "status": status,
                    "label": label,
                    "count": counts.get(status, 0),
                    "leads": leads.filter(status=status)[:50],
                }
            )
        return render(
            request,
            "admin/crm/pipeline.html",
            {
                **self.admin_site.each_context(request),
                "columns": columns,
                "title": _("Lead pipeline"),
                "opts": self.model._meta,
            },
        )
