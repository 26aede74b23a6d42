"""The routing and SLA configuration (rules, the default team, SLA policies, business hours),
cached in each process for CONFIG_SECONDS: routing a new conversation then reads only what
changes with every conversation (the agents' loads). A change saved or deleted in this process
(the admin, a test) clears the cache at once (`watch_config`, connected in CrmConfig.ready);
other processes see it within CONFIG_SECONDS."""

from __future__ import annotations

import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from ..models import (
    BusinessHours,
    HolidayException,
    RoutingRule,
    SlaPolicy,
    Team,
    schedule_for,
)

CONFIG_SECONDS = 10.0
_cache: dict[Any, tuple[float, Any]] = {}


def cached(key, load):
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < CONFIG_SECONDS:
        return hit[1]
    value = load()
    _cache[key] = (now, value)
    return value


def clear(**_kwargs) -> None:
    _cache.clear()


def routing_rules() -> list[RoutingRule]:
    """Every active rule, any account, in order (position, id), with its team."""
    return cached(
        "rules",
        lambda: list(
            RoutingRule.objects.filter(active=True)
            .select_related("team")
            .order_by("position", "id")
        ),
    )


def default_team() -> Team | None:
    return cached("default", lambda: Team.objects.filter(default=True, active=True).first())


def sla_policies() -> list[SlaPolicy]:
    return cached("policies", lambda: list(SlaPolicy.objects.filter(active=True)))


def schedule(account: str, team_id: int | None):
    """crm.models.hours.schedule_for, cached."""
    return cached(("schedule", account, team_id), lambda: schedule_for(account, team_id))


def watch_config() -> None:
    for model in (RoutingRule, Team, SlaPolicy, BusinessHours, HolidayException):
        post_save.connect(clear, sender=model, dispatch_uid=f"crm.inbox.config.{model.__name__}")
        post_delete.connect(
            clear, sender=model, dispatch_uid=f"crm.inbox.config.del.{model.__name__}"
        )
