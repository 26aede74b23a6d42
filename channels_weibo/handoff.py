"""Sending a Weibo user the Weibo → WeChat handoff link (crm.models.Handoff).

`send_handoff_link` is crm's handoff sender (registered in apps.py; the Lead admin action and
the inbox case page call it through crm.handoff.send_handoff). By private message when the
fan-service 48-hour window allows it (channels_weibo.fanservice.reply_window_error), otherwise as
a public comment reply under the post or comment the lead or complaint case came from.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.actions import issue_handoff, mark_handoff_sent
from crm.inbox import InboxError, SendError, deliver, record_outbound
from crm.models import DeliveryStatus, Handoff, SenderKind

from .actions import reply_in_public
from .client import TokenInvalid, WeiboError
from .fanservice import reply_window_error
from .ingest import ingest_comments
from .models import WeiboAccount, WeiboComment, WeiboPost, WeiboUser
from .polling import client_for, mark_token_invalid

LINK_TEXT = "关注我们的微信公众号，获取一对一专属服务：{url}"


def handoff_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("handoff", args=[token])


def _refuse(text) -> ValidationError:
    return ValidationError({"handoff": text})


def send_handoff_link(*, lead=None, conversation=None, agent=None) -> str:
    """Issue the handoff of the Weibo user behind `lead` (a Weibo lead) or `conversation` (a
    Weibo complaint case) and send its link; returns "message" or "comment".

    A private message when the 48-hour window is open, else a public reply to the post or
    comment the lead or case came from. Raises ValidationError (no Weibo user, no post to reply
    under, the handoff already used, the platform refused: the reason in the message). A link
    that could not be sent stays issued but unsent (re-sending issues a new token). Call it
    outside a transaction: it waits on Weibo.
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
    account = (
        WeiboAccount.objects.filter(uid=account_uid).first()
        or WeiboAccount.objects.order_by("pk").first()
    )
    if account is None:
        raise _refuse(_("No Weibo account is connected."))
    handoff, token = issue_handoff(customer, weibo_uid=uid, purpose=purpose, lead=lead)
    text = LINK_TEXT.format(url=handoff_url(token))
    if reply_window_error(account.uid, uid) is None:
        message = record_outbound(
            None,
            content=text,
            sender_kind=SenderKind.AGENT,
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
            raise _refuse(exc.message) from None
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
        raise _refuse(f"{exc.code}: {exc.message}") from None
    with transaction.atomic():
        ingest_comments(account, [created])
        comment = WeiboComment.objects.filter(idstr=str(created.get("idstr") or "")).first()
        mark_handoff_sent(handoff, by="comment", subject=comment, summary=text)
    return "comment"
