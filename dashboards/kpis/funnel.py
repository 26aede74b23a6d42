"""The cross-channel funnel (DESIGN.md section 5), computed live."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connections, transaction
from django.db.models import Case, Count, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import IsNull

from channels_wechat.models import ChannelCode, ChannelCodeScan
from crm.models import Customer, CustomerKey, Interaction, Lead, MergeRecord, Stage

from .common import local_bounds, rate


def with_jit_off(rows: QuerySet) -> list[Any]:
    """The rows of a query, fetched with PostgreSQL's JIT compilation off.

    A query over a month's cohort with a subquery per row is estimated above `jit_above_cost`,
    and compiling it took 0.5 s at the benchmark scale, when running it takes about 0.1 s.
    SET LOCAL lasts until the end of the transaction (of the request, if it has one).
    """
    if connections[rows.db].vendor != "postgresql":
        return list(rows)
    with transaction.atomic(using=rows.db), connections[rows.db].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        return list(rows)


def _stage_rank(field: str) -> Case:
    """Stage.rank of a stage held in `field`, in SQL (None for anything not a stage)."""
    return Case(*(When(**{field: stage}, then=Value(i)) for i, stage in enumerate(Stage.values)))


def _any_row(rows: QuerySet, field: str = "customer") -> IsNull:
    """Whether the customer of the outer query has one of `rows` (`field` names the customer).

    A subquery with LIMIT 1 rather than EXISTS: PostgreSQL may run an EXISTS as one scan of
    every such row of the table, hashed, which grows with the table (every subscription ever)
    where this probe of the customer index grows with the cohort.
    """
    first = rows.filter(**{field: OuterRef("pk")}).order_by().values("pk")[:1]
    return IsNull(Subquery(first), False)


# The paths from Weibo to WeChat, in the order they are recognised (the first that matches).
PATHS = ("oauth_link", "handoff_qr", "verified_phone", "unionid", "manual_merge", "other")


def _path() -> Case:
    """The path a customer crossed from Weibo to WeChat by, from what is recorded (in order):

    1. oauth_link: a handoff timeline entry that linked (`data.applied`) with `data.via` oauth;
    2. handoff_qr: a handoff timeline entry that linked through the QR code (`data.via` qr),
       a MergeRecord into the customer with reason `handoff`, or an applied scan of a
       `weibo_handoff` channel code by one of the customer's followers;
    3. verified_phone: a MergeRecord into the customer with reason `phone`;
    4. unionid: a MergeRecord into the customer with reason `unionid`;
    5. manual_merge: a MergeRecord into the customer with reason `manual`;
       then, with no such merge, a `phone` key (verified by definition) → verified_phone, a
       `unionid` key → unionid;
    6. other: nothing recorded (e.g. data loaded by hand).
    """
    linked = Interaction.objects.filter(data__has_key="handoff", data__applied=True)
    merges = MergeRecord.objects.all()
    return Case(
        When(_any_row(linked.filter(data__via="oauth")), then=Value("oauth_link")),
        When(
            _any_row(linked.filter(data__via="qr"))
            | _any_row(merges.filter(reason="handoff"), "target")
            | _any_row(
                ChannelCodeScan.objects.filter(
                    applied=True, code__purpose=ChannelCode.Purpose.WEIBO_HANDOFF
                ),
                "user__customer",
            ),
            then=Value("handoff_qr"),
        ),
        When(_any_row(merges.filter(reason="phone"), "target"), then=Value("verified_phone")),
        When(_any_row(merges.filter(reason="unionid"), "target"), then=Value("unionid")),
        When(_any_row(merges.filter(reason="manual"), "target"), then=Value("manual_merge")),
        When(
            _any_row(CustomerKey.objects.filter(kind=CustomerKey.Kind.PHONE)),
            then=Value("verified_phone"),
        ),
        When(
            _any_row(CustomerKey.objects.filter(kind=CustomerKey.Kind.UNIONID)),
            then=Value("unionid"),
        ),
        default=Value("other"),
    )


def _on_wechat():
    """Whether the customer of the outer query reached WeChat: a WeChat subscribe on their
    timeline, or a Weibo handoff that linked them through WeChat OAuth (signed in from the
    link: a WeChat identity without following). A QR-code claim comes with its follow."""
    linked_by_oauth = Interaction.objects.filter(
        channel="wechat", data__has_key="handoff", data__applied=True, data__via="oauth"
    )
    return _any_row(Interaction.objects.filter(channel="wechat", kind="subscribe")) | _any_row(
        linked_by_oauth
    )


def funnel(start: date, end: date, channel: str | None = None) -> dict[str, Any]:
    """The cross-channel funnel, computed live (it follows customers to today).

    - customers: active (unmerged) customers first seen in the period (created_at), optionally
      only those whose first-touch channel is `channel`.
    - leads / customers_paid / members: how many of them reached stage lead (or have a lead),
      customer (has paid) and member, by the highest stage they ever reached (the current stage
      or any recorded stage change), so a stage set back by hand still counts.
    - weibo_sourced: of them, first touched on Weibo; weibo_to_wechat: those of them who also
      reached WeChat (a WeChat subscribe on their timeline, or a handoff that linked them through
      WeChat OAuth: signed in from the link without following).
    - rates: each step / customers, and weibo_to_wechat / weibo_sourced.
    - weibo_to_wechat_by_path: weibo_to_wechat counted by the path they crossed by (PATHS; see
      `_path` for how each is recognised).

    Counted by the database in one query: the cohort grouped by (first channel, highest stage,
    has a lead, the path to WeChat if they crossed), a few dozen rows whatever the cohort's size.
    """
    low, high = local_bounds(start, end)
    cohort = Customer.objects.active().filter(created_at__gte=low, created_at__lt=high)
    if channel:
        cohort = cohort.filter(first_channel=channel)
    ever = (
        Interaction.objects.filter(customer=OuterRef("pk"), kind="stage_change")
        .annotate(rank=_stage_rank("data__to"))
        .filter(rank__isnull=False)
        .order_by("-rank")
        .values("rank")[:1]
    )
    lead_rank = Stage.rank(Stage.LEAD)
    below_lead = [stage for stage in Stage.values if Stage.rank(stage) < lead_rank]
    top = Stage.values[-1]
    grouped = (
        cohort.annotate(
            # A member is at the top already: no stage change to look up.
            reached=Case(
                When(stage=top, then=Value(Stage.rank(top))),
                default=Greatest(_stage_rank("stage"), Coalesce(Subquery(ever), Value(-1))),
            ),
        )
        .annotate(
            # Only asked where it can change the answer: a lead of a customer whose stage is
            # below lead, a Weibo customer's WeChat subscription.
            has_lead=Case(
                When(stage__in=below_lead, then=_any_row(Lead.objects.all())),
                default=Value(False),
            ),
            # The path a Weibo customer who reached WeChat crossed by; None for everyone else.
            # One grouped query for both: a second one for the paths ran the cohort and its
            # WeChat check again (45-60 ms of the funnel's 230-300, bench/attribution.py).
            path=Case(
                When(Q(first_channel="weibo") & _on_wechat(), then=_path()),
                default=Value(None),
            ),
        )
        .values("first_channel", "reached", "has_lead", "path")
        .annotate(n=Count("id"))
        .order_by()
    )
    total = weibo_sourced = weibo_to_wechat = 0
    reached = dict.fromkeys(("lead", "customer", "member"), 0)
    paths = dict.fromkeys(PATHS, 0)
    for row in with_jit_off(grouped):
        n = row["n"]
        total += n
        if row["reached"] >= lead_rank or row["has_lead"]:
            reached["lead"] += n
        if row["reached"] >= Stage.rank(Stage.CUSTOMER):
            reached["customer"] += n
        if row["reached"] >= Stage.rank(Stage.MEMBER):
            reached["member"] += n
        if row["first_channel"] == "weibo":
            weibo_sourced += n
        if row["path"] is not None:
            weibo_to_wechat += n
            paths[row["path"]] += n
    return {
        "customers": total,
        "leads": reached["lead"],
        "customers_paid": reached["customer"],
        "members": reached["member"],
        "lead_rate": rate(reached["lead"], total),
        "customer_rate": rate(reached["customer"], total),
        "member_rate": rate(reached["member"], total),
        "weibo_sourced": weibo_sourced,
        "weibo_to_wechat": weibo_to_wechat,
        "weibo_to_wechat_rate": rate(weibo_to_wechat, weibo_sourced),
        "weibo_to_wechat_by_path": paths,
    }
