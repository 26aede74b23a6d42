"""Admin of teams (members, maximum open conversations, "sees every team"), routing rules,
business hours with their dated exceptions, SLA policies, and the read-only records: agent
presence and SLA breaches. Configuration only: conversations move through crm.inbox.routing.

A routing rule whose team was deleted (or made inactive) keeps its place but routes to the
default team: the list says so in its "team" column and in a warning above the list.
"""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import (
    AgentPresence,
    BusinessHours,
    HolidayException,
    RoutingRule,
    SlaBreach,
    SlaPolicy,
    Team,
    TeamMembership,
)
from .readonly import ReadOnlyAdmin


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    fields = ["user", "max_open", "see_all"]
    extra = 1


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    fields = ["account", "weekday", "start", "end"]
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "default", "member_count", "return_after_minutes", "active"]
    list_filter = ["active", "default"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline, BusinessHoursInline]

    @admin.display(description=_("members"))
    def member_count(self, obj: Team) -> int:
        return obj.memberships.count()


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["position", "account", "kind", "value", "team_or_fallback", "active"]
    list_display_links = ["position", "kind"]
    list_filter = ["kind", "active", "team"]
    search_fields = ["account", "value"]
    list_select_related = ["team"]
    ordering = ["account", "position", "id"]

    @admin.display(description=_("team"))
    def team_or_fallback(self, obj: RoutingRule):
        if obj.team_missing:
            return format_html(
                '<span class="routing-fallback" style="color:#cf1322">{}</span>',
                _("Team deleted or inactive: routes to the default team"),
            )
        return obj.team

    def changelist_view(self, request, extra_context=None):
        missing = [r for r in RoutingRule.objects.filter(active=True) if r.team_missing]
        if missing and request.method == "GET":
            messages.warning(
                request,
                _(
                    "%(count)d active routing rule(s) name a deleted or inactive team; "
                    "their conversations go to the default team: %(rules)s"
                )
                % {"count": len(missing), "rules": ", ".join(f"#{r.pk}" for r in missing)},
            )
        return super().changelist_view(request, extra_context)


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    list_display = ["account", "team", "weekday", "start", "end"]
    list_filter = ["team", "weekday"]
    search_fields = ["account"]


@admin.register(HolidayException)
class HolidayExceptionAdmin(admin.ModelAdmin):
    list_display = ["date", "account", "team", "closed", "start", "end", "note"]
    list_filter = ["closed", "team"]
    date_hierarchy = "date"


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "team",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_hours",
        "warn_percent",
        "active",
    ]
    list_filter = ["active", "team"]


@admin.register(AgentPresence)
class AgentPresenceAdmin(ReadOnlyAdmin):
    list_display = ["user", "status", "shown_status", "last_seen_at", "offline_since"]
    list_filter = ["status"]

    @admin.display(description=_("presence now"))
    def shown_status(self, obj: AgentPresence) -> str:
        return obj.effective_status()


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyAdmin):
    list_display = ["due_at", "conversation", "target", "agent", "team", "recorded_at"]
    list_filter = ["target", "team", ("due_at", admin.DateFieldListFilter)]
    list_select_related = ["conversation", "agent", "team"]
    date_hierarchy = "due_at"
