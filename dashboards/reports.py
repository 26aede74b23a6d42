"""What each dashboard page shows, as plain data: figures, changes, series and tables.

Views render it, exports write its tables; both go through `page_data`. Tables are lists of rows
with their column headers, so CSV and Excel exports are the same tables the page shows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from . import kpis, snapshots
from .periods import Period


@dataclass
class Table:
    name: str
    title: str
    columns: list[tuple[str, Any]]  # (key, header)
    rows: list[dict[str, Any]]


def change(current, previous, kind: str) -> dict[str, Any] | None:
    """The change of a figure against the previous period: percentage points for rates,
    a relative change for counts and times; None when either side is missing."""
    if current is None or previous is None:
        return None
    if kind == "rate":
        return {"value": round((current - previous) * 100, 1), "unit": "pp"}
    if not previous:
        return None
    return {"value": round((current - previous) / previous * 100, 1), "unit": "%"}


def _wechat_figures(period: Period, assignee: int | None) -> dict[str, Any]:
    if assignee is None:
        return snapshots.figures("wechat", period.start, period.end, period.account)
    return kpis.wechat_kpis(period.start, period.end, period.account, assignee)


def _wechat_breakdowns(period: Period, assignee: int | None) -> dict[str, Any]:
    """The period's figures, daily series, per-agent table and first-response histogram, all
    from the period's day parts, read once: everyone's from the snapshots (past days) and live
    (today); an agent's own computed live from their conversations.
    """
    start, end, account = period.start, period.end, period.account
    if assignee is None:
        parts = snapshots.period_parts("wechat", start, end, account)
    else:
        parts = kpis.wechat_day_parts(start, end, account, assignee)
    return {
        "figures": snapshots.figures("wechat", start, end, account, parts=parts),
        "series": snapshots.series("wechat", start, end, account, parts=parts),
        "agents": kpis.wechat_agent_rows(parts.values()),
        "histogram": kpis.wechat_histogram_rows(parts.values()),
    }


def wechat_page(period: Period, assignee: int | None = None) -> dict[str, Any]:
    breakdowns = _wechat_breakdowns(period, assignee)
    now = breakdowns["figures"]
    before = _wechat_figures(period.previous(), assignee)
    cards = [
        ("conversations", _("Conversations"), now["conversations"], "count"),
        ("response_rate", _("Response rate"), now["response_rate"], "rate"),
        (
            "first_response_seconds",
            _("Median first response"),
            now["first_response_seconds"]["median"],
            "seconds",
        ),
        ("resolution_rate", _("Resolution rate"), now["resolution_rate"], "rate"),
        ("satisfaction_rate", _("Satisfaction rate"), now["satisfaction_rate"], "rate"),
    ]
    sla = kpis.sla_attainment(period.start, period.end, period.account, assignee)
    earlier = period.previous()
    sla_before = kpis.sla_attainment(earlier.start, earlier.end, period.account, assignee)
    cards.append(("sla_attainment", _("SLA attainment"), sla["sla_attainment"], "rate"))
    previous = {
        "sla_attainment": sla_before["sla_attainment"],
        "conversations": before["conversations"],
        "response_rate": before["response_rate"],
        "first_response_seconds": before["first_response_seconds"]["median"],
        "resolution_rate": before["resolution_rate"],
        "satisfaction_rate": before["satisfaction_rate"],
    }
    daily = [
        {
            "day": row["day"],
            "conversations": row["conversations"],
            "response_rate": row["response_rate"],
            "median_first_response": row["first_response_seconds"]["median"],
            "resolution_rate": row["resolution_rate"],
            "satisfaction_rate": row["satisfaction_rate"],
            "messages_in": row["messages_in"],
            "messages_out": row["messages_out"],
        }
        for row in breakdowns["series"]
    ]
    agents = breakdowns["agents"]
    names = {
        user.pk: user.get_full_name() or user.username  # agents by name, as in the inbox
        for user in get_user_model().objects.filter(
            pk__in=[r["agent_id"] for r in agents if r["agent_id"]]
        )
    }
    for row in agents:
        row["agent"] = names.get(row["agent_id"], "") if row["agent_id"] else _("Unassigned")
    return {
        "figures": now,
        "cards": [
            {
                "key": key,
                "label": label,
                "value": value,
                "kind": kind,
                "change": change(value, previous[key], "rate" if kind == "rate" else kind),
            }
            for key, label, value, kind in cards
        ],
        "histogram": breakdowns["histogram"],
        "tables": [
            Table(
                "agents",
                str(_("Per agent")),
                [
                    ("agent", _("Agent")),
                    ("conversations", _("Conversations")),
                    ("median_first_response_seconds", _("Median first response (s)")),
                    ("resolution_rate", _("Resolution rate")),
                    ("satisfaction_rate", _("Satisfaction rate")),
                ],
                agents,
            ),
            Table(
                "daily",
                str(_("By day")),
                [
                    ("day", _("Day")),
                    ("conversations", _("Conversations")),
                    ("response_rate", _("Response rate")),
                    ("median_first_response", _("Median first response (s)")),
                    ("resolution_rate", _("Resolution rate")),
                    ("satisfaction_rate", _("Satisfaction rate")),
                    ("messages_in", _("Messages in")),
                    ("messages_out", _("Messages out")),
                ],
                daily,
            ),
            Table(
                "labels",
                str(_("Conversation labels")),
                [("label", _("Label")), ("conversations", _("Conversations"))],
                kpis.wechat_label_counts(period.start, period.end, period.account, assignee),
            ),
            *_sla_tables(sla),
        ],
    }


def _sla_tables(sla: dict[str, Any]) -> list[Table]:
    """SLA attainment per agent and per team (dashboards.kpis.sla)."""
    from crm.models import Team

    users = get_user_model().objects.filter(
        pk__in=[r["assignee_id"] for r in sla["agents"] if r["assignee_id"]]
    )
    names = {u.pk: u.get_full_name() or u.username for u in users}
    teams = dict(Team.objects.values_list("pk", "name"))
    for row in sla["agents"]:
        row["agent"] = names.get(row["assignee_id"], "") if row["assignee_id"] else _("Unassigned")
    for row in sla["teams"]:
        row["team"] = teams.get(row["team_id"], "") if row["team_id"] else _("No team")
    figures = [
        ("sla_conversations", _("Conversations")),
        ("sla_attainment", _("SLA attainment")),
        ("first_response_attainment", _("First response")),
        ("next_response_attainment", _("Next response")),
        ("resolution_attainment", _("Resolution")),
    ]
    return [
        Table(
            "sla_agents",
            str(_("SLA attainment per agent")),
            [("agent", _("Agent")), *figures],
            sla["agents"],
        ),
        Table(
            "sla_teams",
            str(_("SLA attainment per team")),
            [("team", _("Team")), *figures],
            sla["teams"],
        ),
    ]


def weibo_page(period: Period, assignee: int | None = None) -> dict[str, Any]:
    parts = snapshots.period_parts("weibo", period.start, period.end, period.account)
    series = snapshots.series("weibo", period.start, period.end, period.account, parts=parts)
    now = kpis.weibo_period_figures(
        parts.values(), series, period.start, period.end, period.account
    )
    previous = period.previous()
    before = snapshots.figures("weibo", previous.start, previous.end, previous.account)
    cards = [
        ("follower_count", _("Followers"), now["follower_count"], "count"),
        ("influence", _("Influence"), now["influence"], "count"),
        ("reposts_comments", _("Reposts + comments"), now["reposts_comments"], "count"),
        ("conversion_rate", _("Conversion rate"), now["conversion_rate"], "rate"),
        ("mentions", _("Mentions"), now["mentions"], "count"),
    ]
    daily = [
        {
            "day": row["day"],
            "followers": row["follower_count"],
            "posts": row["posts"],
            "reposts_comments": row["reposts_comments"],
            "mentions": row["mentions"],
            "positive": row["sentiment"]["positive"],
            "neutral": row["sentiment"]["neutral"],
            "negative": row["sentiment"]["negative"],
            "leads": row["leads"],
        }
        for row in series
    ]
    return {
        "figures": now,
        "cards": [
            {
                "key": key,
                "label": label,
                "value": value,
                "kind": kind,
                "change": change(value, before[key], kind),
            }
            for key, label, value, kind in cards
        ],
        "tables": [
            Table(
                "posts",
                str(_("Top posts")),
                [
                    ("created_at", _("Published")),
                    ("text", _("Text")),
                    ("reposts", _("Reposts")),
                    ("comments", _("Comments")),
                    ("likes", _("Likes")),
                    ("reposts_comments", _("Reposts + comments")),
                    ("idstr", _("Post id")),
                ],
                kpis.weibo_top_posts(period.start, period.end, period.account),
            ),
            Table(
                "kols",
                str(_("Top KOLs")),
                [
                    ("screen_name", _("Weibo user")),
                    ("followers", _("Followers")),
                    ("mentions", _("Mentions")),
                    ("reposts_comments", _("Reposts + comments")),
                    ("uid", _("uid")),
                ],
                kpis.weibo_top_kols(period.start, period.end, period.account),
            ),
            Table(
                "daily",
                str(_("By day")),
                [
                    ("day", _("Day")),
                    ("followers", _("Followers")),
                    ("posts", _("Posts")),
                    ("reposts_comments", _("Reposts + comments")),
                    ("mentions", _("Mentions")),
                    ("positive", _("Positive share")),
                    ("neutral", _("Neutral share")),
                    ("negative", _("Negative share")),
                    ("leads", _("Leads")),
                ],
                daily,
            ),
        ],
    }


def funnel_page(
    period: Period, assignee: int | None = None, channel: str | None = None
) -> dict[str, Any]:
    now = kpis.funnel(period.start, period.end, channel)
    steps = [
        ("customers", _("First seen"), now["customers"]),
        ("leads", _("Became leads"), now["leads"]),
        ("customers_paid", _("Paid"), now["customers_paid"]),
        ("members", _("Joined membership"), now["members"]),
    ]
    rows = [
        {"step": label, "customers": value, "share": kpis.rate(value, now["customers"])}
        for _key, label, value in steps
    ]
    rows.append(
        {
            "step": _("Weibo-sourced"),
            "customers": now["weibo_sourced"],
            "share": kpis.rate(now["weibo_sourced"], now["customers"]),
        }
    )
    rows.append(
        {
            "step": _("Weibo-sourced who subscribed on WeChat"),
            "customers": now["weibo_to_wechat"],
            "share": now["weibo_to_wechat_rate"],
        }
    )
    crossed = now["weibo_to_wechat"]
    path_rows = [
        {"path": PATH_LABELS[path], "customers": n, "share": kpis.rate(n, crossed)}
        for path, n in now["weibo_to_wechat_by_path"].items()
    ]
    return {
        "figures": now,
        "steps": [{"name": str(label), "value": value} for _key, label, value in steps],
        "tables": [
            Table(
                "funnel",
                str(_("Funnel")),
                [
                    ("step", _("Step")),
                    ("customers", pgettext_lazy("a number of", "Customers")),
                    ("share", _("Share")),
                ],
                rows,
            ),
            Table(
                "paths",
                str(_("Weibo → WeChat by path")),
                [
                    ("path", _("Path")),
                    ("customers", pgettext_lazy("a number of", "Customers")),
                    ("share", _("Share")),
                ],
                path_rows,
            ),
        ],
    }


PATH_LABELS = {
    "oauth_link": _("Handoff link signed in with WeChat (OAuth)"),
    "handoff_qr": _("Handoff QR code"),
    "verified_phone": _("Verified phone"),
    "unionid": _("Same WeChat unionid"),
    "manual_merge": _("Merged by staff"),
    "other": _("Not recorded"),
}


PAGES: dict[str, tuple[Any, Callable[..., dict[str, Any]], bool]] = {
    # name: (title, builder, open to agents for their own figures)
    "wechat": (_("WeChat service"), wechat_page, True),
    "weibo": (_("Weibo marketing"), weibo_page, False),
    "funnel": (_("Cross-channel funnel"), funnel_page, False),
}
