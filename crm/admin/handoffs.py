"""Weibo → WeChat handoffs, read-only: who was sent a link, how, and who followed through it.

Only actions write handoffs (crm.actions.handoff). The token's hash is never shown: the token is
the credential of the link (only its SHA-256 is stored, and even that stays out of the page).
"""

from django.contrib import admin

from ..models import Handoff
from .readonly import ReadOnlyAdmin


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyAdmin):
    list_display = (
        "weibo_uid",
        "purpose",
        "customer",
        "lead",
        "sent_by",
        "send_error",
        "created_at",
        "expires_at",
        "used_at",
        "used_via",
    )
    list_filter = ("purpose", "sent_by", "used_via", ("used_at", admin.EmptyFieldListFilter))
    search_fields = ("weibo_uid", "used_openid")
    list_select_related = ("customer", "lead")
    date_hierarchy = "created_at"
    # Everything but token_hash.
    fields = (
        "customer",
        "weibo_uid",
        "purpose",
        "lead",
        "appid",
        "scene",
        "sent_by",
        "send_error",
        "created_at",
        "expires_at",
        "used_at",
        "used_via",
        "used_openid",
    )
    readonly_fields = fields
