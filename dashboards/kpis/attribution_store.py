"""The stored side of attribution (dashboards.kpis.attribution): each event's first and last
touch (EventTouch), refreshed per customer when their touches or events change, and the KOL
campaign figures read from it and from the leads' stored credit (channels_weibo.LeadCredit).

`refresh_customers` is registered with `crm.attribution.register_customers_changed`, so it runs
in the transaction of the action that changed a customer's leads, applied scans, paid orders or
membership (or merged them). The ranking is the rule's (`_RANKED` in attribution.py) over that
customer's events and touches alone; which campaign and KOL a touch is credited to is read at
view time through LeadCredit and CampaignHandoff, which the campaign actions keep. PostgreSQL
only: on another database nothing is stored and the figures are worked out on each view.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from channels_wechat.models import ChannelCode, ChannelCodeScan, OfficialAccount, WeChatUser
from channels_weibo.models import (
    Campaign,
    CampaignHandoff,
    CampaignKol,
    LeadCredit,
    WeiboComment,
    WeiboPost,
)
from crm.models import Customer, Handoff, Lead
from members.models import Membership, Order
from members.models.orders import PAID_STATUSES

from ..models import EventTouch

WINDOW = timedelta(days=30)


def _tables() -> dict[str, str]:
    return {
        "campaign": Campaign._meta.db_table,
        "campaign_kol": CampaignKol._meta.db_table,
        "campaign_handoff": CampaignHandoff._meta.db_table,
        "campaign_posts": Campaign.posts.through._meta.db_table,
        "post": WeiboPost._meta.db_table,
        "comment": WeiboComment._meta.db_table,
        "lead": Lead._meta.db_table,
        "scan": ChannelCodeScan._meta.db_table,
        "code": ChannelCode._meta.db_table,
        "account": OfficialAccount._meta.db_table,
        "handoff": Handoff._meta.db_table,
        "wechat_user": WeChatUser._meta.db_table,
        "order": Order._meta.db_table,
        "membership": Membership._meta.db_table,
        "credit": LeadCredit._meta.db_table,
        "event_touch": EventTouch._meta.db_table,
    }


def _params(**extra: Any) -> dict[str, Any]:
    get_type = ContentType.objects.get_for_model
    return {
        "tz": settings.TIME_ZONE,
        "post_type": get_type(WeiboPost).pk,
        "comment_type": get_type(WeiboComment).pk,
        "paid": [str(status) for status in PAID_STATUSES],
        "window": WINDOW,
        **extra,
    }


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# The events and touches of the chosen customers ({chosen}: `= ANY(%(customers)s)` or `IS NOT
# NULL` for everyone), each event's touches of its window numbered from the first and the last,
# and one row per event with both.
_REFRESH = """
INSERT INTO {event_touch} (event, event_id, customer_id, first_kind, first_id, last_kind, last_id)
WITH touches AS (
    SELECT l.customer_id, l.created_at AS at, 'weibo_lead' AS kind, l.id AS touch_id
    FROM {lead} l WHERE l.source_channel = 'weibo' AND l.customer_id {chosen}
    UNION ALL
    SELECT u.customer_id, s.at,
           CASE WHEN h.id IS NULL THEN 'channel_code' ELSE 'handoff' END, COALESCE(h.id, s.id)
    FROM {scan} s JOIN {wechat_user} u ON u.id = s.user_id
    LEFT JOIN {code} cc ON cc.id = s.code_id AND cc.purpose = 'weibo_handoff'
    LEFT JOIN {account} a ON a.id = cc.account_id
    LEFT JOIN {handoff} h ON h.scene = cc.scene AND h.appid = a.appid
    WHERE s.applied AND u.customer_id {chosen}
    UNION ALL
    SELECT h.customer_id, h.used_at, 'handoff', h.id FROM {handoff} h
    WHERE h.used_via = 'oauth' AND h.used_at IS NOT NULL AND h.customer_id {chosen}
), events AS (
    SELECT 'order' AS event, o.id AS event_id, o.customer_id, o.paid_at AS at
    FROM {order} o
    WHERE o.paid_at IS NOT NULL AND o.status = ANY(%(paid)s) AND o.customer_id {chosen}
    UNION ALL
    SELECT 'membership', m.id, m.customer_id, m.joined_at FROM {membership} m
    WHERE m.customer_id {chosen}
), ranked AS (
    SELECT e.event, e.event_id, e.customer_id, t.kind, t.touch_id,
           row_number() OVER (PARTITION BY e.event, e.event_id
                              ORDER BY t.at, t.kind, t.touch_id) AS from_first,
           row_number() OVER (PARTITION BY e.event, e.event_id
                              ORDER BY t.at DESC, t.kind DESC, t.touch_id DESC) AS from_last
    FROM events e
    JOIN touches t ON t.customer_id = e.customer_id
     AND t.at <= e.at AND t.at >= e.at - %(window)s
)
SELECT event, event_id, min(customer_id),
       min(kind) FILTER (WHERE from_first = 1), min(touch_id) FILTER (WHERE from_first = 1),
       min(kind) FILTER (WHERE from_last = 1), min(touch_id) FILTER (WHERE from_last = 1)
FROM ranked WHERE from_first = 1 OR from_last = 1
GROUP BY event, event_id
ON CONFLICT (event, event_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id,
    first_kind = EXCLUDED.first_kind, first_id = EXCLUDED.first_id,
    last_kind = EXCLUDED.last_kind, last_id = EXCLUDED.last_id
"""

# Per campaign and KOL, and per campaign: the events whose `{touch}` touch is a lead credited
# to it (LeadCredit) or a handoff credited to it (its CampaignHandoff, else its lead's credit);
# the customers of its credited leads.
_FIGURES = """
WITH won AS (
    SELECT lc.campaign_id, lc.kol_id, et.event, et.event_id, et.customer_id
    FROM {credit} lc
    JOIN {event_touch} et ON et.{touch}_kind = 'weibo_lead' AND et.{touch}_id = lc.lead_id
    WHERE lc.campaign_id = ANY(%(campaigns)s)
    UNION ALL
    SELECT COALESCE(hc.campaign_id, lc.campaign_id),
           CASE WHEN hc.handoff_id IS NULL THEN lc.kol_id ELSE hc.kol_id END,
           et.event, et.event_id, et.customer_id
    FROM {event_touch} et JOIN {handoff} h ON h.id = et.{touch}_id
    LEFT JOIN {campaign_handoff} hc ON hc.handoff_id = h.id
    LEFT JOIN {credit} lc ON lc.lead_id = h.lead_id
    WHERE et.{touch}_kind = 'handoff'
      AND COALESCE(hc.campaign_id, lc.campaign_id) = ANY(%(campaigns)s)
), valued AS MATERIALIZED (
    -- Each event looked up by its key (a few thousand lookups, not a scan of every order):
    -- an order's revenue while it is paid, a membership while it exists. Materialized: each
    -- lookup runs once.
    SELECT w.*,
           CASE WHEN w.event = 'order' THEN (
               SELECT o.amount_fen - o.refunded_fen FROM {order} o
               WHERE o.id = w.event_id AND o.paid_at IS NOT NULL AND o.status = ANY(%(paid)s)
                 AND o.customer_id IS NOT NULL) END AS revenue_fen,
           w.event = 'membership' AND (
               SELECT m.id FROM {membership} m WHERE m.id = w.event_id) IS NOT NULL AS member
    FROM won w
), counted AS (
    SELECT campaign_id, COALESCE(kol_id, 0) AS kol,
           count(*) FILTER (WHERE revenue_fen IS NOT NULL) AS orders,
           COALESCE(sum(revenue_fen), 0) AS revenue_fen,
           count(DISTINCT customer_id) FILTER (WHERE member) AS members
    FROM valued WHERE revenue_fen IS NOT NULL OR member
    GROUP BY GROUPING SETS ((campaign_id, kol_id), (campaign_id))
), reached AS (
    SELECT campaign_id, COALESCE(kol_id, 0) AS kol, count(DISTINCT customer_id) AS customers
    FROM {credit} WHERE campaign_id = ANY(%(campaigns)s)
    GROUP BY GROUPING SETS ((campaign_id, kol_id), (campaign_id))
)
SELECT COALESCE(r.campaign_id, w.campaign_id) AS campaign_id,
       COALESCE(r.kol, w.kol) AS kol,
       COALESCE(r.customers, 0) AS customers, COALESCE(w.members, 0) AS members,
       COALESCE(w.orders, 0) AS orders, COALESCE(w.revenue_fen, 0) AS revenue_fen
FROM reached r FULL JOIN counted w ON w.campaign_id = r.campaign_id AND w.kol = r.kol
"""


def _sql(template: str, **names: str) -> str:
    return template.format(**_tables(), **names)  # noqa: S608  names from models, constants


def refresh_customers(customer_ids: Iterable[int]) -> None:
    """Store again the first and last touch of every event of these customers (the listener
    of `crm.attribution.customers_changed`). Caller's transaction, or its own. Nothing on a
    database other than PostgreSQL."""
    ids = sorted(set(customer_ids))
    if not ids or connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # Two actions on one customer at once: the second waits for the first to commit and
        # then ranks with its rows, so neither overwrites the other with what it did not see.
        cursor.execute(
            f"SELECT id FROM {Customer._meta.db_table} WHERE id = ANY(%s)"  # noqa: S608
            " ORDER BY id FOR UPDATE",
            [ids],
        )
        cursor.execute(
            f"DELETE FROM {EventTouch._meta.db_table} WHERE customer_id = ANY(%s)",  # noqa: S608
            [ids],
        )
        cursor.execute(_sql(_REFRESH, chosen="= ANY(%(customers)s)"), _params(customers=ids))


def rebuild() -> int:
    """Store the touches of every event again (`manage.py rebuild_attribution`); returns how many
    events are attributed. PostgreSQL only (0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Run after bulk loads: the planner must see their rows (see lead_credit.credit_all).
        tables = _tables()
        for table in ("lead", "scan", "wechat_user", "code", "handoff", "order", "membership"):
            cursor.execute(f"ANALYZE {tables[table]}")
        cursor.execute(f"DELETE FROM {EventTouch._meta.db_table}")  # noqa: S608  model name
        cursor.execute(_sql(_REFRESH, chosen="IS NOT NULL"), _params())
    return EventTouch.objects.count()


def campaign_figures(campaign_ids: list[int], touch: str) -> list[dict[str, Any]]:
    """The rows of `attribution.campaign_attribution` from the stored touches and credit."""
    return _rows(_sql(_FIGURES, touch=touch), _params(campaigns=campaign_ids))
