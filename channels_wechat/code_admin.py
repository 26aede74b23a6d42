"""Admin for channel QR codes: created at WeChat through the action, figures per code in the
list, the poster-size image (PNG from WeChat, SVG drawn from the URL) on its own page."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.inbox import SendError

from . import posters
from .actions import (
    CODE_EDITABLE_FIELDS,
    NEW_CODE_FIELDS,
    create_channel_code,
    update_channel_code,
)
from .models import ChannelCode
from .reports import FIGURES, with_figures


class ChannelCodeAddForm(forms.ModelForm):
    """The add form: once the fields are valid, `create_channel_code` creates the code at WeChat
    and stores it; its refusal (or WeChat's) is shown on the form and nothing is stored."""

    class Meta:
        model = ChannelCode
        fields = NEW_CODE_FIELDS

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.instance = create_channel_code(
                data["account"], **{f: data[f] for f in NEW_CODE_FIELDS if f != "account"}
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)


class ChannelCodeChangeForm(forms.ModelForm):
    class Meta:
        model = ChannelCode
        fields = list(CODE_EDITABLE_FIELDS)


def _figure(name: str, label):
    @admin.display(description=label, ordering=name)
    def column(model_admin, obj):
        value = getattr(obj, name, 0)
        return f"{value / 100:.2f}" if name == "revenue_fen" else value

    return column


@admin.register(ChannelCode)
class ChannelCodeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "purpose",
        "scene",
        "kind",
        "active",
        "expires_at",
        *FIGURES,
    ]
    list_filter = ["account", "purpose", "kind", "active"]
    search_fields = ["name", "scene"]
    list_select_related = ["account"]
    filter_horizontal = ["tags"]
    readonly_fields = [
        "account",
        "scene",
        "kind",
        "expire_seconds",
        "ticket",
        "url",
        "expires_at",
        "created_at",
        "image_links",
    ]

    scans = _figure("scans", _("scans"))
    new_followers = _figure("new_followers", _("new followers"))
    unsubscribed_7d = _figure("unsubscribed_7d", _("unfollowed within 7 days"))
    leads = _figure("leads", _("leads"))
    members = _figure("members", _("members"))
    orders = _figure("orders", _("orders"))
    revenue_fen = _figure("revenue_fen", _("revenue (yuan)"))

    def get_queryset(self, request):
        return with_figures(super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ChannelCodeChangeForm if obj else ChannelCodeAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return NEW_CODE_FIELDS
        return [*CODE_EDITABLE_FIELDS, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        # A new code was created (at WeChat and here) by the add form's action.
        if change:
            update_channel_code(obj, {f: form.cleaned_data[f] for f in form.changed_data})

    def save_related(self, request, form, formsets, change):
        pass  # the tags were set by the action (no inlines)

    @admin.display(description=_("QR code image"))
    def image_links(self, obj):
        url = reverse("admin:channels_wechat_channelcode_image", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Show and download (PNG, SVG)"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/image/",
                self.admin_site.admin_view(self.image_view),
                name="channels_wechat_channelcode_image",
            ),
        ] + super().get_urls()

    def image_view(self, request, pk):
        """The code's image: `?format=png` (WeChat's image at poster size) or `?format=svg`
        downloads it; otherwise a page with both links. 502 when WeChat gives no image."""
        code = get_object_or_404(ChannelCode, pk=pk)
        if not self.has_view_permission(request, code):
            raise PermissionDenied
        kind = request.GET.get("format")
        error = ""
        if kind in ("png", "svg"):
            try:
                if kind == "png":
                    body, content_type = posters.poster_png(code), "image/png"
                else:
                    body, content_type = posters.poster_svg(code), "image/svg+xml"
            except SendError as exc:
                error = str(exc)
            else:
                response = HttpResponse(body, content_type=content_type)
                filename = f"channel-code-{code.pk}-{code.scene}.{kind}"
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
                return response
        return render(
            request,
            "admin/channels_wechat/channelcode/image.html",
            {
                **self.admin_site.each_context(request),
                "code": code,
                "error": error,
                "title": code.name,
                "opts": self.model._meta,
            },
            status=502 if error else 200,
        )
