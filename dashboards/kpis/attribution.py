"""Attribution to revenue: which touches brought a paid order (or a membership).

The rule (the README's definition):

- A *touch* is a Weibo lead of the customer (at its `created_at`; with its campaign and KOL when
  the lead's source is a repost of, or a comment on, a KOL's campaign post within the campaign's
  period, the rule of `channels_weibo.campaigns.campaign_stats`) or an applied scan of a WeChat
  channel code by one of the customer's followers (`ChannelCodeScan.at`, with its code); the
  applied scan of a Weibo handoff's code is a `handoff` touch (touch id the handoff's), credited
  to the campaign and KOL of the handoff's lead by the same lead rule, so a KOL's lead that
  crossed to WeChat through its handoff keeps the KOL's credit. A handoff claimed by opening
  its link inside WeChat (`Handoff.used_via` = `oauth`: no scan) is the same `handoff` touch
  of the handoff's customer at its `used_at`, with no code. A handoff sent from a KOL
  campaign (`CampaignHandoff`) is credited to that campaign and KOL, and so is the lead it was
  sent for, whenever it was opened (before the lead rule).
- An *event* is a paid order (`paid_at` set, status paid, partially refunded or refunded;
  revenue = amount − refunded, fen) or a membership (`joined_at`).
- An event is attributed to the touches of its customer from 30 days before it up to its time
  (inclusive both ends): *first touch* the earliest of them, *last touch* the latest; ties go
  to the channel code scan, then the handoff, then the lead, then to the lower id. An event with no touch in
  its window is not attributed.
- A lead that falls under two campaigns or KOLs belongs to the lowest campaign id, then the
  lowest KOL id.

The campaign figures are read from what is stored: each lead's campaign and KOL
(channels_weibo.LeadCredit, kept by the actions that change what the rule reads; see
channels_weibo.lead_credit) and each event's first and last touch (dashboards.EventTouch, kept
per customer by the actions that change a customer's touches or events; see
attribution_store). The live form (`live=True`) computes it all in one PostgreSQL statement
(window functions over the events joined to their touches), so the work does not grow with
Python loops over orders; only the events of the customers who can give the figures asked for
are ranked (those of the given customers, or those with a lead of the given campaigns). On another database (the demo's SQLite file) the same
rule runs in Python (dashboards.kpis.attribution_portable).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from channels_weibo.models import (
    Campaign,
)

from . import attribution_portable as portable
from . import attribution_store as store
from .attribution_store import WINDOW, _params, _rows, _tables

TOUCHES = ("first", "last")


# Lead → (campaign, KOL): the stored credit (channels_weibo.LeadCredit), inlined where it is
# read so the planner sees the table's statistics. _LIVE_LEAD_KOLS is the same rule worked
# out here, kept as the reference the stored credit is tested against.
_STORED_LEAD_KOLS = """
WITH lead_kols AS NOT MATERIALIZED (
    SELECT lc.lead_id, lc.customer_id, lc.campaign_id, lc.kol_id FROM {credit} lc
),
"""

_LIVE_LEAD_KOLS = """
WITH kol_posts AS (
    SELECT ck.campaign_id, ck.weibouser_id AS kol_id, p.id AS post_id,
           (c.start::timestamp AT TIME ZONE %(tz)s) AS low,
           ((c."end" + 1)::timestamp AT TIME ZONE %(tz)s) AS high
    FROM {campaign_kol} ck
    JOIN {campaign} c ON c.id = ck.campaign_id
    JOIN {post} p ON p.author_id = ck.weibouser_id
     AND p.created_at >= (c.start::timestamp AT TIME ZONE %(tz)s)
     AND p.created_at < ((c."end" + 1)::timestamp AT TIME ZONE %(tz)s)
     AND (p.root_id IN (SELECT cp.weibopost_id FROM {campaign_posts} cp
                        WHERE cp.campaign_id = c.id)
          OR (p.mentions_brand AND p.account_id = c.account_id))
),
sources AS (
    SELECT kp.campaign_id, kp.kol_id, kp.low, kp.high,
           %(post_type)s AS type_id, ch.id::text AS source_id
    FROM kol_posts kp JOIN {post} ch ON ch.parent_id = kp.post_id
    UNION ALL
    SELECT kp.campaign_id, kp.kol_id, kp.low, kp.high, %(comment_type)s, cm.id::text
    FROM kol_posts kp JOIN {comment} cm ON cm.post_id = kp.post_id
),
lead_kols AS (
    SELECT DISTINCT ON (lead_id) lead_id, customer_id, campaign_id, kol_id
    FROM (
        SELECT l.id AS lead_id, l.customer_id, ch.campaign_id, ch.kol_id, 0 AS rule
        FROM {campaign_handoff} ch JOIN {handoff} h ON h.id = ch.handoff_id
        JOIN {lead} l ON l.id = h.lead_id AND l.source_channel = 'weibo'
        UNION ALL
        SELECT l.id, l.customer_id, s.campaign_id, s.kol_id, 1
        FROM sources s
        JOIN {lead} l ON l.source_type_id = s.type_id AND l.source_id = s.source_id
         AND l.source_channel = 'weibo' AND l.created_at >= s.low AND l.created_at < s.high
    ) found
    ORDER BY lead_id, rule, campaign_id, kol_id
),
"""

# Every touch and every event, and each event joined to the touches of its window, numbered
# from the first and the last.
_RANKED = """
scope AS ({scope}),
touches AS (
    SELECT l.customer_id, l.created_at AS at, 'weibo_lead' AS kind, l.id AS touch_id,
           lk.campaign_id, lk.kol_id, NULL::bigint AS code_id
    FROM {lead} l LEFT JOIN lead_kols lk ON lk.lead_id = l.id
    WHERE l.source_channel = 'weibo'
    UNION ALL
    SELECT u.customer_id, s.at,
           CASE WHEN h.id IS NULL THEN 'channel_code' ELSE 'handoff' END,
           COALESCE(h.id, s.id), COALESCE(hc.campaign_id, hk.campaign_id),
           CASE WHEN hc.handoff_id IS NULL THEN hk.kol_id ELSE hc.kol_id END, s.code_id
    FROM {scan} s JOIN {wechat_user} u ON u.id = s.user_id
    LEFT JOIN {code} cc ON cc.id = s.code_id AND cc.purpose = 'weibo_handoff'
    LEFT JOIN {account} a ON a.id = cc.account_id
    LEFT JOIN {handoff} h ON h.scene = cc.scene AND h.appid = a.appid
    LEFT JOIN {campaign_handoff} hc ON hc.handoff_id = h.id
    LEFT JOIN lead_kols hk ON hk.lead_id = h.lead_id
    WHERE s.applied AND u.customer_id IS NOT NULL
    UNION ALL
    SELECT h.customer_id, h.used_at, 'handoff', h.id, COALESCE(hc.campaign_id, hk.campaign_id),
           CASE WHEN hc.handoff_id IS NULL THEN hk.kol_id ELSE hc.kol_id END, NULL::bigint
    FROM {handoff} h
    LEFT JOIN {campaign_handoff} hc ON hc.handoff_id = h.id
    LEFT JOIN lead_kols hk ON hk.lead_id = h.lead_id
    WHERE h.used_via = 'oauth' AND h.used_at IS NOT NULL
),
events AS (
    SELECT 'order' AS event, o.id AS event_id, o.customer_id, o.paid_at AS at,
           o.amount_fen - o.refunded_fen AS revenue_fen
    FROM {order} o
    WHERE o.paid_at IS NOT NULL AND o.status = ANY(%(paid)s) AND o.customer_id IS NOT NULL
      AND o.customer_id IN (SELECT id FROM scope)
    UNION ALL
    SELECT 'membership', m.id, m.customer_id, m.joined_at, 0 FROM {membership} m
    WHERE m.customer_id IN (SELECT id FROM scope)
),
ranked AS (
    SELECT e.event, e.event_id, e.customer_id, e.at, e.revenue_fen,
           t.kind, t.touch_id, t.campaign_id, t.kol_id, t.code_id, t.at AS touch_at,
           row_number() OVER (PARTITION BY e.event, e.event_id
                              ORDER BY t.at, t.kind, t.touch_id) AS from_first,
           row_number() OVER (PARTITION BY e.event, e.event_id
                              ORDER BY t.at DESC, t.kind DESC, t.touch_id DESC) AS from_last
    FROM events e
    JOIN touches t ON t.customer_id = e.customer_id
     AND t.at <= e.at AND t.at >= e.at - %(window)s
)
"""


# The customers whose events are ranked: only they can give the figures asked for.
_SCOPES = {
    "customers": "SELECT unnest(%(customers)s::bigint[]) AS id",
    "campaigns": (
        "SELECT customer_id AS id FROM lead_kols WHERE campaign_id = ANY(%(campaigns)s)"
        " UNION SELECT h.customer_id FROM {campaign_handoff} ch"
        " JOIN {handoff} h ON h.id = ch.handoff_id WHERE ch.campaign_id = ANY(%(campaigns)s)"
    ),
}


def _statement(tail: str, scope: str, live: bool, **names: str) -> str:
    """_RANKED and `tail` after the leads' credit (stored, or `live` worked out by the rule),
    with the table names, the scope of customers (a key of _SCOPES) and `names` (chosen from
    constants) filled in."""
    tables = _tables()
    head = _LIVE_LEAD_KOLS if live else _STORED_LEAD_KOLS
    return (head + _RANKED + tail).format(  # noqa: S608  names from the models and constants
        **tables, scope=_SCOPES[scope].format(**tables), **names
    )


def _check(touch: str) -> str:
    if touch not in TOUCHES:
        raise ValueError(f"touch must be one of {TOUCHES}, not {touch!r}")
    return "from_first" if touch == "first" else "from_last"


def event_touches(customer_ids: Iterable[int], *, live: bool = False) -> list[dict[str, Any]]:
    """The first and last touch of every attributed event of these customers.

    Rows `{event, event_id, customer_id, at, revenue_fen, touch ("first"|"last"), kind,
    touch_id, campaign_id, kol_id, code_id, touch_at}`, ordered by event, event id, touch.
    An event with one touch in its window has the same touch twice. The leads' campaign credit
    is the stored one (channels_weibo.LeadCredit); `live` works it out by the rule instead (the
    reference the stored credit is tested against).
    """
    if connection.vendor != "postgresql":
        return portable.event_touches(customer_ids, WINDOW, live=live)
    sql = _statement(
        """
        SELECT event, event_id, customer_id, at, revenue_fen, 'first' AS touch, kind, touch_id,
               campaign_id, kol_id, code_id, touch_at
        FROM ranked WHERE from_first = 1 AND customer_id = ANY(%(customers)s)
        UNION ALL
        SELECT event, event_id, customer_id, at, revenue_fen, 'last', kind, touch_id,
               campaign_id, kol_id, code_id, touch_at
        FROM ranked WHERE from_last = 1 AND customer_id = ANY(%(customers)s)
        ORDER BY event, event_id, touch
        """,
        "customers",
        live,
    )
    return _rows(sql, _params(customers=list(customer_ids)))


def campaign_attribution(
    campaign_ids: Iterable[int], touch: str = "last", *, live: bool = False
) -> dict:
    """Per campaign and KOL, and per campaign in total (kol None):

    - customers: distinct customers with a lead of that campaign and KOL (the lead rule);
    - members: memberships whose `touch` (first or last) is such a lead;
    - orders, revenue_fen: paid orders whose `touch` is such a lead, and their revenue.

    Returns `{(campaign_id, kol_id or None): {customers, members, orders, revenue_fen}}` with
    only the pairs that have a figure; one SQL statement. On PostgreSQL it reads what is stored
    (each event's touches, EventTouch; each lead's credit, LeadCredit: attribution_store);
    `live` works everything out in the statement instead, the rule itself, which the stored
    figures are tested against. On another database the rule runs in Python (portable).
    """
    rank = _check(touch)
    if connection.vendor != "postgresql":
        return portable.campaign_attribution(campaign_ids, touch, WINDOW, live=live)
    if not live:
        return _figures(store.campaign_figures(list(campaign_ids), touch))
    sql = _statement(
        """
    , won AS (
        SELECT campaign_id, COALESCE(kol_id, 0) AS kol,
               count(*) FILTER (WHERE event = 'order') AS orders,
               COALESCE(sum(revenue_fen) FILTER (WHERE event = 'order'), 0) AS revenue_fen,
               count(DISTINCT customer_id) FILTER (WHERE event = 'membership') AS members
        FROM ranked WHERE {rank} = 1 AND campaign_id = ANY(%(campaigns)s)
        GROUP BY GROUPING SETS ((campaign_id, kol_id), (campaign_id))
    ), reached AS (
        SELECT campaign_id, COALESCE(kol_id, 0) AS kol, count(DISTINCT customer_id) AS customers
        FROM lead_kols WHERE campaign_id = ANY(%(campaigns)s)
        GROUP BY GROUPING SETS ((campaign_id, kol_id), (campaign_id))
    )
    SELECT COALESCE(r.campaign_id, w.campaign_id) AS campaign_id,
           COALESCE(r.kol, w.kol) AS kol,
           COALESCE(r.customers, 0) AS customers, COALESCE(w.members, 0) AS members,
           COALESCE(w.orders, 0) AS orders, COALESCE(w.revenue_fen, 0) AS revenue_fen
    FROM reached r FULL JOIN won w ON w.campaign_id = r.campaign_id AND w.kol = r.kol
    """,
        "campaigns",
        live,
        rank=rank,
    )
    return _figures(_rows(sql, _params(campaigns=list(campaign_ids))))


def _figures(rows: list[dict[str, Any]]) -> dict:
    result = {}
    for row in rows:
        key = (row.pop("campaign_id"), row.pop("kol") or None)
        result[key] = {name: int(value) for name, value in row.items()}
    return result


def campaign_figures(campaign: Campaign) -> dict:
    """The campaign page's attribution figures (last touch), keyed by KOL id (None = total).

    Registered with `channels_weibo.campaigns.register_attribution` by the dashboards app.
    """
    return {
        kol: figures
        for (campaign_id, kol), figures in campaign_attribution([campaign.pk]).items()
        if campaign_id == campaign.pk
    }
