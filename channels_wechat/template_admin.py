"""Admin for template and subscription messages: the templates synced from WeChat (and a page
to sync them or add one from WeChat's library), which template each member notice uses with a
field per variable, every send with its status and WeChat's delivery report, the figures per
send job, and the followers' subscription consents."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import (
    MessageTemplate,
    OfficialAccount,
    SubscribeConsent,
    TemplateBinding,
    TemplateSend,
)
from .template_rules import variable_type
from .templates import (
    BINDING_FIELDS,
    NOTICE_FIELDS,
    add_library_template,
    save_binding,
    send_report,
    sync_templates,
)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Templates are WeChat's: read-only here, refreshed by the sync."""

    list_display = [
        "title",
        "account",
        "kind",
        "template_id",
        "variable_list",
        "long_term",
        "active",
        "synced_at",
    ]
    list_filter = ["account", "kind", "active"]
    search_fields = ["title", "template_id"]
    list_select_related = ["account"]
    readonly_fields = [
        "account",
        "kind",
        "template_id",
        "title",
        "primary_industry",
        "deputy_industry",
        "content",
        "example",
        "variables",
        "long_term",
        "active",
        "synced_at",
    ]
    actions = ["sync_accounts"]
    change_list_template = "admin/channels_wechat/messagetemplate/change_list.html"

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("variables"))
    def variable_list(self, obj):
        return ", ".join(obj.variables or [])

    @admin.action(
        description=_("Sync the templates of these accounts from WeChat"), permissions=["change"]
    )
    def sync_accounts(self, request, queryset):
        for account in OfficialAccount.objects.filter(pk__in=queryset.values("account")):
            self._sync(request, account)

    def _sync(self, request, account) -> None:
        try:
            counts = sync_templates(account)
        except ValidationError as exc:
            self.message_user(request, f"{account}: {' '.join(exc.messages)}", messages.ERROR)
            return
        self.message_user(
            request,
            _(
                "%(account)s: %(added)s added, %(updated)s updated, %(deactivated)s no longer at WeChat."
            )
            % {"account": account, **counts},
        )

    def get_urls(self):
        return [
            path(
                "fetch/",
                self.admin_site.admin_view(self.fetch_view),
                name="channels_wechat_messagetemplate_fetch",
            ),
        ] + super().get_urls()

    def fetch_view(self, request):
        """Sync an account's templates, or add one from WeChat's library (change permission)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = LibraryForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            account = form.cleaned_data["account"]
            if "sync" in request.POST:
                self._sync(request, account)
                return redirect("admin:channels_wechat_messagetemplate_changelist")
            try:
                template = add_library_template(
                    account, form.cleaned_data["short_id"], form.keywords()
                )
            except ValidationError as exc:
                form.add_error("short_id", exc.message_dict.get("short_id", exc.messages))
            else:
                self.message_user(request, _("Added %(title)s.") % {"title": template.title})
                return redirect("admin:channels_wechat_messagetemplate_changelist")
        return render(
            request,
            "admin/channels_wechat/messagetemplate/fetch.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "title": _("Templates from WeChat"),
                "opts": self.model._meta,
            },
            status=400 if form.errors else 200,
        )


class LibraryForm(forms.Form):
    account = forms.ModelChoiceField(OfficialAccount.objects.all(), label=_("account"))
    short_id = forms.CharField(
        label=_("library template number"), max_length=64, required=False, help_text="TM00015"
    )
    keyword_names = forms.CharField(
        label=_("keywords (new-style templates, comma separated)"), max_length=500, required=False
    )

    def keywords(self) -> list[str]:
        raw = self.cleaned_data.get("keyword_names") or ""
        return [k.strip() for k in raw.replace("，", ",").split(",") if k.strip()]


FIELD_CHOICES = [("", "—")] + [(k, v) for k, v in NOTICE_FIELDS.items()]


def binding_form(template: MessageTemplate | None) -> type[forms.ModelForm]:
    """The binding form for `template`: one field choice and one fixed text per variable. Once
    valid, `save_binding` stores it; its refusal is shown on the variable's fields."""
    variables = list(template.variables) if template else []
    attrs: dict = {}
    for name in variables:
        attrs[f"var_{name}"] = forms.ChoiceField(
            label=f"{name} ({variable_type(name)})", choices=FIELD_CHOICES, required=False
        )
        attrs[f"text_{name}"] = forms.CharField(
            label=_("%(name)s: or fixed text") % {"name": name}, required=False, max_length=200
        )

    class Meta:
        model = TemplateBinding
        fields = ["account", "notice", "template", *BINDING_FIELDS]

    def __init__(self, *args, **kwargs):
        forms.ModelForm.__init__(self, *args, **kwargs)
        if "template" in self.fields:  # absent from a view-only form
            self.fields["template"].queryset = MessageTemplate.objects.filter(
                kind=MessageTemplate.Kind.TEMPLATE, active=True
            )
        for name, source in (self.instance.mapping or {}).items():
            if f"var_{name}" in self.fields:
                if source.startswith("text:"):
                    self.fields[f"text_{name}"].initial = source[len("text:") :]
                else:
                    self.fields[f"var_{name}"].initial = source

    def _post_clean(self):
        forms.ModelForm._post_clean(self)
        if self.errors:
            return
        data = self.cleaned_data
        chosen = data["template"]
        if template is None or chosen.pk != template.pk:
            self.add_error("template", _("Save again to map the variables of this template."))
            return
        mapping = {
            name: (f"text:{data[f'text_{name}']}" if data[f"text_{name}"] else data[f"var_{name}"])
            for name in variables
        }
        try:
            self.instance = save_binding(
                data["account"],
                data["notice"],
                chosen,
                mapping,
                binding=self.instance if self.instance.pk else None,
                **{f: data[f] for f in BINDING_FIELDS},
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                target = f"var_{field}" if f"var_{field}" in self.fields else field
                self.add_error(target if target in self.fields else None, problems)

    attrs.update(Meta=Meta, __init__=__init__, _post_clean=_post_clean)
    return type("TemplateBindingForm", (forms.ModelForm,), attrs)


@admin.register(TemplateBinding)
class TemplateBindingAdmin(admin.ModelAdmin):
    """Pick the template first and save: the form then offers a field per variable."""

    list_display = ["notice", "account", "template", "active"]
    list_filter = ["account", "notice", "active"]
    list_select_related = ["account", "template"]

    def _template(self, request, obj) -> MessageTemplate | None:
        picked = request.POST.get("template") or request.GET.get("template")
        if picked and str(picked).isdigit():
            found = MessageTemplate.objects.filter(pk=int(picked)).first()
            if found:
                return found
        return obj.template if obj else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = binding_form(self._template(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return ["account", "notice", "template", "mapping", *BINDING_FIELDS]
        form = binding_form(self._template(request, obj))
        return list(form.base_fields)

    def save_model(self, request, obj, form, change):
        pass  # stored by save_binding in the form's validation

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(TemplateSend)
class TemplateSendAdmin(admin.ModelAdmin):
    """Every send per recipient; written by the send action only."""

    list_display = [
        "template",
        "openid",
        "batch_report",
        "status",
        "error_code",
        "delivery",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "delivery", "kind", "notice", "account"]
    search_fields = ["openid", "batch", "msgid"]
    list_select_related = ["template"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("send job"), ordering="batch")
    def batch_report(self, obj):
        url = reverse("admin:channels_wechat_templatesend_report") + f"?batch={obj.batch}"
        return format_html('<a href="{}">{}</a>', url, obj.batch[:24])

    def get_urls(self):
        return [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name="channels_wechat_templatesend_report",
            ),
        ] + super().get_urls()

    def report_view(self, request):
        """The figures of one send job (`?batch=`): sent, failed by reason, held, delivery."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = request.GET.get("batch", "")
        return render(
            request,
            "admin/channels_wechat/templatesend/report.html",
            {
                **self.admin_site.each_context(request),
                "batch": batch,
                "report": send_report(batch),
                "title": _("Send report"),
                "opts": self.model._meta,
            },
        )


@admin.register(SubscribeConsent)
class SubscribeConsentAdmin(admin.ModelAdmin):
    """Consents come from WeChat's pushes only."""

    list_display = ["user", "account", "template_id", "remaining", "long_term", "updated_at"]
    list_filter = ["account", "long_term"]
    search_fields = ["user__openid", "template_id"]
    list_select_related = ["user", "account"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
