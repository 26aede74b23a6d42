"""The attribution rule (dashboards.kpis.attribution) computed in Python, for databases other
than PostgreSQL: the demo's SQLite file, whose KOL campaign page would otherwise fail on the
PostgreSQL-only statement. Same rule, same results; it reads every touch and event of the
customers in scope, which is fine at the demo's size and never used on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels_wechat.models import ChannelCode, ChannelCodeScan
from channels_weibo.lead_credit import rule_credits
from channels_weibo.models import CampaignHandoff, LeadCredit
from crm.models import Handoff, Lead
from members.models import Membership, Order
from members.models.orders import PAID_STATUSES


def lead_kols(live: bool = False) -> dict[int, tuple[int, int, int]]:
    """lead id -> (campaign id, KOL id, customer id): the stored credit (LeadCredit), or with
    `live` the rule worked out now (channels_weibo.lead_credit.rule_credits)."""
    if live:
        credits = rule_credits()
        customers = dict(Lead.objects.filter(pk__in=credits).values_list("pk", "customer_id"))
        return {lead: (c, k, customers[lead]) for lead, (c, k) in credits.items()}
    return {
        lead: (campaign, kol, customer)
        for lead, campaign, kol, customer in LeadCredit.objects.values_list(
            "lead_id", "campaign_id", "kol_id", "customer_id"
        )
    }


def _touches(customers: set[int], kols: dict) -> dict[int, list[dict[str, Any]]]:
    by_customer: dict[int, list[dict[str, Any]]] = {}
    for lead_id, customer_id, at in Lead.objects.filter(
        source_channel="weibo", customer_id__in=customers
    ).values_list("pk", "customer_id", "created_at"):
        campaign_id, kol_id, _customer = kols.get(lead_id, (None, None, None))
        by_customer.setdefault(customer_id, []).append(
            {
                "at": at,
                "kind": "weibo_lead",
                "touch_id": lead_id,
                "campaign_id": campaign_id,
                "kol_id": kol_id,
                "code_id": None,
            }
        )
    handoffs = {
        (appid, scene): (pk, lead_id)
        for pk, appid, scene, lead_id in Handoff.objects.exclude(scene="").values_list(
            "pk", "appid", "scene", "lead_id"
        )
    }
    sent_from = {
        handoff_id: (campaign_id, kol_id)
        for handoff_id, campaign_id, kol_id in CampaignHandoff.objects.values_list(
            "handoff_id", "campaign_id", "kol_id"
        )
    }
    scans = ChannelCodeScan.objects.filter(applied=True, user__customer_id__in=customers)
    for scan_id, customer_id, at, code_id, purpose, appid, scene in scans.values_list(
        "pk",
        "user__customer_id",
        "at",
        "code_id",
        "code__purpose",
        "code__account__appid",
        "code__scene",
    ):
        handoff = (
            handoffs.get((appid, scene)) if purpose == ChannelCode.Purpose.WEIBO_HANDOFF else None
        )
        campaign_id = kol_id = None
        if handoff is not None and handoff[0] in sent_from:
            campaign_id, kol_id = sent_from[handoff[0]]
        elif handoff is not None and handoff[1] in kols:
            campaign_id, kol_id, _customer = kols[handoff[1]]
        by_customer.setdefault(customer_id, []).append(
            {
                "at": at,
                "kind": "handoff" if handoff else "channel_code",
                "touch_id": handoff[0] if handoff else scan_id,
                "campaign_id": campaign_id,
                "kol_id": kol_id,
                "code_id": code_id,
            }
        )
    # A handoff claimed by opening its link inside WeChat: no scan, its own touch.
    for pk, customer_id, claimed_at, lead_id in Handoff.objects.filter(
        used_via="oauth", used_at__isnull=False, customer_id__in=customers
    ).values_list("pk", "customer_id", "used_at", "lead_id"):
        campaign_id = kol_id = None
        if pk in sent_from:
            campaign_id, kol_id = sent_from[pk]
        elif lead_id in kols:
            campaign_id, kol_id, _customer = kols[lead_id]
        by_customer.setdefault(customer_id, []).append(
            {
                "at": claimed_at,
                "kind": "handoff",
                "touch_id": pk,
                "campaign_id": campaign_id,
                "kol_id": kol_id,
                "code_id": None,
            }
        )
    return by_customer


def ranked(customers: Iterable[int], window, live: bool = False) -> list[dict[str, Any]]:
    """Every event of these customers with touches in its window: the event's fields and its
    `first` and `last` touch (the SQL's rows where from_first / from_last = 1)."""
    scope = set(customers)
    kols = lead_kols(live)
    touches = _touches(scope, kols)
    events: list[dict[str, Any]] = [
        {"event": "order", "event_id": pk, "customer_id": c, "at": at, "revenue_fen": a - r}
        for pk, c, at, a, r in Order.objects.filter(
            customer_id__in=scope,
            paid_at__isnull=False,
            status__in=[str(s) for s in PAID_STATUSES],
        ).values_list("pk", "customer_id", "paid_at", "amount_fen", "refunded_fen")
    ] + [
        {"event": "membership", "event_id": pk, "customer_id": c, "at": at, "revenue_fen": 0}
        for pk, c, at in Membership.objects.filter(customer_id__in=scope).values_list(
            "pk", "customer_id", "joined_at"
        )
    ]
    rows = []
    for event in events:
        inside = [
            t
            for t in touches.get(event["customer_id"], [])
            if event["at"] - window <= t["at"] <= event["at"]
        ]
        if not inside:
            continue
        inside.sort(key=lambda t: (t["at"], t["kind"], t["touch_id"]))
        rows.append({**event, "first": inside[0], "last": inside[-1]})
    return rows


def event_touches(customer_ids: Iterable[int], window, live: bool = False) -> list[dict[str, Any]]:
    rows = []
    for row in ranked(customer_ids, window, live):
        for touch in ("first", "last"):
            t = row[touch]
            rows.append(
                {
                    **{k: row[k] for k in ("event", "event_id", "customer_id", "at")},
                    "revenue_fen": row["revenue_fen"],
                    "touch": touch,
                    "kind": t["kind"],
                    "touch_id": t["touch_id"],
                    "campaign_id": t["campaign_id"],
                    "kol_id": t["kol_id"],
                    "code_id": t["code_id"],
                    "touch_at": t["at"],
                }
            )
    rows.sort(key=lambda r: (r["event"], r["event_id"], r["touch"]))
    return rows


def campaign_attribution(
    campaign_ids: Iterable[int], touch: str, window, live: bool = False
) -> dict:
    campaigns = set(campaign_ids)
    kols = {lead: v for lead, v in lead_kols(live).items() if v[0] in campaigns}
    reached: dict[tuple, set[int]] = {}
    for campaign_id, kol_id, customer_id in kols.values():
        for key in ((campaign_id, kol_id), (campaign_id, None)):
            reached.setdefault(key, set()).add(customer_id)
    figures: dict[tuple, dict[str, Any]] = {}

    def entry(key):
        return figures.setdefault(
            key, {"customers": 0, "members": set(), "orders": 0, "revenue_fen": 0}
        )

    scope = {c for _cp, _k, c in kols.values()} | set(
        CampaignHandoff.objects.filter(campaign_id__in=campaigns).values_list(
            "handoff__customer_id", flat=True
        )
    )
    for row in ranked(scope, window, live):
        t = row[touch]
        if t["campaign_id"] not in campaigns:
            continue
        for key in ((t["campaign_id"], t["kol_id"]), (t["campaign_id"], None)):
            figure = entry(key)
            if row["event"] == "order":
                figure["orders"] += 1
                figure["revenue_fen"] += row["revenue_fen"]
            else:
                figure["members"].add(row["customer_id"])
    for key, customers in reached.items():
        entry(key)["customers"] = len(customers)
    return {
        key: {
            "customers": f["customers"],
            "members": len(f["members"]),
            "orders": f["orders"],
            "revenue_fen": f["revenue_fen"],
        }
        for key, f in figures.items()
    }
