"""Admin for the WeChat channel: accounts (secrets write-only), followers, automation."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm.fields import SecretFieldsAdminMixin
from crm.staff_phones import PhoneSearchAdminMixin

from . import (  # noqa: F401  (they register their admins)
    code_admin,
    mass_admin,
    protocol,
    template_admin,
)
from .models import AutoReplyRule, CannedResponse, OfficialAccount, WeChatUser


class OfficialAccountForm(forms.ModelForm):
    """The secrets are crm.fields.SecretFormField: typed in, never shown back; leaving one
    empty keeps the stored value, and a required one neither typed nor stored is an error."""

    class Meta:
        model = OfficialAccount
        fields = [
            "name",
            "appid",
            "original_id",
            "active",
            "app_secret",
            "token",
            "encoding_aes_key",
            "mode",
            "welcome_message",
            "out_of_hours_reply",
            "service_start",
            "service_end",
        ]

    def clean_encoding_aes_key(self):
        value = self.cleaned_data["encoding_aes_key"]
        if value:
            try:
                protocol.aes_key(value)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value


class AutoReplyInline(admin.TabularInline):
    model = AutoReplyRule
    extra = 1
    fields = ["keyword", "match", "reply", "priority", "active"]


@admin.register(OfficialAccount)
class OfficialAccountAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    form = OfficialAccountForm
    list_display = ["name", "appid", "original_id", "mode", "active", "created_at"]
    list_filter = ["mode", "active"]
    search_fields = ["name", "appid", "original_id"]
    inlines = [AutoReplyInline]
    fieldsets = [
        (None, {"fields": ["name", "appid", "original_id", "active"]}),
        (
            _("Developer credentials"),
            {"fields": ["app_secret", "token", "encoding_aes_key", "mode"]},
        ),
        (
            _("Automation"),
            {
                "fields": [
                    "welcome_message",
                    "out_of_hours_reply",
                    "service_start",
                    "service_end",
                ]
            },
        ),
    ]


@admin.register(WeChatUser)
class WeChatUserAdmin(PhoneSearchAdminMixin, admin.ModelAdmin):
    list_display = [
        "openid",
        "customer",
        "account",
        "subscribed",
        "subscribe_time",
        "subscribe_scene",
        "qr_scene",
        "last_message_at",
    ]
    list_filter = ["account", "subscribed", "subscribe_scene"]
    search_fields = ["openid", "unionid", "nickname", "customer__name", "customer__phone"]
    list_select_related = ["customer", "account"]
    raw_id_fields = ["customer"]
    readonly_fields = [
        "account",
        "openid",
        "unionid",
        "subscribe_time",
        "unsubscribe_time",
        "last_message_at",
        "window_expires_at",
        "window_quota",
        "window_used",
        "info_fetched_at",
        "created_at",
    ]
    date_hierarchy = "subscribe_time"


@admin.register(AutoReplyRule)
class AutoReplyRuleAdmin(admin.ModelAdmin):
    list_display = ["keyword", "match", "account", "priority", "active"]
    list_filter = ["account", "match", "active"]
    search_fields = ["keyword", "reply"]
    list_editable = ["priority", "active"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["title", "account", "text"]
    list_filter = ["account"]
    search_fields = ["title", "text"]
