"""Routing: which team a new conversation joins, and which agent of it takes it; presence and
transfers. Every assignment goes through `crm.inbox.agents.assign_conversation`, so whatever
follows assignments (the live inbox) sees the automatic ones too.

- `route_new_conversation` (called by crm.inbox.receiving when a message opens a conversation):
  the account's routing rules in order (keyword or menu click, tier or tag), else its default
  rule, else the default team; a rule whose team was deleted falls through to the default. It
  then starts the SLA clock and assigns inside the team.
- `assign_in_team` (`pick_and_assign`): the online agent with the fewest open or pending
  conversations under their maximum; on a tie, the one assigned to longest ago (round robin).
  Nobody online, or everyone at their maximum: the conversation waits unassigned in the team
  queue, and `route_waiting` hands it out when someone comes online or has room.
- `set_presence` / `expire_presence`: online, away, offline; a presence without a heartbeat for
  INBOX_PRESENCE_TTL seconds is offline. An agent who goes offline keeps their conversations,
  unless their team returns them to the queue after `return_after_minutes`.
- `transfer_conversation`: to an agent or a team, with a note.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .. import live
from ..models import (
    ACTIVE_STATUSES,
    AgentPresence,
    Conversation,
    ConversationTransfer,
    InboxEvent,
    Message,
    Presence,
    RoutingRule,
    Tag,
    Team,
    TeamMembership,
)
from ..models.teams import presence_ttl
from ..prepared import Prepared
from . import config
from .agents import assign_conversation
from .common import OPENED_HANDLERS, InboxError
from .sla import start_clocks

logger = logging.getLogger(__name__)

MENU_CLICK_WINDOW = timedelta(minutes=30)

# `func(customer) -> tier name or None`, registered by the app that owns tiers (members):
# crm imports no higher app.
TIER_LOOKUPS: list[str] = []


def register_tier_lookup(path: str) -> None:
    """Declare how to read a customer's membership tier name, for `tier` routing rules."""
    if path not in TIER_LOOKUPS:
        TIER_LOOKUPS.append(path)


def _tier_of(customer) -> str | None:
    for path in TIER_LOOKUPS:
        tier = import_string(path)(customer)
        if tier:
            return str(tier)
    return None


class _Facts:
    """What the rules ask about a new conversation, each looked up once and only if asked."""

    def __init__(self, conversation: Conversation, content: str):
        self.conversation = conversation
        self.content = (content or "").casefold()
        self._menu: str | None | bool = False
        self._tier: str | None | bool = False
        self._tags: set[str] | None = None

    def menu_key(self) -> str | None:
        if self._menu is False:
            c = self.conversation
            click = (
                Message.objects.filter(
                    channel=c.channel,
                    account=c.account,
                    external_user=c.external_user,
                    msg_type="event",
                    sent_at__gte=c.opened_at - MENU_CLICK_WINDOW,
                    sent_at__lte=c.opened_at,
                    data__event="CLICK",
                )
                .order_by("-sent_at", "-id")
                .values_list("data", flat=True)
                .first()
            )
            self._menu = (click or {}).get("event_key") or None
        return self._menu  # type: ignore[return-value]

    def tier(self) -> str | None:
        if self._tier is False:
            self._tier = _tier_of(self.conversation.customer)
        return self._tier  # type: ignore[return-value]

    def tags(self) -> set[str]:
        if self._tags is None:
            # By the customer's id: a conversation opened in a batch has not loaded its customer.
            names = Tag.objects.filter(customers=self.conversation.customer_id).values_list(
                "name", flat=True
            )
            self._tags = {n.casefold() for n in names}
        return self._tags

    def matches(self, rule: RoutingRule) -> bool:
        value = rule.value.strip()
        kind = rule.kind
        if kind == RoutingRule.Kind.KEYWORD:
            return bool(value) and value.casefold() in self.content
        if kind == RoutingRule.Kind.MENU:
            return bool(value) and self.menu_key() == value
        if kind == RoutingRule.Kind.TIER:
            tier = self.tier()
            return bool(value) and tier is not None and tier.casefold() == value.casefold()
        if kind == RoutingRule.Kind.TAG:
            return bool(value) and value.casefold() in self.tags()
        return kind == RoutingRule.Kind.DEFAULT


def _rules(account: str | None = None) -> list[RoutingRule]:
    rows = RoutingRule.objects.filter(active=True).select_related("team").order_by("position", "id")
    if account is not None:
        rows = rows.filter(Q(account=account) | Q(account=""))
    return list(rows)


def choose_team(
    conversation: Conversation,
    content: str = "",
    *,
    rules: list[RoutingRule] | None = None,
    default: Team | None | bool = False,
) -> tuple[Team | None, list[str]]:
    """The team for a new conversation and the notes of what happened on the way (a matched
    rule whose team is gone). `rules` (active, any account, in order) and `default` (the
    default team) when the caller loaded them once for many conversations. Reads only."""
    if rules is None:
        rules = _rules(conversation.account)
    rules = [r for r in rules if r.account in (conversation.account, "")]
    facts = _Facts(conversation, content)
    notes: list[str] = []
    specific = [r for r in rules if r.kind != RoutingRule.Kind.DEFAULT]
    # The account's own default before the one for every account.
    defaults = sorted(
        (r for r in rules if r.kind == RoutingRule.Kind.DEFAULT), key=lambda r: r.account == ""
    )
    for rule in specific + defaults:
        if not facts.matches(rule):
            continue
        if not rule.team_missing:
            return rule.team, notes
        notes.append(f"rule {rule.pk} names no active team: the default team takes it")
        if rule.kind != RoutingRule.Kind.DEFAULT:
            # The matched rule's own choice is lost: the account's default decides.
            for fallback in defaults:
                if not fallback.team_missing:
                    return fallback.team, notes
            break
    if default is False:
        default = Team.objects.filter(default=True, active=True).first()
    return (default if isinstance(default, Team) else None), notes


def online_members(team: Team, now: datetime):
    """The team's memberships of agents online now (a heartbeat within the TTL)."""
    return TeamMembership.objects.filter(
        team=team,
        user__is_active=True,
        user__is_staff=True,
        user__presence__status=Presence.ONLINE,
        user__presence__last_seen_at__gte=now - presence_ttl(),
    )


# Each member's open or pending conversations counted only up to their maximum (LIMIT inside a
# LATERAL join, on the (assignee, status) index): an agent who holds thousands (a manager's
# reassignment, a departed colleague's queue) costs no more than one at their maximum.
PICK_SQL = """
SELECT m.id, m.team_id, m.user_id, m.max_open, m.see_all, m.last_assigned_at
FROM crm_teammembership m
JOIN crm_agentpresence p ON p.user_id = m.user_id
JOIN auth_user u ON u.id = m.user_id
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n FROM (
        SELECT 1 FROM crm_conversation c
        WHERE c.assignee_id = m.user_id AND c.status = ANY(%(active)s)
        LIMIT m.max_open
    ) AS capped
) AS held
WHERE m.team_id = %(team)s AND u.is_active AND u.is_staff
  AND p.status = %(online)s AND p.last_seen_at >= %(since)s AND held.n < m.max_open
ORDER BY held.n, m.last_assigned_at ASC NULLS FIRST, m.user_id
LIMIT 1
"""


# The whole automatic assignment in one statement: the pick, marked as above; the conversation
# placed in the team and given to the agent (assign_conversation's write, with its team, or the
# team alone when nobody has room: it then waits in the team's queue); the "assigned" event as
# crm.live.emit writes it (by nobody: the routing). Rows: the agent's columns, then the event's
# id and time; none when nobody was picked. tests/crm/test_routing.py holds it to the rows
# assign_conversation writes.
PICK_AND_ASSIGN_SQL = f"""
WITH best AS (
    UPDATE crm_teammembership SET last_assigned_at = %(now)s
    FROM ({PICK_SQL}) AS pick
    WHERE crm_teammembership.id = pick.id
    RETURNING crm_teammembership.user_id
), placed AS (
    UPDATE crm_conversation SET team_id = %(team)s, assignee_id = (SELECT user_id FROM best)
    WHERE id = %(conversation)s
    RETURNING id, status, assignee_id
), event AS (
    INSERT INTO crm_inboxevent (at, kind, conversation_id, message_id, direction, status,
                                assignee_id, by_id)
    SELECT %(at)s, %(kind)s, id, NULL, '', status, assignee_id, NULL
    FROM placed WHERE assignee_id IS NOT NULL
    RETURNING id, at
)
SELECT {{user_columns}}, event.id, event.at
FROM best JOIN auth_user u ON u.id = best.user_id CROSS JOIN event
"""  # noqa: S608  constant SQL (the user's columns from the model), values as parameters


# PICK_AND_ASSIGN_SQL is prepared once per database connection (crm.prepared): planning it took
# about as long as running it (1.0 ms against 1.2 ms, EXPLAIN ANALYZE on the bench database),
# and its values do not change the plan.
PREPARED_NAME = "crm_route_pick_and_assign"


def _pick_and_assign_sql() -> str:
    fields = get_user_model()._meta.concrete_fields
    return PICK_AND_ASSIGN_SQL.format(user_columns=", ".join(f'u."{f.column}"' for f in fields))


PICK_AND_ASSIGN = Prepared(
    PREPARED_NAME,
    {
        "active": "varchar[]",
        "team": "bigint",
        "online": "varchar",
        "since": "timestamptz",
        "now": "timestamptz",
        "conversation": "bigint",
        "kind": "varchar",
        "at": "timestamptz",
    },
    _pick_and_assign_sql,
)


def _pick_params(team: Team, now: datetime) -> dict:
    return {
        "active": [str(s) for s in ACTIVE_STATUSES],
        "team": team.pk,
        "online": str(Presence.ONLINE),
        "since": now - presence_ttl(),
        "now": now,
    }


# The team lock, sent with the pick in one round trip: in READ COMMITTED each statement of the
# string takes its own snapshot, so the pick still counts the loads committed before the lock
# was granted (0.2-0.3 ms a routing on a loaded 2-core machine, bench/inbox_routing.py).
LOCK_TEAM_SQL = "SELECT 1 FROM crm_team WHERE id = %(team)s FOR UPDATE;"


def _pick_and_mark_portable(team: Team, now: datetime):
    """pick_and_assign's choice without LATERAL, UPDATE ... FROM ... RETURNING or FOR UPDATE,
    for the demo's SQLite (whose writes are serialised by the database lock), one count per
    online member; the member marked as assigned to at `now`. Returns their user, or None."""
    best, best_key = None, None
    for member in online_members(team, now).select_related("user"):
        held = Conversation.objects.filter(
            assignee_id=member.user_id, status__in=ACTIVE_STATUSES
        ).count()
        if held >= member.max_open:
            continue
        assigned = member.last_assigned_at
        key = (held, assigned is not None, assigned or now, member.user_id)
        if best_key is None or key < best_key:
            best, best_key = member, key
    if best is None:
        return None
    TeamMembership.objects.filter(pk=best.pk).update(last_assigned_at=now)
    return best.user


def pick_and_assign(conversation: Conversation, team: Team, now: datetime, *, lock: bool = True):
    """Place the conversation in the team and give it to the team's online member with the
    fewest open or pending conversations under their maximum (on a tie the one assigned to
    longest ago, then the lowest user id), marked as assigned to at `now`; as
    assign_conversation does it (its write, with the team, and its "assigned" event). On
    PostgreSQL one statement (PICK_AND_ASSIGN_SQL) after the team lock, in the same trip.
    Returns the agent, or None: nobody online has room, and the conversation waits in the
    team's queue. `lock`: first lock the team row until the caller's transaction ends (False:
    the caller already holds it), so two conversations routed at once never push an agent past
    the maximum. Caller's transaction."""
    if connection.vendor != "postgresql":
        return _pick_and_assign_portable(conversation, team, now)
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    params = {
        **_pick_params(team, now),
        "conversation": conversation.pk,
        "kind": str(InboxEvent.Kind.ASSIGNED),
        "at": timezone.now(),
    }
    with connection.cursor() as cursor:
        PICK_AND_ASSIGN.execute(cursor, params, before=LOCK_TEAM_SQL if lock else "")
        row = cursor.fetchone()
    conversation.team = team
    if row is None:
        return None
    *user_row, event_id, event_at = row
    agent = user_model.from_db(connection.alias, [f.attname for f in fields], user_row)
    conversation.assignee = agent
    live.announce(
        [
            InboxEvent(
                pk=event_id,
                at=event_at,
                kind=InboxEvent.Kind.ASSIGNED,
                conversation_id=conversation.pk,
                status=conversation.status,
                assignee_id=agent.pk,
            )
        ]
    )
    return agent


def _pick_and_assign_portable(conversation: Conversation, team: Team, now: datetime):
    """pick_and_assign in several statements (the demo's SQLite)."""
    agent = _pick_and_mark_portable(team, now)
    if agent is None:
        Conversation.objects.filter(pk=conversation.pk).update(team=team)
        conversation.team = team
    else:
        assign_conversation(conversation, agent, by=None, team=team)
    return agent


def assign_in_team(conversation: Conversation, team: Team, *, now: datetime | None = None):
    """Give the conversation to the team's best online agent (pick_and_assign). Returns the
    agent, or None (it waits in the team queue). Atomic: the team row is locked, so two
    conversations routed at once never push an agent past the max."""
    now = now or timezone.now()
    with transaction.atomic():
        return pick_and_assign(conversation, team, now)


def route_new_conversations(
    opened: list[tuple[Conversation, str]], *, now: datetime | None = None
) -> list[Team | None]:
    """Place conversations that just opened, given with their first message's text: each one's
    team (choose_team), SLA clock (crm.inbox.sla.start_clocks), and an agent of the team if one
    is online with room (pick_and_assign, which locks the team once per batch). Once a team has
    nobody with room, the rest of the batch waits in its queue: a fixed number of queries per
    team when no rule asks about the customer and nobody is online. Caller's transaction (the
    one that opened them; one of its own without one), no savepoint: routing a conversation is
    its rules' reads and two statements, the SLA clock and pick_and_assign
    (bench/inbox_routing.py). Returns the teams, in order."""
    now = now or timezone.now()
    rules = config.routing_rules()
    default = config.default_team()
    teams: list[Team | None] = []
    for conversation, content in opened:
        team, notes = choose_team(conversation, content, rules=rules, default=default)
        for note in notes:
            logger.warning("routing conversation %s: %s", conversation.pk, note)
        if team is not None:
            conversation.team = team
        teams.append(team)
    with transaction.atomic(savepoint=False):
        start_clocks([c for c, _content in opened])
        locked: set[int] = set()
        full: set[int] = set()  # teams where nobody online has room
        waiting: dict[int, list[int]] = {}
        for (conversation, _content), team in zip(opened, teams, strict=True):
            if team is None:
                continue
            if conversation.assignee_id is None and team.pk not in full:
                # Placed in the team even when nobody has room.
                if pick_and_assign(conversation, team, now, lock=team.pk not in locked) is None:
                    full.add(team.pk)
                locked.add(team.pk)
            else:
                waiting.setdefault(team.pk, []).append(conversation.pk)
        for team_id, ids in waiting.items():
            Conversation.objects.filter(pk__in=ids).update(team_id=team_id)
    return teams


def route_new_conversation(
    conversation: Conversation, *, content: str = "", now: datetime | None = None
) -> Team | None:
    """route_new_conversations for one conversation. Returns its team."""
    return route_new_conversations([(conversation, content)], now=now)[0]


OPENED_HANDLERS.append(route_new_conversations)


def route_waiting(team: Team, *, now: datetime | None = None) -> int:
    """Hand the team's unassigned open or pending conversations, oldest first, to its online
    agents while any has room. Returns how many were assigned."""
    now = now or timezone.now()
    assigned = 0
    waiting = Conversation.objects.filter(
        team=team, assignee__isnull=True, status__in=ACTIVE_STATUSES
    ).order_by("opened_at", "id")
    for conversation in waiting.iterator():
        if assign_in_team(conversation, team, now=now) is None:
            break
        assigned += 1
    return assigned


def set_presence(user, status: str, *, now: datetime | None = None) -> AgentPresence:
    """Set an agent's presence (and count it as a heartbeat). Coming online hands them the
    waiting conversations of their teams. Raises InboxError for an unknown status."""
    now = now or timezone.now()
    if status not in Presence.values:
        raise InboxError({"status": _("Unknown presence: %(status)s.") % {"status": status}})
    with transaction.atomic():
        presence, _created = AgentPresence.objects.select_for_update().get_or_create(user=user)
        before = presence.effective_status(now)
        presence.status = status
        presence.offline_chosen = status == Presence.OFFLINE
        presence.last_seen_at = now
        if status == Presence.OFFLINE:
            presence.offline_since = presence.offline_since if before == Presence.OFFLINE else now
        else:
            presence.offline_since = None
        presence.save()
    if status == Presence.ONLINE and before != Presence.ONLINE:
        for team in Team.objects.filter(memberships__user=user, active=True):
            route_waiting(team, now=now)
    return presence


def heartbeat(user, *, now: datetime | None = None) -> AgentPresence:
    """The agent's inbox page is open: keep their presence, online unless they chose one (an
    agent who chose offline stays offline with the page open; one the expiry marked offline
    comes back online)."""
    current = AgentPresence.objects.filter(user=user).first()
    if current is None or (current.status == Presence.OFFLINE and not current.offline_chosen):
        return set_presence(user, Presence.ONLINE, now=now)
    return set_presence(user, current.status, now=now)


def expire_presence(*, now: datetime | None = None) -> dict[str, int]:
    """Mark agents whose page stopped sending heartbeats offline (since their last heartbeat
    plus the TTL); return the open conversations of agents offline longer than their team's
    `return_after_minutes` to the team queue; hand out waiting conversations. Safe to run twice.
    Returns counts: expired, returned, assigned."""
    now = now or timezone.now()
    ttl = presence_ttl()
    expired = AgentPresence.objects.filter(
        ~Q(status=Presence.OFFLINE), last_seen_at__lt=now - ttl
    ).update(status=Presence.OFFLINE, offline_since=F("last_seen_at") + ttl)
    returned = 0
    for team in Team.objects.filter(active=True, return_after_minutes__isnull=False):
        limit = now - timedelta(minutes=team.return_after_minutes or 0)
        gone = AgentPresence.objects.filter(
            status=Presence.OFFLINE, offline_since__lte=limit
        ).values("user_id")
        for conversation in Conversation.objects.filter(
            team=team, status__in=ACTIVE_STATUSES, assignee_id__in=gone
        ):
            assign_conversation(conversation, None, by=None)
            returned += 1
    assigned = sum(route_waiting(team, now=now) for team in Team.objects.filter(active=True))
    return {"expired": expired, "returned": returned, "assigned": assigned}


def transfer_conversation(
    conversation: Conversation,
    *,
    by,
    note: str,
    agent=None,
    team: Team | None = None,
    now: datetime | None = None,
) -> ConversationTransfer:
    """Hand a conversation to another agent or to a team's queue, with a note for them.

    To an agent: it is assigned to them (and joins their team if they are not in its team). To a
    team: it joins that team's queue and goes to its best online agent, or waits. Atomic.
    Raises InboxError: no note, neither or both of agent and team, a resolved conversation, an
    inactive team or agent (nothing is changed then).
    """
    now = now or timezone.now()
    note = (note or "").strip()
    errors: dict[str, str] = {}
    if not note:
        errors["note"] = _("Write a note for whoever takes it over.")
    if (agent is None) == (team is None):
        errors["to"] = _("Transfer to an agent or to a team.")
    if conversation.status not in ACTIVE_STATUSES:
        errors["conversation"] = _("This conversation is resolved; it cannot be transferred.")
    if team is not None and not team.active:
        errors["team"] = _("The team %(team)s is not active.") % {"team": team}
    if errors:
        raise InboxError(errors)
    with transaction.atomic():
        from_agent, from_team = conversation.assignee, conversation.team
        if agent is not None:
            assign_conversation(conversation, agent, by=by)
            in_team = (
                conversation.team_id is not None
                and TeamMembership.objects.filter(user=agent, team_id=conversation.team_id).exists()
            )
            if not in_team:
                joined = Team.objects.filter(memberships__user=agent, active=True).first()
                if joined is not None:
                    Conversation.objects.filter(pk=conversation.pk).update(team=joined)
                    conversation.team = joined
        else:
            assert team is not None
            Conversation.objects.filter(pk=conversation.pk).update(team=team)
            conversation.team = team
            assign_conversation(conversation, None, by=by)
            assign_in_team(conversation, team, now=now)
        return ConversationTransfer.objects.create(
            conversation=conversation,
            at=now,
            by=by,
            from_agent=from_agent,
            from_team=from_team,
            to_agent=agent,
            to_team=team if team is not None else conversation.team,
            note=note,
        )
