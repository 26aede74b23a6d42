"""What others write about the brand on Weibo: keyword rules, sentiment, and what follows.

Keyword rules (Aho-Corasick, channels_weibo.keywords) and sentiment (SnowNLP,
channels_weibo.sentiment) are read on the author's own words (a repost's text before its `//@`
chain). A post or comment that concerns the brand is analysed once and then gets one crm
Interaction (mention, repost or comment), the rules' actions (tag, lead, alert and, when it is
recent, the WeChat handoff link, sent by a task) and, when it is recent, names a problem and is
not positive, a complaint case in the inbox (channels_weibo.complaints). Ingestion
(channels_weibo.ingest) calls this as it stores a page.
"""

from datetime import timedelta
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone

from crm.actions import LeadRequest, attach_tags, create_leads, record_interactions
from crm.inbox import open_case
from crm.models import Channel, Customer, Interaction, InteractionKind
from crm.tasks_queue import enqueue_on_commit

from . import sentiment
from .complaints import is_complaint
from .keywords import current_matcher
from .models import KeywordAlert, KeywordRule, WeiboAccount, WeiboComment, WeiboPost
from .protocol import own_text

# Negative mentions older than this are history, not cases for the inbox.
COMPLAINT_WINDOW = timedelta(days=7)
# A keyword rule sends the WeChat handoff link only for posts and comments this recent: an
# imported history, or the backlog of a first poll, is no one to write to now.
RULE_HANDOFF_WINDOW = timedelta(days=7)


def post_kind(post: WeiboPost) -> str:
    """The timeline kind of a post by someone else: a repost, or a mention."""
    return InteractionKind.REPOST if post.root_id else InteractionKind.MENTION


class Analysis(NamedTuple):
    keywords: list[dict]
    score: float | None
    label: str
    matches: list | None  # None: the text does not concern the brand (then it is not scored)


def analyse_text(text: str, mentions_brand: bool, matcher, account, *, always: bool) -> Analysis:
    """Keyword matches of a text for this brand account and, when it concerns the brand (it
    mentions it, matches a rule, or `always`), its sentiment; see Analysis."""
    # A repost is judged, like its sentiment, on the reposter's own words: "求链接" quoted from
    # further up the `//@` chain is someone else's question, not a lead for this author.
    matches = matcher.match(own_text(text), account.pk)
    keywords = [{"rule": rule.id, "words": words} for rule, words in matches]
    if not (always or mentions_brand or matches):
        return Analysis(keywords, None, "", None)
    score, label = sentiment.analyse(text)
    return Analysis(keywords, score, label, matches)


def analyse_item(item, matcher, account: WeiboAccount, *, always: bool) -> list | None:
    """Set keywords and sentiment on an unsaved post or comment; returns its rule matches, or
    None when it does not concern the brand (then it is not scored)."""
    found = analyse_text(item.text, item.mentions_brand, matcher, account, always=always)
    item.keywords = found.keywords
    if found.matches is not None:
        item.sentiment, item.sentiment_label = found.score, found.label
    return found.matches


def analyse_posts(account: WeiboAccount, keys: list[str]) -> int:
    """Keywords, sentiment, timeline, rule actions and complaints for new posts by others.

    A post is analysed once: when it concerns the brand (it mentions it, matches a rule, or
    reposts a brand post) its label is set and it is not analysed again.
    """
    matcher = current_matcher()
    candidates = list(
        WeiboPost.objects.filter(
            idstr__in=keys, account=account, is_brand_post=False, sentiment_label=""
        ).select_related("author", "root")
    )
    relevant = []
    for post in candidates:
        matches = analyse_item(
            post, matcher, account, always=bool(post.root is not None and post.root.is_brand_post)
        )
        if matches is not None:
            post._matches = matches  # type: ignore[attr-defined]
            relevant.append(post)
    WeiboPost.objects.bulk_update(
        relevant, ["keywords", "sentiment", "sentiment_label"], batch_size=500
    )
    apply_analysis(account, relevant, post_kind, "post")
    return len(relevant)


def analyse_comments(account: WeiboAccount, keys: list[str]) -> int:
    """Keywords, sentiment, timeline, rule actions and complaints for new comments by others."""
    matcher = current_matcher()
    comments = list(
        WeiboComment.objects.filter(idstr__in=keys, account=account, sentiment_label="")
        .exclude(author__uid=account.uid)
        .select_related("author")
    )
    for comment in comments:
        comment._matches = analyse_item(comment, matcher, account, always=True) or []  # type: ignore[attr-defined]
    WeiboComment.objects.bulk_update(
        comments, ["keywords", "sentiment", "sentiment_label"], batch_size=500
    )
    apply_analysis(account, comments, lambda c: InteractionKind.COMMENT, "comment")
    return len(comments)


def apply_analysis(account, items, kind_of, what: str) -> None:
    """What follows from analysed posts or comments (`what`: "post" or "comment") that concern
    the brand, for the whole page at once: one timeline Interaction each (`kind_of(item)`), the
    matched rules' tags, leads and alerts, and complaint cases. Caller's transaction."""
    if not items:
        return
    content_type = ContentType.objects.get_for_model(type(items[0]))
    record_interactions(
        Interaction(
            customer_id=item.author.customer_id,
            kind=kind_of(item),
            channel=Channel.WEIBO,
            occurred_at=item.created_at,
            summary=item.text,
            subject_type=content_type,
            subject_id=str(item.pk),
            data={
                "idstr": item.idstr,
                "account": account.uid,
                "sentiment": item.sentiment_label,
            },
        )
        for item in items
        if item.author.customer_id
    )
    now = timezone.now()
    recent = now - COMPLAINT_WINDOW
    rules = KeywordRule.objects.in_bulk(
        {compiled.id for item in items for compiled, _words in item._matches}
    )
    tags: list[tuple[int, str]] = []
    leads: list[LeadRequest] = []
    alerts: list[KeywordAlert] = []
    handoffs: dict[str, tuple[int, int]] = {}  # author uid -> (item, rule): one link a person
    complaints = []
    for item in items:
        customer_id = item.author.customer_id
        if customer_id is None:
            continue
        for compiled, words in item._matches:
            rule = rules.get(compiled.id)
            if rule is None:  # deleted since the matcher was built
                continue
            if compiled.action_tag:
                tags.append((customer_id, compiled.tag_name or compiled.name))
            if compiled.action_lead:
                title = f"{compiled.name}：{item.text[:80]}"
                leads.append(LeadRequest(customer_id, title, item, rule, item.created_at))
            if compiled.action_alert:
                alerts.append(
                    KeywordAlert(
                        rule=rule,
                        **({"post": item} if what == "post" else {"comment": item}),
                        customer_id=customer_id,
                        words="、".join(words)[:255],
                        text=item.text,
                        created_at=item.created_at,
                    )
                )
            if compiled.action_handoff and item.created_at >= now - RULE_HANDOFF_WINDOW:
                handoffs.setdefault(item.author.uid, (item.pk, rule.pk))
        concerns_brand = what == "comment" or item.mentions_brand
        if concerns_brand and item.created_at >= recent and is_complaint(item.text, item.sentiment):
            complaints.append(item)
    # What the rules do, for the whole page at once: tag the author's customer, open a lead,
    # alert marketing (once per rule and post: a replayed match adds nothing).
    attach_tags(tags)
    create_leads(leads, source_channel=Channel.WEIBO)
    KeywordAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    # The handoff link waits on Weibo: a task after the page is stored, which opens the lead if
    # needed and sends once per person (channels_weibo.handoff.send_rule_handoff).
    for item_id, rule_id in handoffs.values():
        enqueue_on_commit("channels_weibo.tasks.send_rule_handoff_task", what, item_id, rule_id)
    if complaints:
        customers = Customer.objects.in_bulk({item.author.customer_id for item in complaints})
        for item in complaints:
            open_case(
                channel=Channel.WEIBO,
                account=account.uid,
                external_user=item.author.uid,
                customer=customers[item.author.customer_id],
                subject=item,
                content=item.text,
                at=item.created_at,
                platform_msg_id=f"{what}:{item.idstr}",
            )


def brand_mentions(account: WeiboAccount | None = None):
    """Posts by others that mention the brand or match a keyword rule (the listening set)."""
    query = WeiboPost.objects.filter(is_brand_post=False, account__isnull=False).filter(
        Q(mentions_brand=True) | ~Q(keywords=[])
    )
    if account is not None:
        query = query.filter(account=account)
    return query
