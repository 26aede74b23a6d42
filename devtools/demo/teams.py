"""Demo teams: 售前 (pre-sales, the default) and 售后 (after-sales) with the demo agents, routing
rules, business hours 9:00-21:00 with China's holidays, and an SLA policy, so the inbox shows
teams and SLA badges. The open conversations loaded before get their team and SLA clock."""

from datetime import time

from django.contrib.auth.models import User

from crm.inbox.routing import choose_team
from crm.inbox.sla import start_clocks
from crm.models import (
    ACTIVE_STATUSES,
    BusinessHours,
    Conversation,
    RoutingRule,
    SlaClock,
    SlaPolicy,
    Team,
    TeamMembership,
)

MEMBERS = {"售前": ["agent", "xiaowang"], "售后": ["xiaoli", "azhen"]}
AFTER_SALES_WORDS = ["退货", "退款", "过敏", "快递", "发货"]


def services() -> list[list[str]]:
    return []


def load(stdout) -> None:
    if Team.objects.filter(name="售前").exists():
        stdout.write("teams: demo teams already loaded")
        return
    presales = Team.objects.create(name="售前", default=True)
    aftersales = Team.objects.create(name="售后", return_after_minutes=30)
    teams = {"售前": presales, "售后": aftersales}
    for name, usernames in MEMBERS.items():
        for user in User.objects.filter(username__in=usernames):
            TeamMembership.objects.create(team=teams[name], user=user, max_open=8)
    for position, word in enumerate(AFTER_SALES_WORDS):
        RoutingRule.objects.create(kind="keyword", value=word, team=aftersales, position=position)
    RoutingRule.objects.create(kind="default", team=presales, position=100)
    for weekday in range(7):
        BusinessHours.objects.create(weekday=weekday, start=time(9), end=time(21))
    SlaPolicy.objects.create(
        name="标准服务", first_response_minutes=15, next_response_minutes=10, resolution_hours=8
    )
    waiting = list(
        Conversation.objects.filter(status__in=ACTIVE_STATUSES).exclude(
            pk__in=SlaClock.objects.values("conversation_id")
        )
    )
    for conversation in waiting:
        first = conversation.messages.filter(direction="in").order_by("sent_at").first()
        team, _notes = choose_team(conversation, first.content if first else "")
        if team is not None:
            Conversation.objects.filter(pk=conversation.pk).update(team=team)
            conversation.team = team
    start_clocks(waiting)
    stdout.write(
        f"teams: 售前 and 售后, {len(waiting)} open conversations given a team and SLA clock"
    )


def after_start(stdout) -> None:
    return None


def urls() -> list[tuple[str, str]]:
    return [("团队与分配 Teams", "/admin/crm/team/")]
