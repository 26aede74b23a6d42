"""SLA attainment of WeChat service conversations (README "SLA attainment").

Cohort: WeChat service conversations opened in the period (local dates) that have an SLA clock
(an SLA policy applied to their account and team when they opened). Each conversation has up to
three kinds of targets, all measured in business time (crm.business_time): its first response,
its resolution, and each next response (an agent's answer to a customer message that followed
an earlier answer). A target is *decided* once it was met (the answer or resolution came at or
before its due time) or missed (it came later, or its due time passed first); targets still
running are left out.

- `sla_attainment` = targets met ÷ targets decided, the three kinds together;
- `first_response_attainment`, `next_response_attainment`, `resolution_attainment`: the same
  for one kind;
- `sla_conversations`: the cohort's size.
Per agent (the conversation's assignee at computation time) and per team (its team then), the
same figures. Rates are fractions 0..1, None when nothing was decided. Computed live (not
snapshotted): the clocks change as targets are decided.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from crm.models import Conversation, SlaClock

from .common import local_bounds, rate

COLUMNS = [
    "assignee_id",
    "team_id",
    "first_response_met",
    "next_met",
    "next_breached",
    "resolution_met",
]


def sla_frame(
    start: date, end: date, account: str | None = None, assignee_id: int | None = None
) -> pd.DataFrame:
    """The cohort's clocks, one row per conversation (COLUMNS)."""
    low, high = local_bounds(start, end)
    rows = SlaClock.objects.filter(
        conversation__channel="wechat",
        conversation__kind=Conversation.Kind.SERVICE,
        conversation__opened_at__gte=low,
        conversation__opened_at__lt=high,
    )
    if account:
        rows = rows.filter(conversation__account=account)
    if assignee_id is not None:
        rows = rows.filter(conversation__assignee_id=assignee_id)
    return pd.DataFrame.from_records(
        rows.values_list(
            "conversation__assignee_id",
            "conversation__team_id",
            "first_response_met",
            "next_met",
            "next_breached",
            "resolution_met",
        ),
        columns=COLUMNS,
    )


def _figures(frame: pd.DataFrame) -> dict[str, Any]:
    first = frame["first_response_met"].dropna().astype(bool)
    resolution = frame["resolution_met"].dropna().astype(bool)
    next_met, next_late = int(frame["next_met"].sum()), int(frame["next_breached"].sum())
    met = int(first.sum()) + int(resolution.sum()) + next_met
    decided = len(first) + len(resolution) + next_met + next_late
    return {
        "sla_conversations": len(frame),
        "sla_attainment": rate(met, decided),
        "first_response_attainment": rate(int(first.sum()), len(first)),
        "next_response_attainment": rate(next_met, next_met + next_late),
        "resolution_attainment": rate(int(resolution.sum()), len(resolution)),
        "sla_met": met,
        "sla_decided": decided,
    }


def sla_attainment(
    start: date, end: date, account: str | None = None, assignee_id: int | None = None
) -> dict[str, Any]:
    """The period's SLA figures (see the module docstring), with `agents` and `teams` rows:
    {agent_id | team_id, figures...}, busiest first, unassigned / no team last."""
    frame = sla_frame(start, end, account, assignee_id)
    result = _figures(frame)
    for key, column in (("agents", "assignee_id"), ("teams", "team_id")):
        rows = []
        if not frame.empty:
            keyed = frame.assign(_key=pd.to_numeric(frame[column]).fillna(0).astype(int))
            for value, group in keyed.groupby("_key"):
                rows.append({column: int(value) or None, **_figures(group)})  # type: ignore[call-overload]
        rows.sort(key=lambda r: (r[column] is None, -r["sla_conversations"], r[column] or 0))
        result[key] = rows
    return result
