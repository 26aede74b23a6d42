"""Writes of the Weibo app that touch several models: connecting accounts and publishing."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.inbox import InboxError, record_outbound
from crm.models import Conversation, DeliveryStatus, SenderKind

from .client import TokenInvalid, WeiboClient, WeiboError
from .ingest import ingest_comments, ingest_statuses
from .models import ScheduledPost, TokenStatus, WeiboAccount, WeiboComment, WeiboPost
from .polling import client_for, mark_token_invalid


def connect_account(code: str, *, app_key: str, app_secret: str, redirect_uri: str) -> WeiboAccount:
    """Finish the OAuth authorization-code flow: exchange the code, store the token.

    Creates the account for the returned uid, or refreshes the token of an existing one (a
    re-authorisation extends it). Raises WeiboError (invalid code, wrong app) and stores nothing.
    """
    api = WeiboClient()
    token = api.access_token_for_code(app_key, app_secret, code, redirect_uri)
    uid = token["uid"]
    expires_in = int(token.get("expires_in") or 0)
    screen_name = uid
    try:
        screen_name = (
            WeiboClient(token["access_token"]).user_show(uid=uid).get("screen_name") or uid
        )
    except WeiboError:
        pass
    with transaction.atomic():
        account, _created = WeiboAccount.objects.select_for_update().get_or_create(
            uid=uid, defaults={"screen_name": screen_name}
        )
        account.screen_name = screen_name
        account.access_token = token["access_token"]
        account.token_expires_at = (
            timezone.now() + timedelta(seconds=expires_in) if expires_in else None
        )
        account.token_status = TokenStatus.OK
        account.token_error = ""
        account.rate_limited_until = None
        account.save()
    return account


def publish_scheduled_post(post: ScheduledPost) -> ScheduledPost:
    """Publish one scheduled post through statuses/share and record the outcome on it.

    A post already published or failed is left alone (safe to run twice: the row is locked and
    claimed before the call). Platform errors are stored on the post, not raised.
    """
    with transaction.atomic():
        post = ScheduledPost.objects.select_for_update().get(pk=post.pk)
        if post.status != ScheduledPost.Status.SCHEDULED:
            return post
        account = post.account
        if not account.token_usable:
            post.status = ScheduledPost.Status.FAILED
            post.error = _("The account's Weibo authorisation is not valid: authorise it again.")
            post.save(update_fields=["status", "error"])
            return post
        text = post.text if not post.image_url else f"{post.text} {post.image_url}"
        try:
            status = client_for(account).share(text)
        except TokenInvalid as exc:
            mark_token_invalid(account, exc)
            post.status, post.error = ScheduledPost.Status.FAILED, f"{exc.code}: {exc.message}"
        except WeiboError as exc:
            post.status, post.error = ScheduledPost.Status.FAILED, f"{exc.code}: {exc.message}"
        else:
            result = ingest_statuses(account, [status])
            post.status = ScheduledPost.Status.PUBLISHED
            post.result_idstr = result.ids[0]
            post.post = account.posts.get(idstr=result.ids[0])
            post.published_at = timezone.now()
            post.error = ""
        post.error = post.error[:500]
        post.save()
    return post


def publish_due_posts(now=None) -> int:
    """Publish every scheduled post whose time has come. Returns how many were tried."""
    now = now or timezone.now()
    due = ScheduledPost.objects.filter(
        status=ScheduledPost.Status.SCHEDULED, publish_at__lte=now
    ).order_by("publish_at")
    count = 0
    for post in due:
        publish_scheduled_post(post)
        count += 1
    return count


def reply_in_public(conversation: Conversation, text: str, *, agent):
    """Answer a complaint case in public: a comment under the post, or a reply to the comment,
    that the case was opened from. Stores the reply in the case as the agent's response.

    Raises InboxError (no text, not a Weibo case, resolved, too long) or WeiboError (the
    platform refused; nothing is stored). Call it outside a transaction: it waits on Weibo.
    """
    text = (text or "").strip()
    if not text:
        raise InboxError({"text": _("Write a reply first.")})
    if len(text) > 140:
        raise InboxError({"text": _("A Weibo comment has at most 140 characters.")})
    if conversation.channel != "weibo" or not isinstance(
        conversation.subject, WeiboPost | WeiboComment
    ):
        raise InboxError({"conversation": _("This case did not come from a Weibo post.")})
    if not conversation.is_active:
        raise InboxError(
            {"conversation": _("This conversation is resolved; it cannot be answered.")}
        )
    account = WeiboAccount.objects.get(uid=conversation.account)
    api = client_for(account)
    subject = conversation.subject
    try:
        if isinstance(subject, WeiboComment):
            created = api.comment_reply(subject.idstr, subject.post.idstr, text)
        else:
            created = api.comment_create(subject.idstr, text)
    except TokenInvalid as exc:
        mark_token_invalid(account, exc)
        raise
    with transaction.atomic():
        ingest_comments(account, [created])
        message = record_outbound(
            conversation,
            content=text,
            msg_type="comment",
            sender=agent,
            sender_kind=SenderKind.AGENT,
            delivery_status=DeliveryStatus.SENT,
            platform_msg_id=f"comment:{created.get('idstr') or created.get('id')}",
            data={"public": True},
        )
    return message
