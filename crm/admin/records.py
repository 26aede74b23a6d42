"""The admin's record-keeping pages: merges, raw webhook deliveries, conversations (assignment
only; the inbox does the rest) and the audit log. Registered by crm/admin/__init__.py."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import AuditEntry, Conversation, MergeRecord, Message, RawDelivery, team_scope
from .readonly import ReadOnlyAdmin


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "source", "target", "reason", "merged_by"]
    list_filter = ["reason"]
    readonly_fields = ["source", "target", "reason", "merged_by", "moved", "snapshot", "created_at"]


@admin.register(RawDelivery)
class RawDeliveryAdmin(admin.ModelAdmin):
    """Every webhook delivery as received: for inspecting rejected or failed ones."""

    list_display = ["received_at", "source", "account", "status", "attempts", "error_short"]
    list_filter = ["status", "source", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["account", "dedupe_key"]
    readonly_fields = [
        "source",
        "account",
        "method",
        "path",
        "query",
        "headers",
        "body_text",
        "remote_addr",
        "received_at",
        "status",
        "error",
        "attempts",
        "processed_at",
        "dedupe_key",
    ]
    exclude = ["body"]

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:80]

    @admin.display(description=_("body"))
    def body_text(self, obj):
        return bytes(obj.body).decode("utf-8", errors="replace")[:20000]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = [
        "sent_at",
        "direction",
        "sender_kind",
        "msg_type",
        "content",
        "delivery_status",
        "error_code",
    ]
    # The same plain field names; the stubs type the two as different (invariant) lists.
    readonly_fields = fields  # type: ignore[assignment]
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "channel",
        "account",
        "customer",
        "kind",
        "status",
        "assignee",
        "opened_at",
        "first_response_at",
        "resolved_at",
        "rating",
    ]
    list_filter = ["channel", "status", "kind", "assignee", "rating"]
    search_fields = ["customer__name", "external_user"]
    list_select_related = ["customer", "assignee"]
    readonly_fields = [
        "channel",
        "account",
        "external_user",
        "customer",
        "kind",
        *Conversation.COURSE_FIELDS,
    ]
    fields = [*readonly_fields[:5], "status", "assignee", *readonly_fields[5:]]

    def get_readonly_fields(self, request, obj=None):
        # Status changes go through the inbox (resolve sends the survey); only assignment here.
        return [*self.readonly_fields, "status"]

    def get_queryset(self, request):
        # An agent opens only their teams' conversations here too (crm.models.teams).
        return team_scope(super().get_queryset(request), request.user)

    inlines = [MessageInline]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log, read-only: superusers and managers (view_auditentry) read it."""

    list_display = ["at", "actor_name", "action", "object_type", "object_id", "summary"]
    list_filter = ["action", "object_type", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor_name", "object_id", "summary"]
    date_hierarchy = "at"
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
