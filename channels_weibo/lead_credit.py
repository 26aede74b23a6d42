"""The stored campaign credit of Weibo leads (LeadCredit): which KOL campaign and KOL each lead
is credited to, worked out by the rule once, when something the rule reads changes, instead of
on each page view.

The rule (the README's attribution definition, and the campaign page's lead count): the lead of
a handoff sent from a campaign (CampaignHandoff) is that campaign's and KOL's; otherwise a Weibo
lead whose source is a repost of, or a comment on, a KOL's post within a campaign's dates (the
post by one of the campaign's KOLs, reposting one of its brand posts or mentioning the brand on
its account), the lead itself created within those dates, is that campaign's and KOL's; on two
matches the lowest campaign id, then the lowest KOL id.

What changes it, and who calls what here:

- a lead created, or its source channel or customer changed (`crm.actions.create_lead`,
  `create_leads`, `update_lead` call `credit_changed_leads` through the hook registered in
  `ChannelsWeiboConfig.ready`);
- a campaign's dates, brand posts, account or KOLs edited, or the campaign deleted (the admin
  calls `credit_campaign`, which also finds the leads it no longer has, or
  `delete_campaigns`);
- a campaign handoff created or moved (`send_campaign_handoff` calls `credit_leads`).

A lead never changes source or creation time; a merge re-points the rows' customer with the
leads; orders, scans and memberships are no input. `manage.py rebuild_attribution` rebuilds
every row (after an import of old posts that made new KOL posts, say).

On PostgreSQL one statement per call; elsewhere (the demo's SQLite file) the rule runs in
Python over the campaigns, which is fine at the demo's size.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q

from crm.models import Channel, Handoff, Lead

from .campaigns import period
from .models import (
    Campaign,
    CampaignHandoff,
    CampaignKol,
    LeadCredit,
    WeiboComment,
    WeiboPost,
)


def _tables() -> dict[str, str]:
    return {
        "credit": LeadCredit._meta.db_table,
        "campaign": Campaign._meta.db_table,
        "campaign_kol": CampaignKol._meta.db_table,
        "campaign_handoff": CampaignHandoff._meta.db_table,
        "campaign_posts": Campaign.posts.through._meta.db_table,
        "post": WeiboPost._meta.db_table,
        "comment": WeiboComment._meta.db_table,
        "lead": Lead._meta.db_table,
        "handoff": Handoff._meta.db_table,
    }


# The rule from the leads' side: each chosen lead's source, the post it engaged with (a
# repost's parent, a comment's post), the campaigns whose KOL post that is. `{chosen}` selects
# the lead ids. A source id is the source's primary key as text (GenericForeignKey).
_CREDIT = """
INSERT INTO {credit} (lead_id, customer_id, campaign_id, kol_id)
WITH chosen AS (
    SELECT l.id, l.customer_id, l.source_type_id, l.created_at,
           CASE WHEN l.source_id ~ '^[0-9]{{1,18}}$' THEN l.source_id::bigint END AS source_pk
    FROM {lead} l WHERE l.source_channel = %(weibo)s AND l.id IN ({chosen})
), engaged AS (
    SELECT l.id AS lead_id, l.customer_id, l.created_at, p.parent_id AS post_id
    FROM chosen l JOIN {post} p ON p.id = l.source_pk
    WHERE l.source_type_id = %(post_type)s AND p.parent_id IS NOT NULL
    UNION ALL
    SELECT l.id, l.customer_id, l.created_at, cm.post_id
    FROM chosen l JOIN {comment} cm ON cm.id = l.source_pk
    WHERE l.source_type_id = %(comment_type)s
), found AS (
    SELECT l.id AS lead_id, l.customer_id, ch.campaign_id, ch.kol_id, 0 AS rule
    FROM chosen l JOIN {handoff} h ON h.lead_id = l.id
    JOIN {campaign_handoff} ch ON ch.handoff_id = h.id
    UNION ALL
    SELECT e.lead_id, e.customer_id, c.id, ck.weibouser_id, 1
    FROM engaged e JOIN {post} kp ON kp.id = e.post_id
    JOIN {campaign_kol} ck ON ck.weibouser_id = kp.author_id
    JOIN {campaign} c ON c.id = ck.campaign_id
    WHERE kp.created_at >= (c.start::timestamp AT TIME ZONE %(tz)s)
      AND kp.created_at < ((c."end" + 1)::timestamp AT TIME ZONE %(tz)s)
      AND e.created_at >= (c.start::timestamp AT TIME ZONE %(tz)s)
      AND e.created_at < ((c."end" + 1)::timestamp AT TIME ZONE %(tz)s)
      AND (kp.root_id IN (SELECT cp.weibopost_id FROM {campaign_posts} cp
                          WHERE cp.campaign_id = c.id)
           OR (kp.mentions_brand AND kp.account_id = c.account_id))
)
SELECT DISTINCT ON (lead_id) lead_id, customer_id, campaign_id, kol_id FROM found
ORDER BY lead_id, rule, campaign_id, kol_id
"""

# The leads a campaign's rule reaches now (its KOL posts' reposts and comments, and its
# handoffs' leads), from the campaign's side.
_REACHED = """
WITH kol_posts AS (
    SELECT p.id FROM {campaign} c
    JOIN {campaign_kol} ck ON ck.campaign_id = c.id
    JOIN {post} p ON p.author_id = ck.weibouser_id
     AND p.created_at >= (c.start::timestamp AT TIME ZONE %(tz)s)
     AND p.created_at < ((c."end" + 1)::timestamp AT TIME ZONE %(tz)s)
     AND (p.root_id IN (SELECT cp.weibopost_id FROM {campaign_posts} cp
                        WHERE cp.campaign_id = c.id)
          OR (p.mentions_brand AND p.account_id = c.account_id))
    WHERE c.id = %(campaign)s
)
SELECT l.id FROM {post} r JOIN {lead} l
  ON l.source_type_id = %(post_type)s AND l.source_id = r.id::text
WHERE r.parent_id IN (SELECT id FROM kol_posts)
UNION
SELECT l.id FROM {comment} cm JOIN {lead} l
  ON l.source_type_id = %(comment_type)s AND l.source_id = cm.id::text
WHERE cm.post_id IN (SELECT id FROM kol_posts)
UNION
SELECT h.lead_id FROM {campaign_handoff} ch JOIN {handoff} h ON h.id = ch.handoff_id
WHERE ch.campaign_id = %(campaign)s AND h.lead_id IS NOT NULL
"""


def _params(**extra) -> dict:
    get_type = ContentType.objects.get_for_model
    return {
        "tz": settings.TIME_ZONE,
        "weibo": Channel.WEIBO.value,
        "post_type": get_type(WeiboPost).pk,
        "comment_type": get_type(WeiboComment).pk,
        **extra,
    }


def rule_credits(lead_ids: Iterable[int] | None = None) -> dict[int, tuple[int, int]]:
    """lead id -> (campaign id, KOL id) by the rule, for these leads (all when None), worked out
    in Python from the campaigns' side: the portable form of `_CREDIT` (SQLite)."""
    wanted = None if lead_ids is None else set(lead_ids)
    post_type = ContentType.objects.get_for_model(WeiboPost)
    comment_type = ContentType.objects.get_for_model(WeiboComment)
    found: dict[int, tuple[int, int]] = {}
    for lead_id, campaign_id, kol_id in (
        CampaignHandoff.objects.filter(
            handoff__lead__isnull=False, handoff__lead__source_channel=Channel.WEIBO
        )
        .order_by("handoff__lead_id", "campaign_id", "kol_id")
        .values_list("handoff__lead_id", "campaign_id", "kol_id")
    ):
        found.setdefault(lead_id, (campaign_id, kol_id))
    for campaign in Campaign.objects.order_by("pk"):
        low, high = period(campaign)
        roots = list(campaign.posts.values_list("pk", flat=True))
        kols = CampaignKol.objects.filter(campaign=campaign).order_by("kol_id")
        for kol_id in kols.values_list("kol_id", flat=True):
            posts = list(
                WeiboPost.objects.filter(author_id=kol_id, created_at__gte=low, created_at__lt=high)
                .filter(Q(root_id__in=roots) | Q(mentions_brand=True, account=campaign.account_id))
                .values_list("pk", flat=True)
            )
            reposts = WeiboPost.objects.filter(parent_id__in=posts).values_list("pk", flat=True)
            comments = WeiboComment.objects.filter(post_id__in=posts).values_list("pk", flat=True)
            leads = Lead.objects.filter(
                Q(source_type=post_type, source_id__in=[str(pk) for pk in reposts])
                | Q(source_type=comment_type, source_id__in=[str(pk) for pk in comments]),
                source_channel=Channel.WEIBO,
                created_at__gte=low,
                created_at__lt=high,
            )
            for lead_id in leads.values_list("pk", flat=True):
                found.setdefault(lead_id, (campaign.pk, kol_id))
    if wanted is None:
        return found
    return {lead: credit for lead, credit in found.items() if lead in wanted}


def _write(lead_ids: list[int] | None) -> None:
    """Replace the rows of these leads (all when None) with what the rule gives now."""
    chosen = (
        LeadCredit.objects.all()
        if lead_ids is None
        else LeadCredit.objects.filter(lead_id__in=lead_ids)
    )
    chosen.delete()
    if connection.vendor == "postgresql":
        tables = _tables()
        if lead_ids is None:
            where, extra = f"SELECT id FROM {tables['lead']}", {}  # noqa: S608  model name
        else:
            where, extra = "SELECT unnest(%(leads)s::bigint[])", {"leads": lead_ids}
        sql = _CREDIT.format(**tables, chosen=where)  # noqa: S608  names from the models
        with connection.cursor() as cursor:
            cursor.execute(sql, _params(**extra))
        return
    credits = rule_credits(lead_ids)
    customers = dict(Lead.objects.filter(pk__in=credits).values_list("pk", "customer_id"))
    LeadCredit.objects.bulk_create(
        LeadCredit(lead_id=lead, customer_id=customers[lead], campaign_id=campaign, kol_id=kol)
        for lead, (campaign, kol) in credits.items()
    )


def credit_leads(lead_ids: Iterable[int]) -> None:
    """Work out the credit of these leads again (after they were created, or their campaign
    handoff was). Caller's transaction, or its own."""
    ids = sorted(set(lead_ids))
    if ids:
        with transaction.atomic():
            _write(ids)


def credit_campaign(campaign_id: int) -> None:
    """After a campaign was edited (dates, brand posts, account, KOLs) or deleted: the leads it
    had and the leads it reaches now get their credit again (a lead it no longer reaches may
    fall to another campaign); a deletion is `delete_campaigns`. Caller's transaction, or its
    own."""
    had = leads_of(campaign_id)
    if connection.vendor == "postgresql":
        sql = _REACHED.format(**_tables())  # noqa: S608  names from the models
        with connection.cursor() as cursor:
            cursor.execute(sql, _params(campaign=campaign_id))
            reached = [row[0] for row in cursor.fetchall()]
    else:
        reached = [
            lead for lead, (campaign, _kol) in rule_credits().items() if campaign == campaign_id
        ]
    credit_leads([*had, *reached])


def delete_campaigns(campaigns) -> None:
    """Delete these campaigns (a queryset); the leads they had get their credit again (another
    campaign may reach them). One transaction."""
    with transaction.atomic():
        had = list(
            LeadCredit.objects.filter(campaign__in=campaigns).values_list("lead_id", flat=True)
        )
        campaigns.delete()
        credit_leads(had)


def leads_of(campaign_id: int) -> list[int]:
    """The leads credited to this campaign now."""
    return list(
        LeadCredit.objects.filter(campaign_id=campaign_id).values_list("lead_id", flat=True)
    )


def credit_all() -> int:
    """Rebuild every row (`manage.py rebuild_attribution`); returns how many leads are credited."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Run after bulk loads, whose rows the planner has not seen yet: with its old
            # statistics it would take the whole lead table for a few rows.
            with connection.cursor() as cursor:
                for table in ("lead", "post", "comment", "handoff", "campaign_handoff"):
                    cursor.execute(f"ANALYZE {_tables()[table]}")
        _write(None)
    return LeadCredit.objects.count()


def credit_changed_leads(leads: list[Lead]) -> None:
    """The hook `crm.actions` calls with the leads it created, or whose source channel or customer
    changed:
    a Weibo lead with a source gets its credit; another loses any it had (a handoff's lead is
    credited when its CampaignHandoff is written)."""
    weibo = [lead.pk for lead in leads if lead.source_channel == Channel.WEIBO and lead.source_id]
    others = [lead.pk for lead in leads if lead.source_channel != Channel.WEIBO]
    if others:
        LeadCredit.objects.filter(lead_id__in=others).delete()
    credit_leads(weibo)
