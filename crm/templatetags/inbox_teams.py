"""Template helpers of the inbox's team and SLA pieces (templates/inbox/_teams.html, _sla.html),
so those pieces need nothing from the views that include them."""

from django import template
from django.utils import timezone

from ..models import AgentPresence, Presence, Team, TeamMembership

register = template.Library()


@register.simple_tag
def my_presence(user) -> str:
    """The user's presence as others see it (offline when their heartbeat stopped)."""
    presence = AgentPresence.objects.filter(user_id=user.pk).first()
    return presence.effective_status() if presence else Presence.OFFLINE


@register.simple_tag
def presence_choices():
    return Presence.choices


@register.simple_tag
def my_teams(user):
    return list(
        TeamMembership.objects.filter(user_id=user.pk, team__active=True).select_related("team")
    )


@register.simple_tag
def transfer_teams():
    return list(Team.objects.filter(active=True).order_by("name"))


@register.simple_tag
def transfers_of(conversation):
    return list(
        conversation.transfers.select_related("by", "to_agent", "to_team").order_by("at", "id")
    )


@register.simple_tag
def sla_timers(sla):
    """The running SLA timers of a conversation's clock (crm.models.SlaClock.timers)."""
    if not sla:
        return []
    return sla.timers(timezone.now())
