"""Demo teams: 售前 (pre-sales, the default) and 售后 (after-sales) with the demo agents, routing
rules, business hours 9:00-21:00 with China's holidays, and an SLA policy, so the inbox shows
teams and SLA badges. The open conversations loaded before, and those of the last
HISTORY_DAYS, get their team and SLA clock; the recent ones' clocks are replayed through the
inbox's own SLA actions in the order things happened, so the WeChat dashboard's SLA attainment
has a history. While the demo runs, the beat's work (breaches, presence expiry) runs every
minute, as Celery beat does in production."""

import threading
import time as timer
from datetime import time, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.inbox.routing import choose_team, expire_presence
from crm.inbox.sla import (
    check_breaches,
    on_agent_response,
    on_customer_messages,
    on_resolved,
    start_clocks,
)
from crm.models import (
    ACTIVE_STATUSES,
    BusinessHours,
    Conversation,
    RoutingRule,
    SenderKind,
    SlaClock,
    SlaPolicy,
    Team,
    TeamMembership,
)

HISTORY_DAYS = 35

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
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    placed = list(
        Conversation.objects.filter(Q(status__in=ACTIVE_STATUSES) | Q(opened_at__gte=since))
        .exclude(pk__in=SlaClock.objects.values("conversation_id"))
        .order_by("opened_at", "pk")
    )
    for conversation in placed:
        first = conversation.messages.filter(direction="in").order_by("sent_at").first()
        team, _notes = choose_team(conversation, first.content if first else "")
        if team is not None:
            Conversation.objects.filter(pk=conversation.pk).update(team=team)
            conversation.team = team
    start_clocks(placed)
    for conversation in placed:
        _replay(conversation)
    breaches = check_breaches()
    stdout.write(
        f"teams: 售前 and 售后, {len(placed)} conversations given a team and SLA clock, "
        f"{breaches} open ones past a target"
    )


def _replay(conversation: Conversation) -> None:
    """The conversation's SLA clock moved by what happened in it, through the actions the inbox
    calls as it happens (crm.inbox.sla)."""
    with transaction.atomic():
        for direction, kind, at in conversation.messages.order_by("sent_at", "id").values_list(
            "direction", "sender_kind", "sent_at"
        ):
            if direction == "in":
                on_customer_messages([(conversation.pk, at)])
            elif kind == SenderKind.AGENT:
                on_agent_response(conversation.pk, at)
        if conversation.resolved_at is not None:
            on_resolved(conversation.pk, conversation.resolved_at)


def after_start(stdout) -> None:
    def beat_forever():
        while True:
            timer.sleep(60)
            try:
                check_breaches()
                expire_presence()
            except Exception as exc:  # noqa: BLE001  the demo keeps running; say what failed
                stdout.write(f"teams: SLA check failed: {exc}")

    threading.Thread(target=beat_forever, name="demo-sla-beat", daemon=True).start()
    stdout.write("teams: SLA breaches and agents' presence checked every minute")


def urls() -> list[tuple[str, str]]:
    return [("团队与分配 Teams", "/admin/crm/team/")]
