"""The exact KPI definitions of DESIGN.md section 5, as shown in the dashboards' tooltips."""

from django.utils.translation import gettext_lazy as _

DEFINITIONS = {
    "conversations": _(
        "Conversations opened in the period: a user's first inbound message (not an event) while "
        "they had no open or pending conversation on that account."
    ),
    "response_rate": _(
        "Conversations opened in the period whose first human response (an agent's message; not "
        "auto-replies, welcome messages or surveys) came within 48 hours of opening, divided by "
        "the conversations opened."
    ),
    "first_response_seconds": _(
        "Median (and p90, mean) of first human response minus opening, over the period's "
        "conversations that got one. p90 by linear interpolation, like PostgreSQL percentile_cont."
    ),
    "resolution_rate": _(
        "Conversations opened in the period and resolved by an agent (now), divided by the "
        "conversations opened."
    ),
    "satisfaction_rate": _(
        "Conversations opened in the period rated 4 or 5, divided by those rated (a lone digit 1-5 "
        "within 24 hours after the satisfaction survey)."
    ),
    "sla_attainment": _(
        "SLA targets met divided by SLA targets decided, over the period's conversations with an "
        "SLA policy: first response, each next response and resolution, each measured in "
        "business time (the hours of the account and team, China's public holidays and 调休 "
        "workdays); a target still running is not counted."
    ),
    "follower_count": _(
        "The latest follower snapshot on or before the end of the period; the change is that "
        "minus the latest snapshot before its start."
    ),
    "influence": _(
        "Influence index v1: (0.2·W1 + 0.8·W2) × 160, W1 = ln(posts + 1), W2 = 0.4·ln(reposts + "
        "1) + 0.4·ln(comments + 1) + 0.2·ln(likes + 1), over the brand's original posts of the "
        "period."
    ),
    "reposts_comments": _(
        "Reposts plus comments (转评数): sums of the latest known counters of the brand's own "
        "original posts published in the period."
    ),
    "conversion_rate": _(
        "Leads with Weibo as their source created in the period that have converted (their "
        "customer paid or joined the membership), divided by those leads."
    ),
    "mentions": _(
        "Posts and comments by others that mention the brand account or match one of its keyword "
        "rules, created in the period; sentiment by SnowNLP (≥ 0.6 positive, ≤ 0.4 negative)."
    ),
    "funnel": _(
        "Customers first seen in the period, and how many of them ever reached lead, customer "
        "(paid) and member; Weibo-sourced customers who also subscribed on WeChat."
    ),
    "weibo_to_wechat_paths": _(
        "Weibo-sourced customers who subscribed on WeChat, by the first recorded path: handoff "
        "link opened in WeChat (OAuth); handoff QR code (a handoff that linked, a handoff merge "
        "or a scan of a Weibo-handoff channel code); then a merge by verified phone, by unionid, "
        "by staff; then a verified phone key, a unionid key; otherwise not recorded."
    ),
    "attribution": _(
        "An order (or membership) is attributed to its customer's touches in the 30 days up to "
        "its payment (joining): Weibo leads (with their campaign and KOL) and applied WeChat "
        "channel code scans; first touch the earliest, last touch the latest."
    ),
}


# Series names of the charts (static/dashboards/dashboards.js reads them from the page).
CHART_LABELS = {
    "conversations": _("Conversations"),
    "response_rate": _("Response rate %"),
    "resolution_rate": _("Resolution rate %"),
    "satisfaction_rate": _("Satisfaction rate %"),
    "followers": _("Followers"),
    "positive": _("Positive"),
    "neutral": _("Neutral"),
    "negative": _("Negative"),
    "reposts": _("Reposts"),
    "comments": _("Comments"),
}
