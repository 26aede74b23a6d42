"""Admin for mass sends: drafts, approval (managers), start, cancel, progress and report;
the WeChat tags mirrored from crm tags; recipients with each follower's quota left."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from crm.inbox import SendError

from .mass.approval import (
    APPROVE_PERMISSION,
    DRAFT_FIELDS,
    approve_send,
    cancel_send,
    save_draft,
    start_send,
)
from .mass.planning import month_bounds
from .mass.reports import send_report
from .models import MassSend, MassSendBatch, MassSendRecipient, WeChatTag
from .models.mass import MONTHLY_MASS_QUOTA
from .tags_sync import push_tag


def _refusal(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


class BatchInline(admin.TabularInline):
    model = MassSendBatch
    extra = 0
    can_delete = False
    fields = (
        "seq",
        "status",
        "size",
        "attempts",
        "msg_id",
        "error_code",
        "sent_at",
        "filter_count",
        "sent_count",
        "error_count",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MassSend)
class MassSendAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "account",
        "target",
        "kind",
        "status",
        "scheduled_at",
        "progress_bar",
        "targeted",
        "sent",
        "failed",
        "skipped_consent",
        "deferred",
    ]
    list_filter = ["status", "kind", "target", "account"]
    search_fields = ["title"]
    list_select_related = ["account"]
    fields = (*DRAFT_FIELDS, "status", "created_by", "approved_by", "approved_at", "report")
    inlines = [BatchInline]
    actions = ["approve", "start", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["status", "created_by", "approved_by", "approved_at", "report"]
        if obj is not None and obj.status != MassSend.Status.DRAFT:
            return [*DRAFT_FIELDS, *fixed]
        return fixed

    @admin.display(description=_("progress"))
    def progress_bar(self, obj):
        share = obj.progress
        if share is None:
            return "-"
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', round(share * 100), round(share * 100)
        )

    @admin.display(description=_("report"))
    def report(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        figures = send_report(obj)
        reasons = figures.pop("failed_by_reason")
        rows = [(k, v) for k, v in figures.items()] + [
            (f"failed: {code}", n) for code, n in reasons.items()
        ]
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    def save_model(self, request, obj, form, change):
        try:
            save_draft(obj, request.user)
        except ValidationError as exc:  # changed meanwhile by someone else: say so
            self.message_user(request, _refusal(exc), messages.ERROR)

    def has_approve_permission(self, request):
        return request.user.has_perm(APPROVE_PERMISSION)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Approve the selected mass sends"), permissions=["approve"])
    def approve(self, request, queryset):
        self._each(request, queryset, lambda send: approve_send(send, request.user), _("approved"))

    @admin.action(description=_("Send (now or at the scheduled time)"), permissions=["change"])
    def start(self, request, queryset):
        self._each(request, queryset, start_send, _("started"))

    @admin.action(description=_("Cancel the selected mass sends"), permissions=["change"])
    def cancel(self, request, queryset):
        self._each(request, queryset, cancel_send, _("cancelled"))

    def _each(self, request, queryset, act, done_word):
        for send in queryset:
            try:
                act(send)
            except ValidationError as exc:
                self.message_user(request, f"{send}: {_refusal(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{send}: {done_word}", messages.SUCCESS)


@admin.register(MassSendRecipient)
class MassSendRecipientAdmin(admin.ModelAdmin):
    """Who a send reached, and how many mass sends each follower may still get this month."""

    list_display = ["openid", "send", "status", "error_code", "sent_at", "quota_left"]
    list_filter = ["status", "send"]
    search_fields = ["openid"]
    list_select_related = ["send"]
    readonly_fields = [
        "send",
        "user",
        "customer",
        "openid",
        "batch",
        "status",
        "not_before",
        "error_code",
        "sent_at",
    ]

    def get_queryset(self, request):
        start, _next = month_bounds(timezone.now())
        used = (
            MassSendRecipient.objects.filter(
                user_id=OuterRef("user_id"), status="sent", sent_at__gte=start
            )
            .order_by()
            .values("user_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(used=Coalesce(Subquery(used, output_field=IntegerField()), Value(0)))
        )

    @admin.display(description=_("mass sends left this month"))
    def quota_left(self, obj):
        return max(MONTHLY_MASS_QUOTA - obj.used, 0)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WeChatTag)
class WeChatTagAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "tag", "wechat_id", "member_count", "synced_at"]
    list_filter = ["account"]
    readonly_fields = ["wechat_id", "name", "member_count", "synced_at"]
    fields = ["account", "tag", *readonly_fields]
    actions = ["push"]

    def has_add_permission(self, request):
        return False  # a WeChat tag is made by pushing a crm tag (the action) or by a pull

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Push the CRM's members to WeChat"), permissions=["change"])
    def push(self, request, queryset):
        for linked in queryset.select_related("account", "tag"):
            try:
                result = push_tag(linked.account, linked.tag)
            except (SendError, ValidationError) as exc:
                self.message_user(request, f"{linked}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{linked}: {result}", messages.SUCCESS)
