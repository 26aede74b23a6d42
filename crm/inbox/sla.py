"""SLA clocks: started when a conversation opens, moved by the customer's and the agents'
messages and by resolution, checked by a beat task (crm.models.sla explains the targets).

All due times are business time (crm.business_time) with the hours of the conversation's
account and team, so a conversation opened on a holiday eve is due after the holiday. A breach
is recorded once per (conversation, target, due time) whichever check sees it first, with
`due_at` = the moment the target was missed.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..bulk import for_update, placeholders
from ..business_time import Schedule
from ..models import (
    ACTIVE_STATUSES,
    Conversation,
    SlaBreach,
    SlaClock,
    SlaPolicy,
    SlaTarget,
)
from . import config


def _policy_key(policy: SlaPolicy) -> tuple[bool, bool, int]:
    return (policy.team_id is None, policy.account == "", policy.pk)


def policy_for(
    account: str, team_id: int | None, policies: list[SlaPolicy] | None = None
) -> SlaPolicy | None:
    """The most specific active policy: (account, team), (any, team), (account, any), (any, any).
    `policies`: the active policies, when the caller loaded them once for many conversations."""
    if policies is None:
        policies = list(SlaPolicy.objects.filter(active=True))
    candidates = [
        p
        for p in policies
        if p.account in (account, "") and (p.team_id is None or p.team_id == team_id)
    ]
    return min(candidates, key=_policy_key) if candidates else None


def _due(schedule: Schedule, start: datetime, seconds: float, warn_percent: int):
    return schedule.add(start, seconds), schedule.add(start, seconds * warn_percent / 100)


def start_clocks(conversations: list[Conversation]) -> list[SlaClock]:
    """Start the SLA clocks of conversations that just opened, each under the policy of its
    account and team (none: no clock). A fixed number of queries per distinct (account, team).
    Caller's transaction; a conversation that has a clock keeps it."""
    if not conversations:
        return []
    policies = config.sla_policies()
    if not policies:
        return []
    schedules: dict[tuple[str, int | None], Schedule] = {}
    clocks = []
    for conversation in conversations:
        key = (conversation.account, conversation.team_id)
        policy = policy_for(*key, policies=policies)
        if policy is None:
            continue
        if key not in schedules:
            schedules[key] = config.schedule(*key)
        schedule, opened = schedules[key], conversation.opened_at
        first_due, first_warn = _due(
            schedule, opened, policy.first_response_minutes * 60, policy.warn_percent
        )
        resolution_due, resolution_warn = _due(
            schedule, opened, policy.resolution_hours * 3600, policy.warn_percent
        )
        clocks.append(
            SlaClock(
                conversation=conversation,
                policy=policy,
                first_response_due=first_due,
                first_response_warn=first_warn,
                resolution_due=resolution_due,
                resolution_warn=resolution_warn,
            )
        )
    return SlaClock.objects.bulk_create(clocks, ignore_conflicts=True)


def _breach(clock: SlaClock, target: str, due: datetime | None, now: datetime) -> bool:
    """Record a breach once; True if it is new."""
    if due is None:
        return False
    conversation = clock.conversation
    try:
        with transaction.atomic():
            SlaBreach.objects.create(
                conversation_id=clock.conversation_id,
                target=target,
                due_at=due,
                recorded_at=now,
                agent_id=conversation.assignee_id,
                team_id=conversation.team_id,
            )
    except IntegrityError:
        return False
    return True


def _clock(conversation_id: int) -> SlaClock | None:
    return (
        SlaClock.objects.select_for_update(of=("self",))
        .select_related("policy", "conversation")
        .filter(conversation_id=conversation_id)
        .first()
    )


_WAITING_SQL = (
    "SELECT conversation_id FROM crm_slaclock WHERE conversation_id IN ({})"
    " AND first_response_met IS NOT NULL"
    " AND next_response_due IS NULL AND policy_id IS NOT NULL ORDER BY conversation_id{}"
)


def on_customer_messages(messages: list[tuple[int | None, datetime]]) -> None:
    """The customer wrote again in conversations (id, time): where an agent had answered and
    no next response is due yet, the next response is due M business minutes later. One query
    when no clock waits for it. Caller's transaction."""
    if not messages:
        return
    first_at: dict[int | None, datetime] = {}
    for conversation_id, at in messages:
        first_at.setdefault(conversation_id, at)
    # The clocks that wait, locked, in SQL written once (the ORM built this statement again for
    # every batch a worker drains, about 1 ms of CPU); their rows only when there are some.
    ids = [pk for pk in first_at if pk is not None]
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_WAITING_SQL.format(placeholders(ids), for_update()), ids)
        found = [row[0] for row in cursor.fetchall()]
    if not found:
        return
    waiting = SlaClock.objects.filter(pk__in=found).select_related("policy", "conversation")
    for clock in waiting:
        conversation, policy = clock.conversation, clock.policy
        assert policy is not None
        schedule = config.schedule(conversation.account, conversation.team_id)
        due, warn = _due(
            schedule,
            first_at[clock.conversation_id],
            policy.next_response_minutes * 60,
            policy.warn_percent,
        )
        SlaClock.objects.filter(pk=clock.pk).update(next_response_due=due, next_response_warn=warn)


def on_agent_response(conversation_id: int, at: datetime) -> None:
    """An agent answered at `at`: decide the first response, or the next response that was
    due, recording a breach if late. Caller's transaction."""
    clock = _clock(conversation_id)
    if clock is None:
        return
    updates: dict = {}
    if clock.first_response_met is None:
        met = clock.first_response_due is None or at <= clock.first_response_due
        updates["first_response_met"] = met
        if not met:
            _breach(clock, SlaTarget.FIRST_RESPONSE, clock.first_response_due, at)
    elif clock.next_response_due is not None:
        if at <= clock.next_response_due:
            updates["next_met"] = clock.next_met + 1
        else:
            updates["next_breached"] = clock.next_breached + 1
            _breach(clock, SlaTarget.NEXT_RESPONSE, clock.next_response_due, at)
        updates["next_response_due"] = updates["next_response_warn"] = None
    if updates:
        SlaClock.objects.filter(pk=clock.pk).update(**updates)


def on_resolved(conversation_id: int, at: datetime) -> None:
    """The conversation was resolved at `at`: decide the resolution target; a next response
    still due then counts as late if its time had passed. Caller's transaction."""
    clock = _clock(conversation_id)
    if clock is None:
        return
    updates: dict = {}
    if clock.resolution_met is None:
        met = clock.resolution_due is None or at <= clock.resolution_due
        updates["resolution_met"] = met
        if not met:
            _breach(clock, SlaTarget.RESOLUTION, clock.resolution_due, at)
    if clock.next_response_due is not None:
        if clock.next_response_due < at:
            updates["next_breached"] = clock.next_breached + 1
            _breach(clock, SlaTarget.NEXT_RESPONSE, clock.next_response_due, at)
        updates["next_response_due"] = updates["next_response_warn"] = None
    if updates:
        SlaClock.objects.filter(pk=clock.pk).update(**updates)


def check_breaches(*, now: datetime | None = None) -> int:
    """Record the breaches of active conversations whose due time has passed (the beat task,
    every minute). The first response and resolution are then decided as missed; a next
    response stays due (the late answer counts it). Safe to run twice. Returns breaches new."""
    now = now or timezone.now()
    recorded = 0
    active = Q(conversation__status__in=ACTIVE_STATUSES)
    targets = [
        (SlaTarget.FIRST_RESPONSE, "first_response_due", "first_response_met"),
        (SlaTarget.RESOLUTION, "resolution_due", "resolution_met"),
        (SlaTarget.NEXT_RESPONSE, "next_response_due", None),
    ]
    for target, due_field, met_field in targets:
        rows = SlaClock.objects.filter(active, **{f"{due_field}__lte": now})
        if met_field:
            rows = rows.filter(**{f"{met_field}__isnull": True})
        else:
            rows = rows.exclude(
                Exists(
                    SlaBreach.objects.filter(
                        conversation_id=OuterRef("conversation_id"),
                        target=target,
                        due_at=OuterRef(due_field),
                    )
                )
            )
        for clock in rows.select_related("conversation")[:1000]:
            with transaction.atomic():
                recorded += _breach(clock, target, getattr(clock, due_field), now)
                if met_field:
                    SlaClock.objects.filter(pk=clock.pk, **{f"{met_field}__isnull": True}).update(
                        **{met_field: False}
                    )
    return recorded


__all__ = [
    "check_breaches",
    "on_agent_response",
    "on_customer_messages",
    "on_resolved",
    "policy_for",
    "start_clocks",
]
