"""The customer admin marketing staff and agents work in: the record, its timeline, leads and notes
inline, merge, duplicates, export and erasure."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ..actions import (
    CUSTOMER_EDITABLE_FIELDS,
    add_note,
    delete_leads,
    merge_customers,
    tag_customers,
    update_customer,
    update_lead,
)
from ..csvexport import csv_response
from ..identity import duplicate_candidates, duplicate_groups
from ..models import (
    Customer,
    Interaction,
    Lead,
    Note,
    Tag,
    normalize_phone,
)
from ..panels import customer_panels
from ..privacy import audited_export, delete_customers, erase_customer, export_customers
from ..security import mask_phone, may_see_phone
from ..staff_phones import MaskedPhoneField, PhoneSearchAdminMixin, shown_phone
from .leads import _create_lead_from_form


class InteractionInline(admin.TabularInline):
    model = Interaction
    fields = ["occurred_at", "channel", "kind", "summary"]
    # The same plain field names; the stubs type the two as different (invariant) lists.
    readonly_fields = fields  # type: ignore[assignment]
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-occurred_at", "-id"]
    verbose_name_plural = _("timeline")
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-occurred_at", "-id")


class NoteInline(admin.StackedInline):
    model = Note
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    extra = 1


class LeadInline(admin.TabularInline):
    model = Lead
    fields = ["title", "status", "source_channel", "owner", "next_step", "created_at"]
    readonly_fields = ["created_at", "source_channel"]
    extra = 0
    show_change_link = True


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        # What `update_customer` accepts; the admin's fieldsets order them on the page.
        fields = list(CUSTOMER_EDITABLE_FIELDS)

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data.get("phone", ""))
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages)


class BulkTagForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.all(), label=_("tags"), widget=forms.CheckboxSelectMultiple
    )


class ActiveFilter(admin.SimpleListFilter):
    title = _("merged")
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return [("no", _("Active customers")), ("yes", _("Merged into another"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(merged_into__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(merged_into__isnull=True)

    def choices(self, changelist):
        value = self.value() or "no"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


@admin.register(Customer)
class CustomerAdmin(PhoneSearchAdminMixin, admin.ModelAdmin):
    """Customers. Without crm.view_customer_phone the phone is masked everywhere here (list,
    form, duplicates, merge) and searched by the whole number only (crm.staff_phones)."""

    form = CustomerAdminForm
    list_display = [
        "name",
        "masked_phone",
        "email",
        "city",
        "stage",
        "first_channel",
        "tag_list",
        "owner",
        "created_at",
    ]
    list_filter = [
        ActiveFilter,
        "stage",
        "tags",
        "owner",
        "first_channel",
        "gender",
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["name", "phone", "email"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    list_per_page = 50
    inlines = [LeadInline, NoteInline, InteractionInline]
    readonly_fields = ["created_at", "updated_at", "merged_into", "phone_verified", "duplicates"]
    autocomplete_fields = ["owner"]
    filter_horizontal = ["tags"]
    actions = [
        "bulk_tag",
        "merge_selected",
        "export_csv",
        "export_personal_data",
        "erase_personal_data",
    ]

    class Media:
        css = {"all": ["crm/admin.css"]}

    fieldsets = [
        (
            None,
            {"fields": ["name", "phone", "phone_verified", "email", "gender", "city", "birthday"]},
        ),
        (_("Relationship"), {"fields": ["stage", "first_channel", "owner", "tags"]}),
        (_("Consent"), {"fields": ["consent_marketing", "consent_privacy_at"]}),
        (_("Record"), {"fields": ["created_at", "updated_at", "merged_into", "duplicates"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    def save_model(self, request, obj, form, change):
        # An edit goes through the API's action: a new phone is unverified, a new stage is on
        # the timeline.
        if change:
            changes = {field: form.cleaned_data[field] for field in form.changed_data}
            update_customer(obj, changes, by=request.user)
        else:
            super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        # Leads and notes added or edited on the customer page go through their actions, as in
        # the API (a lead's status rules, a note on the timeline).
        if formset.model not in (Lead, Note):
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # lists the new, changed and deleted rows
        for row in formset.new_objects:
            if formset.model is Note:
                add_note(form.instance, row.body, author=request.user)
            else:
                _create_lead_from_form(row)
        for row, changed in formset.changed_objects:
            if formset.model is Note:
                row.save()
            else:
                update_lead(row, {field: getattr(row, field) for field in changed})
        for row in formset.deleted_objects:
            if formset.model is Note:
                row.delete()
            else:
                delete_leads(Lead.objects.filter(pk=row.pk))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # What the channel apps know about this customer (membership, WeChat, Weibo...).
        customer = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "panels": customer_panels(customer) if customer else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "phone" in form.base_fields and not may_see_phone(request.user):
            # Agents edit contact data without seeing the number: write-only, shown masked.
            form = type(form.__name__, (form,), {"phone": MaskedPhoneField(label=_("phone"))})
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj) or may_see_phone(request.user):
            return fieldsets
        # View-only: every field is rendered read-only from the row; the phone masked instead.
        return [
            (
                title,
                {
                    **opts,
                    "fields": [self.masked_phone if f == "phone" else f for f in opts["fields"]],
                },
            )
            for title, opts in fieldsets
        ]

    @admin.display(description=_("phone"))
    def masked_phone(self, obj):
        # The list has no request to ask: masked for everyone, the full number is one click away.
        return mask_phone(obj.phone)

    @admin.display(description=_("tags"))
    def tag_list(self, obj):
        return ", ".join(t.name for t in obj.tags.all())

    @admin.display(description=_("possible duplicates"))
    def duplicates(self, obj):
        if not obj.pk:
            return "-"
        rows = list(duplicate_candidates(obj)[:10])
        if not rows:
            return _("none")
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">#{} {}</a>',
            ((reverse("admin:crm_customer_change", args=[c.pk]), c.pk, c.name) for c in rows),
        )

    def get_urls(self):
        return [
            path(
                "duplicates/",
                self.admin_site.admin_view(self.duplicates_view),
                name="crm_customer_duplicates",
            ),
            path("merge/", self.admin_site.admin_view(self.merge_view), name="crm_customer_merge"),
        ] + super().get_urls()

    # Tagging changes the customers: the same right as editing one customer's tags.
    @admin.action(description=_("Add tags to the selected customers"), permissions=["change"])
    def bulk_tag(self, request, queryset):
        if "apply" in request.POST:
            form = BulkTagForm(request.POST)
            if form.is_valid():
                added = tag_customers(
                    queryset.values_list("pk", flat=True),
                    [t.name for t in form.cleaned_data["tags"]],
                )
                self.message_user(request, _("%(n)d tags added.") % {"n": added}, messages.SUCCESS)
                return None
        else:
            form = BulkTagForm()
        return render(
            request,
            "admin/crm/bulk_tag.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "customers": queryset,
                "title": _("Add tags"),
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Merge the selected customers"), permissions=["merge"])
    def merge_selected(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:crm_customer_merge") + f"?ids={ids}")

    def has_merge_permission(self, request):
        return request.user.has_perm("crm.merge_customer")

    def has_export_permission(self, request):
        return request.user.has_perm("crm.export_customer")

    def has_erase_permission(self, request):
        return request.user.has_perm("crm.erase_customer")

    @admin.action(description=_("Export the selected customers (CSV)"), permissions=["export"])
    def export_csv(self, request, queryset):
        return csv_response(
            export_customers(queryset, by=request.user, via="in the admin"), "customers.csv"
        )

    @admin.action(
        description=_("Export the personal data of the selected customers (JSON)"),
        permissions=["export"],
    )
    def export_personal_data(self, request, queryset):
        data = [audited_export(c, by=request.user) for c in queryset.order_by("pk")]
        return JsonResponse(
            data,
            safe=False,
            json_dumps_params={"ensure_ascii": False, "indent": 2},
            headers={"Content-Disposition": 'attachment; filename="personal-data.json"'},
        )

    @admin.action(
        description=_("Erase the personal data of the selected customers (PIPL request)"),
        permissions=["erase"],
    )
    def erase_personal_data(self, request, queryset):
        erased, refused = 0, []
        for customer in queryset.order_by("pk"):
            try:
                erase_customer(customer, by=request.user)
            except ValidationError as exc:
                refused.append(" ".join(exc.messages))
            else:
                erased += 1
        if erased:
            self.message_user(
                request,
                _("Personal data of %(n)d customers erased.") % {"n": erased},
                messages.SUCCESS,
            )
        for message in refused:
            self.message_user(request, message, messages.ERROR)

    def delete_model(self, request, obj):
        delete_customers(Customer.objects.filter(pk=obj.pk), by=request.user, via="in the admin")

    def delete_queryset(self, request, queryset):
        delete_customers(queryset, by=request.user, via="in the admin (bulk)")

    def merge_view(self, request):
        """Choose the surviving customer among the selected ones and merge the others into it."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids", "")
        ids = [int(x) for x in raw.split(",") if x.strip().isdigit()]
        customers = list(Customer.objects.filter(pk__in=ids).prefetch_related("tags"))
        for customer in customers:
            customer.shown_phone = shown_phone(request.user, customer.phone)
        if len(customers) < 2:
            self.message_user(request, _("Select at least two customers to merge."), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:crm_customer_changelist"))
        if request.method == "POST" and request.POST.get("target"):
            target = get_object_or_404(Customer, pk=request.POST["target"])
            try:
                for source in customers:
                    if source.pk != target.pk:
                        merge_customers(source, target, by=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(n)d customers merged into #%(id)s.")
                    % {"n": len(customers) - 1, "id": target.pk},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:crm_customer_change", args=[target.pk]))
        return render(
            request,
            "admin/crm/merge.html",
            {
                **self.admin_site.each_context(request),
                "customers": customers,
                "ids": raw,
                "title": _("Merge customers"),
                "opts": self.model._meta,
            },
        )

    def duplicates_view(self, request):
        """Groups of active customers sharing a phone, an email or a name and city; for those
        who may read customers, phones masked without the phone permission."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        groups = duplicate_groups(limit=100)
        by_id = Customer.objects.in_bulk([i for g in groups for i in g["ids"]])
        labels = {
            "phone": _("Same phone"),
            "email": _("Same email"),
            "name_city": _("Same name in the same city"),
        }
        for group in groups:
            group["label"] = labels[group["key"]]
            if group["key"] == "phone":
                group["value"] = shown_phone(request.user, group["value"])
            group["customers"] = [by_id[i] for i in group["ids"] if i in by_id]
            group["ids_param"] = ",".join(str(i) for i in group["ids"])
        return render(
            request,
            "admin/crm/duplicates.html",
            {
                **self.admin_site.each_context(request),
                "groups": groups,
                "title": _("Possible duplicate customers"),
                "opts": self.model._meta,
                "can_merge": self.has_merge_permission(request),
            },
        )
