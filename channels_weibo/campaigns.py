"""KOL campaign results: what each KOL's posts brought, over the campaign period, and what
they returned on the KOL's fee.

The revenue figures follow the attribution rule (first and last touch over Weibo leads and
WeChat channel-code scans), which needs both channel apps, so it lives in the dashboards
(`dashboards.kpis.attribution`); this app may not import either. The dashboards app registers
its function here in `AppConfig.ready` (`register_attribution`), the house way for a higher app
to serve a lower one, so the campaign page and the KPIs use the one rule.
"""

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Sum
from django.utils import timezone

from crm.models import Channel, Lead

from .models import (
    Campaign,
    CampaignHandoff,
    CampaignKol,
    FollowerSnapshot,
    WeiboComment,
    WeiboPost,
)

ATTRIBUTED = ("customers", "members", "orders", "revenue_fen")
ENGAGEMENTS_SHOWN = 200
_attribution: list[Callable[[Campaign], dict]] = []


def register_attribution(figures: Callable[[Campaign], dict]) -> None:
    """Set the function giving a campaign's attributed figures: `{kol id or None (the total):
    {customers, members, orders, revenue_fen}}` (the dashboards app registers it)."""
    _attribution[:] = [figures]


def roi(revenue_fen: int, fee_fen: int) -> float | None:
    """Return on the fee: revenue / fee, None when the fee is 0."""
    return revenue_fen / fee_fen if fee_fen else None


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def period(campaign: Campaign) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(campaign.start, time.min), tz)
    end = timezone.make_aware(datetime.combine(campaign.end + timedelta(days=1), time.min), tz)
    return start, end


def kol_posts(campaign: Campaign, kol=None, roots: list[int] | None = None):
    """The campaign's KOL posts: posts by its KOLs (or by `kol`) within its period that repost
    one of its brand posts (`roots`, their ids, when the caller has them) or mention the brand
    on its account."""
    start, end = period(campaign)
    if roots is None:
        roots = list(campaign.posts.values_list("pk", flat=True))
    authors = {"author": kol} if kol is not None else {"author__in": campaign.kols.all()}
    posts = WeiboPost.objects.filter(created_at__gte=start, created_at__lt=end, **authors)
    return posts.filter(root__in=roots) | posts.filter(
        mentions_brand=True, account=campaign.account
    )


def engagements(campaign: Campaign) -> tuple[list, int]:
    """Who engaged with the campaign: the reposts of its KOL posts and the comments on them,
    by others than the brand and the KOL, newest first, each with `kol` set (the author of the
    KOL post). Returns (the first ENGAGEMENTS_SHOWN of them, how many there are)."""
    posts = kol_posts(campaign).values("pk")
    brand = campaign.account.uid
    reposts = (
        WeiboPost.objects.filter(parent__in=posts)
        .exclude(author__uid=brand)
        .exclude(author=models.F("parent__author"))
        .select_related("author", "parent__author")
    )
    comments = (
        WeiboComment.objects.filter(post__in=posts)
        .exclude(author__uid=brand)
        .exclude(author=models.F("post__author"))
        .select_related("author", "post__author")
    )
    total = reposts.count() + comments.count()
    shown: list[Any] = [
        *reposts.order_by("-created_at", "-pk")[:ENGAGEMENTS_SHOWN],
        *comments.order_by("-created_at", "-pk")[:ENGAGEMENTS_SHOWN],
    ]
    for item in shown:
        # A repost here is of a KOL post (parent__in above): its parent is set.
        item.kol = item.post.author if isinstance(item, WeiboComment) else item.parent.author
    shown.sort(key=lambda item: (item.created_at, item.pk), reverse=True)
    return shown[:ENGAGEMENTS_SHOWN], total


def engagement_kol(campaign: Campaign, item):
    """The KOL through whom `item` (a repost or a comment) engaged with the campaign, or None
    when it is not a repost of, or a comment on, one of the campaign's KOL posts by another."""
    post = item.parent if isinstance(item, WeiboPost) else getattr(item, "post", None)
    if post is None or item.author_id == post.author_id:
        return None
    if item.author.uid == campaign.account.uid:
        return None
    return post.author if kol_posts(campaign).filter(pk=post.pk).exists() else None


def campaign_stats(campaign: Campaign) -> dict:
    """Per KOL and in total, over the campaign's local dates (inclusive):

    - posts: the KOL's posts in the period that repost a campaign post or mention the brand;
    - reach: the KOL's followers plus those of everyone who reposted those posts (one hop);
    - reposts, comments, likes: the latest counters of those posts;
    - leads: Weibo leads created in the period whose source is a repost of, or a comment on,
      one of those posts, and the leads of the handoff links sent from the campaign for the
      KOL (CampaignHandoff), whenever they were opened;
    - new_followers (campaign total only): follower snapshot at the end minus before the start;
    - fee_fen: the fee paid to the KOL (CampaignKol), the total the sum; fee_yuan in yuan;
    - customers, members, orders, revenue_fen: attributed by the registered attribution rule
      (last touch; see dashboards.kpis.attribution), the total counting a customer once;
      None when no rule is registered; revenue_yuan the same in yuan ("12.34");
    - roi: revenue / fee, None when the fee is 0 (or no rule is registered).
    """
    start, end = period(campaign)
    roots = list(campaign.posts.values_list("pk", flat=True))
    post_type = ContentType.objects.get_for_model(WeiboPost)
    comment_type = ContentType.objects.get_for_model(WeiboComment)
    rows: list[dict[str, Any]] = []
    fees = dict(CampaignKol.objects.filter(campaign=campaign).values_list("kol_id", "fee_fen"))
    attributed = _attribution[0](campaign) if _attribution else None
    handoff_leads: dict[int, list[int]] = {}
    for kol_id, lead_id in CampaignHandoff.objects.filter(
        campaign=campaign, handoff__lead__isnull=False
    ).values_list("kol_id", "handoff__lead_id"):
        handoff_leads.setdefault(kol_id, []).append(lead_id)
    for kol in campaign.kols.all().order_by("-followers_count"):
        ids = list(kol_posts(campaign, kol, roots).values_list("pk", flat=True))
        sums = WeiboPost.objects.filter(pk__in=ids).aggregate(
            reposts=Sum("reposts_count"),
            comments=Sum("comments_count"),
            likes=Sum("attitudes_count"),
        )
        children = WeiboPost.objects.filter(parent__in=ids)
        child_ids = [str(pk) for pk in children.values_list("pk", flat=True)]
        comment_ids = [
            str(pk) for pk in WeiboComment.objects.filter(post__in=ids).values_list("pk", flat=True)
        ]
        leads = (
            Lead.objects.filter(
                source_channel=Channel.WEIBO, created_at__gte=start, created_at__lt=end
            ).filter(source_type=post_type, source_id__in=child_ids)
            | Lead.objects.filter(
                source_channel=Channel.WEIBO,
                created_at__gte=start,
                created_at__lt=end,
                source_type=comment_type,
                source_id__in=comment_ids,
            )
            | Lead.objects.filter(
                source_channel=Channel.WEIBO, pk__in=handoff_leads.get(kol.pk, [])
            )
        )
        reach = kol.followers_count + (
            children.aggregate(n=Sum("author__followers_count"))["n"] or 0
        )
        rows.append(
            {
                "kol_id": kol.pk,
                "uid": kol.uid,
                "screen_name": kol.screen_name,
                "category": kol.kol_category,
                "category_label": str(kol.get_kol_category_display()) if kol.kol_category else "",
                "followers": kol.followers_count,
                "posts": len(ids),
                "reach": reach,
                "reposts": max(sums["reposts"] or 0, len(child_ids)),
                "comments": sums["comments"] or 0,
                "likes": sums["likes"] or 0,
                "leads": leads.count(),
                **_returns(fees.get(kol.pk, 0), attributed, kol.pk),
            }
        )
    snapshots = FollowerSnapshot.objects.filter(account=campaign.account)
    at_end = snapshots.filter(day__lte=campaign.end).order_by("-day").first()
    before = snapshots.filter(day__lt=campaign.start).order_by("-day").first()
    total: dict[str, int | None] = {
        key: sum(r[key] for r in rows)
        for key in ("posts", "reach", "reposts", "comments", "likes", "leads")
    }
    total["new_followers"] = (
        at_end.followers_count - before.followers_count if at_end and before else None
    )
    total.update(_returns(sum(fees.values()), attributed, None))
    return {"kols": rows, "total": total}


def _returns(fee_fen: int, attributed: dict | None, key: int | None) -> dict[str, Any]:
    if attributed is None:
        figures: dict[str, Any] = dict.fromkeys(ATTRIBUTED)
        return {
            "fee_fen": fee_fen,
            "fee_yuan": yuan(fee_fen),
            **figures,
            "revenue_yuan": None,
            "roi": None,
        }
    figures = attributed.get(key) or dict.fromkeys(ATTRIBUTED, 0)
    revenue = figures["revenue_fen"]
    return {
        "fee_fen": fee_fen,
        "fee_yuan": yuan(fee_fen),
        **{name: figures[name] for name in ATTRIBUTED},
        "revenue_yuan": yuan(revenue),
        "roi": roi(revenue, fee_fen),
    }
