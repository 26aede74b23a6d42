from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.fields import SecretFieldsAdminMixin
from crm.models import Handoff

from .campaigns import engagements
from .handoff import send_campaign_handoff
from .lead_credit import credit_campaign, delete_campaigns
from .models import (
    Campaign,
    CampaignKol,
    FollowerSnapshot,
    KeywordAlert,
    KeywordRule,
    ScheduledPost,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)


@admin.register(WeiboAccount)
class WeiboAccountAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """The fan-service app secret is write-only (crm.fields.SecretFormField); the OAuth access
    token is set by the Weibo authorisation flow only and never shown."""

    list_display = [
        "screen_name",
        "uid",
        "token_state",
        "token_expires_at",
        "last_polled_at",
        "rate_limited_until",
        "last_poll_error",
        "active",
    ]
    list_filter = ["token_status", "active"]
    search_fields = ["screen_name", "uid"]
    readonly_fields = [
        "token_status",
        "token_error",
        "token_expires_at",
        "cursors",
        "rate_limited_until",
        "last_polled_at",
        "last_poll_error",
    ]
    exclude = ["access_token"]
    actions = ["poll_now", "snapshot_now"]
    change_list_template = "channels_weibo/account_changelist.html"

    @admin.display(description=_("authorisation"))
    def token_state(self, obj):
        if obj.token_status != "ok":
            return format_html(
                '<span style="color:#cf1322">{}</span> <a href="{}">{}</a>',
                obj.get_token_status_display(),
                reverse("weibo-connect"),
                _("Authorise again"),
            )
        if obj.token_expires_soon:
            return format_html(
                '<span style="color:#d46b08">{}</span> <a href="{}">{}</a>',
                _("Expires soon"),
                reverse("weibo-connect"),
                _("Authorise again"),
            )
        return obj.get_token_status_display()

    def changelist_view(self, request, extra_context=None):
        for account in WeiboAccount.objects.filter(active=True):
            if account.token_status != "ok":
                messages.error(
                    request,
                    _("%(account)s: %(status)s")
                    % {"account": account, "status": account.get_token_status_display()},
                )
            elif account.token_expires_soon:
                messages.warning(
                    request,
                    _(
                        "%(account)s: the Weibo authorisation expires at %(at)s; authorise again before."
                    )
                    % {
                        "account": account,
                        "at": timezone.localtime(account.token_expires_at).strftime(
                            "%Y-%m-%d %H:%M"
                        ),
                    },
                )
        return super().changelist_view(request, extra_context)

    # Polling and snapshots call Weibo with the account's token and write what they find:
    # the right of those who may change the account (marketing), not of its readers.
    @admin.action(description=_("Poll now"), permissions=["change"])
    def poll_now(self, request, queryset):
        from .polling import poll_account

        for account in queryset:
            result = poll_account(account)
            messages.info(request, f"{account}: {result}")

    @admin.action(description=_("Take today's follower snapshot"), permissions=["change"])
    def snapshot_now(self, request, queryset):
        from .polling import snapshot_followers

        for account in queryset:
            messages.info(request, f"{account}: {snapshot_followers(account)}")


@admin.register(WeiboUser)
class WeiboUserAdmin(admin.ModelAdmin):
    list_display = [
        "screen_name",
        "uid",
        "followers_count",
        "verified_type",
        "kol_category",
        "customer",
    ]
    list_filter = ["kol_category", "verified"]
    list_editable = ["kol_category"]
    search_fields = ["screen_name", "uid"]
    raw_id_fields = ["customer"]


@admin.register(WeiboPost)
class WeiboPostAdmin(admin.ModelAdmin):
    list_display = [
        "idstr",
        "author",
        "short_text",
        "created_at",
        "is_brand_post",
        "mentions_brand",
        "sentiment_label",
        "reposts_count",
        "comments_count",
        "attitudes_count",
        "cascade_link",
    ]
    list_filter = ["account", "is_brand_post", "mentions_brand", "sentiment_label"]
    search_fields = ["idstr", "text", "author__screen_name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["author", "root", "parent"]
    list_select_related = ["author"]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text[:60]

    @admin.display(description=_("cascade"))
    def cascade_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("weibo-post", args=[obj.idstr]), _("view")
        )


@admin.register(WeiboComment)
class WeiboCommentAdmin(admin.ModelAdmin):
    list_display = ["idstr", "author", "text", "created_at", "mentions_brand", "sentiment_label"]
    list_filter = ["account", "mentions_brand", "sentiment_label"]
    search_fields = ["idstr", "text", "author__screen_name"]
    raw_id_fields = ["author", "post"]
    list_select_related = ["author"]


@admin.register(FollowerSnapshot)
class FollowerSnapshotAdmin(admin.ModelAdmin):
    list_display = ["account", "day", "followers_count", "taken_at"]
    list_filter = ["account"]
    date_hierarchy = "day"


@admin.register(KeywordRule)
class KeywordRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "words",
        "exclusions",
        "action_tag",
        "action_lead",
        "action_alert",
        "action_handoff",
        "active",
    ]
    list_filter = ["active", "action_lead", "action_alert", "action_handoff"]
    search_fields = ["name", "words"]
    filter_horizontal = ["accounts"]


@admin.register(KeywordAlert)
class KeywordAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "rule", "words", "text", "customer", "acknowledged"]
    list_filter = ["acknowledged", "rule"]
    list_editable = ["acknowledged"]
    raw_id_fields = ["post", "comment", "customer"]
    search_fields = ["text", "words"]


class CampaignKolInline(admin.TabularInline):
    """The campaign's KOLs and the fee paid to each (fen), edited on the campaign."""

    model = CampaignKol
    extra = 1
    raw_id_fields = ["kol"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "start", "end", "report", "engaged_link"]
    inlines = [CampaignKolInline]
    raw_id_fields = ["posts"]

    # The leads' campaign credit follows the campaign's dates, brand posts, account and KOLs
    # (saved with the inlines and the many-to-many here), and its deletion.
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        credit_campaign(form.instance.pk)

    def delete_model(self, request, obj):
        delete_campaigns(Campaign.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        delete_campaigns(queryset)

    @admin.display(description=_("results"))
    def report(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("weibo-campaign", args=[obj.pk]), _("view")
        )

    @admin.display(description=_("engaged users"))
    def engaged_link(self, obj):
        url = reverse("admin:channels_weibo_campaign_engaged", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("view"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/engaged/",
                self.admin_site.admin_view(self.engaged_view),
                name="channels_weibo_campaign_engaged",
            ),
        ] + super().get_urls()

    def engaged_view(self, request, pk):
        """Who reposted or commented on the campaign's KOL posts, with the state of their WeChat
        handoff; POST (those who may change the campaign) sends the link to the selected ones."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign.objects.select_related("account"), pk=pk)
        can_send = self.has_change_permission(request, campaign)
        if request.method == "POST":
            if not can_send:
                raise PermissionDenied
            self._send_handoffs(request, campaign, request.POST.getlist("engagement"))
            return redirect("admin:channels_weibo_campaign_engaged", campaign.pk)
        rows, total = engagements(campaign)
        handoffs = {
            handoff.weibo_uid: handoff
            for handoff in Handoff.objects.filter(
                purpose=Handoff.Purpose.CAMPAIGN, weibo_uid__in={row.author.uid for row in rows}
            ).select_related("campaign_link__campaign")
        }
        for row in rows:
            repost = isinstance(row, WeiboPost)
            row.key = f"{'post' if repost else 'comment'}:{row.pk}"
            row.kind = gettext("repost") if repost else gettext("comment")
            row.handoff_state = _handoff_state(handoffs.get(row.author.uid), campaign)
        return render(
            request,
            "admin/channels_weibo/campaign/engaged.html",
            {
                **self.admin_site.each_context(request),
                "campaign": campaign,
                "rows": rows,
                "total": total,
                "can_send": can_send,
                "title": gettext("Engaged users of %(name)s") % {"name": campaign.name},
                "opts": self.model._meta,
            },
        )

    def _send_handoffs(self, request, campaign, keys) -> None:
        # Each person on their own: a refusal is reported for them and the others still go out;
        # two engagements of one person send one link.
        if not keys:
            messages.warning(request, gettext("Choose the people to send the link to."))
            return
        done: set[str] = set()
        for key in keys:
            item = _engagement(key)
            if item is None:
                messages.error(request, f"{key}: {gettext('No such repost or comment.')}")
                continue
            if item.author.uid in done:
                continue
            done.add(item.author.uid)
            who = f"@{item.author.screen_name}"
            try:
                how = send_campaign_handoff(campaign, item, agent=request.user)
            except ValidationError as exc:
                messages.error(request, f"{who}: {' '.join(exc.messages)}")
            else:
                sent = (
                    gettext("sent by private message")
                    if how == "message"
                    else gettext("sent as a public comment reply")
                )
                messages.success(request, f"{who}: {sent}")


def _engagement(key: str):
    """The repost ("post:<id>") or comment ("comment:<id>") a checkbox names, or None."""
    kind, _sep, pk = key.partition(":")
    models: dict[str, type[WeiboPost] | type[WeiboComment]] = {
        "post": WeiboPost,
        "comment": WeiboComment,
    }
    model = models.get(kind)
    if model is None or not pk.isdigit():
        return None
    return model.objects.select_related("author__customer").filter(pk=int(pk)).first()


def _handoff_state(handoff, campaign) -> str:
    """How the person's campaign handoff stands, for the engaged users page."""
    if handoff is None:
        return ""
    link = getattr(handoff, "campaign_link", None)
    state = (
        gettext("followed through")
        if handoff.used_at
        else gettext("link sent")
        if handoff.sent_by
        else gettext("not sent: %(error)s") % {"error": handoff.send_error}
        if handoff.send_error
        else gettext("link issued, not sent yet")
    )
    if link is not None and link.campaign_id != campaign.pk:
        state += f" ({link.campaign.name})"
    return state


@admin.register(ScheduledPost)
class ScheduledPostAdmin(admin.ModelAdmin):
    list_display = ["short_text", "account", "publish_at", "status", "result_idstr", "error"]
    list_filter = ["status", "account"]
    readonly_fields = ["status", "result_idstr", "post", "error", "published_at", "created_by"]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text[:60]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
