"""Sending a Weibo user the Weibo → WeChat handoff link (crm.models.Handoff).

Three sources, one way of sending:

- `send_handoff_link` is crm's handoff sender (registered in apps.py; the Lead admin action and
  the inbox case page call it through crm.handoff.send_handoff): a Weibo lead or complaint case;
- `send_campaign_handoff`: someone who reposted or commented on a KOL campaign's KOL post (the
  campaign's "engaged users" admin page), credited to the campaign and KOL (CampaignHandoff);
- `send_rule_handoff`: a keyword rule's "send the WeChat handoff link" action, queued by
  ingestion (channels_weibo.analysis) as `send_rule_handoff_task`, once per person.

By private message when the fan-service 48-hour window allows it
(channels_weibo.fanservice.reply_window_error), otherwise as a public comment reply under the
post or comment the person wrote. A link that could not be sent stays issued but unsent, with
the reason in `Handoff.send_error`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.actions import create_lead, issue_handoff, mark_handoff_sent, record_handoff_failure
from crm.inbox import InboxError, SendError, deliver, record_outbound
from crm.models import Channel, DeliveryStatus, Handoff, SenderKind

from .actions import reply_in_public
from .campaigns import engagement_kol, kol_posts
from .client import RateLimited, TokenInvalid, TransientError, WeiboError
from .fanservice import reply_window_error
from .ingest import ingest_comments
from .lead_credit import credit_leads
from .models import (
    Campaign,
    CampaignHandoff,
    KeywordRule,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)
from .polling import client_for, mark_token_invalid

LINK_TEXT = "关注我们的微信公众号，获取一对一专属服务：{url}"


def handoff_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("handoff", args=[token])


def _refuse(text, *, transient: bool = False) -> ValidationError:
    code = "transient" if transient else "refused"
    return ValidationError({"handoff": ValidationError(text, code=code)})


def is_transient(exc: ValidationError) -> bool:
    """The refusal is the platform's passing trouble (busy, rate limited): try again later."""
    errors = getattr(exc, "error_dict", {}).get("handoff", [])
    return any(error.code == "transient" for error in errors)


def send_handoff_link(*, lead=None, conversation=None, agent=None) -> str:
    """Issue the handoff of the Weibo user behind `lead` (a Weibo lead) or `conversation` (a
    Weibo complaint case) and send its link; returns "message" or "comment".

    A private message when the 48-hour window is open, else a public reply to the post or
    comment the lead or case came from. Raises ValidationError (no Weibo user, no post to reply
    under, the handoff already used, the platform refused: the reason in the message). A link
    that could not be sent stays issued but unsent, the reason in its `send_error` (re-sending
    issues a new token). Call it outside a transaction: it waits on Weibo.
    """
    if conversation is not None:
        subject = conversation.subject
        uid, account_uid = conversation.external_user, conversation.account
        customer, purpose = conversation.customer, Handoff.Purpose.COMPLAINT
    elif lead is not None:
        subject = lead.source
        author = getattr(subject, "author", None)
        user = author or WeiboUser.objects.filter(customer=lead.customer).first()
        uid = user.uid if user else ""
        account = getattr(subject, "account", None)
        account_uid = account.uid if account else ""
        customer, purpose = lead.customer, Handoff.Purpose.LEAD
    else:
        raise _refuse(_("Choose a lead or a case."))
    if isinstance(subject, WeiboComment | WeiboPost) and conversation is not None:
        uid = subject.author.uid
    if not uid:
        raise _refuse(_("This customer has no Weibo identity."))
    account = _account(account_uid)
    handoff, token = issue_handoff(customer, weibo_uid=uid, purpose=purpose, lead=lead)
    return _send(
        handoff, token, account=account, subject=subject, conversation=conversation, agent=agent
    )


def send_campaign_handoff(campaign: Campaign, item, *, agent=None) -> str:
    """Send the person behind `item` (their repost of, or comment on, one of the campaign's KOL
    posts) the handoff link, from the KOL campaign; returns "message" or "comment".

    In one transaction: the lead from `item` (origin the campaign; the customer's lead from it
    if there is one), the handoff of purpose `campaign` for it (re-issued if the person had an
    unused one, from this campaign or another) and its CampaignHandoff (the campaign and the KOL
    whose post it was). Then sent as `send_handoff_link` sends. Raises ValidationError, nothing
    written: the campaign has no KOL posts; `item` is not an engagement with them; its author
    has no customer record (erased) or no uid; their campaign handoff was already used. Raises
    ValidationError when the platform refused: the lead and the handoff stay, the reason in
    `send_error`. Call it outside a transaction: it waits on Weibo.
    """
    if not kol_posts(campaign).exists():
        raise _refuse(_("This campaign has no KOL posts yet: nobody engaged with it."))
    kol = engagement_kol(campaign, item)
    if kol is None:
        raise _refuse(
            _("This is not a repost of, or a comment on, one of the campaign's KOL posts.")
        )
    author = item.author
    if not author.uid:
        raise _refuse(_("This customer has no Weibo identity."))
    if author.customer is None:
        raise _refuse(_("This Weibo user has no customer record."))
    with transaction.atomic():
        # Re-issuing moves the handoff to this lead: the lead it had loses the campaign's credit.
        had = list(
            Handoff.objects.filter(
                weibo_uid=author.uid, purpose=Handoff.Purpose.CAMPAIGN, lead__isnull=False
            ).values_list("lead_id", flat=True)
        )
        lead, _created = create_lead(
            author.customer,
            f"{campaign.name}：{item.text[:80]}",
            source_channel=Channel.WEIBO,
            source=item,
            origin=campaign,
        )
        handoff, token = issue_handoff(
            author.customer, weibo_uid=author.uid, purpose=Handoff.Purpose.CAMPAIGN, lead=lead
        )
        CampaignHandoff.objects.update_or_create(
            handoff=handoff, defaults={"campaign": campaign, "kol": kol}
        )
        credit_leads([lead.pk, *had])
    return _send(handoff, token, account=campaign.account, subject=item, agent=agent)


def send_rule_handoff(what: str, item_id: int, rule_id: int) -> str:
    """The keyword rule `rule_id` matched the post or comment `item_id` (`what`: "post" or
    "comment") of someone else: send its author the WeChat handoff link, once.

    In one transaction: the lead from the item, as the rule's lead action opens it (the one
    there is if there is one), and the author's handoff of purpose `lead` issued with `once`
    (crm.actions.issue_handoff); then sent as `send_handoff_link` sends, by the system. Returns:
    "message" or "comment" (sent); "skipped", nothing written (the item, its author's customer
    or the rule is gone, the author followed through a handoff link of any purpose, or their
    lead handoff was already sent or is being sent); "failed" (the platform refused, recorded
    in the handoff's `send_error`; a later match tries again); "retry" (a passing failure,
    recorded: the task tries again). Never raises a refusal. Call it outside a transaction: it
    waits on Weibo.
    """
    model = WeiboPost if what == "post" else WeiboComment
    item = model.objects.select_related("author__customer", "account").filter(pk=item_id).first()
    rule = KeywordRule.objects.filter(pk=rule_id).first()
    if item is None or rule is None or item.author.customer is None or not item.author.uid:
        return "skipped"
    customer, uid = item.author.customer, item.author.uid
    # Before opening a lead: a person who followed through any handoff link is on WeChat
    # already, and one sent (or being sent) a lead link gets no second lead from this either.
    # (issue_handoff decides under the row lock; this only saves the work.)
    done = Handoff.objects.filter(weibo_uid=uid).filter(
        Q(used_at__isnull=False) | Q(purpose=Handoff.Purpose.LEAD, send_error="")
    )
    if done.exists():
        return "skipped"
    try:
        with transaction.atomic():
            lead, _created = create_lead(
                customer,
                f"{rule.name}：{item.text[:80]}",
                source_channel=Channel.WEIBO,
                source=item,
                origin=rule,
                at=item.created_at,
            )
            handoff, token = issue_handoff(
                customer, weibo_uid=uid, purpose=Handoff.Purpose.LEAD, lead=lead, once=True
            )
    except ValidationError:
        return "skipped"
    try:
        account = item.account or _account("")
        return _send(handoff, token, account=account, subject=item, sender_kind=SenderKind.SYSTEM)
    except ValidationError as exc:
        return "retry" if is_transient(exc) else "failed"


def _account(uid: str) -> WeiboAccount:
    account = (
        WeiboAccount.objects.filter(uid=uid).first() or WeiboAccount.objects.order_by("pk").first()
    )
    if account is None:
        raise _refuse(_("No Weibo account is connected."))
    return account


def _send(
    handoff: Handoff,
    token: str,
    *,
    account: WeiboAccount,
    subject,
    conversation=None,
    agent=None,
    sender_kind: str = SenderKind.AGENT,
) -> str:
    """Send the link of the issued `handoff`; a refusal is kept in its `send_error`."""
    try:
        return _deliver_link(handoff, token, account, subject, conversation, agent, sender_kind)
    except ValidationError as exc:
        record_handoff_failure(handoff, " ".join(exc.messages))
        raise


def _deliver_link(handoff, token, account, subject, conversation, agent, sender_kind) -> str:
    uid, customer = handoff.weibo_uid, handoff.customer
    text = LINK_TEXT.format(url=handoff_url(token))
    if reply_window_error(account.uid, uid) is None:
        message = record_outbound(
            None,
            content=text,
            sender_kind=sender_kind,
            sender=agent,
            delivery_status=DeliveryStatus.QUEUED,
            customer=customer,
            channel="weibo",
            account=account.uid,
            external_user=uid,
            data={"handoff": handoff.pk},
        )
        try:
            deliver(message)
        except SendError as exc:
            raise _refuse(exc.message, transient=exc.transient) from None
        mark_handoff_sent(handoff, by="message", subject=message, summary=text)
        return "message"
    if not isinstance(subject, WeiboComment | WeiboPost):
        raise _refuse(
            _("The 48-hour window is closed and there is no post to reply under publicly.")
        )
    try:
        if conversation is not None:
            message = reply_in_public(conversation, text, agent=agent)
            mark_handoff_sent(handoff, by="comment", subject=message, summary=text)
            return "comment"
        api = client_for(account)
        if isinstance(subject, WeiboComment):
            created = api.comment_reply(subject.idstr, subject.post.idstr, text)
        else:
            created = api.comment_create(subject.idstr, text)
    except InboxError as exc:
        raise _refuse(" ".join(m for ms in exc.message_dict.values() for m in ms)) from None
    except TokenInvalid as exc:
        mark_token_invalid(account, exc)
        raise _refuse(f"{exc.code}: {exc.message}") from None
    except WeiboError as exc:
        passing = isinstance(exc, TransientError | RateLimited)
        raise _refuse(f"{exc.code}: {exc.message}", transient=passing) from None
    with transaction.atomic():
        ingest_comments(account, [created])
        comment = WeiboComment.objects.filter(idstr=str(created.get("idstr") or "")).first()
        mark_handoff_sent(handoff, by="comment", subject=comment, summary=text)
    return "comment"
