"""The life of a mass send before it goes out: check, approve, start, cancel, preview."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.tasks_queue import enqueue_on_commit

from ..mass_client import MassClient
from ..models import WeChatUser
from ..models.mass import MassSend
from .content import message_body

APPROVE_PERMISSION = "channels_wechat.approve_masssend"


def check_draft(send: MassSend) -> None:
    """Raise ValidationError (by field) if the send cannot be approved as it stands."""
    errors: dict[str, str] = {}
    if send.target == MassSend.Target.SEGMENT and send.segment_id is None:
        errors["segment"] = _("Choose the segment to send to.")
    if send.target == MassSend.Target.TAG and send.tag_id is None:
        errors["tag"] = _("Choose the tag to send to.")
    if send.kind == MassSend.Kind.TEXT and not send.text.strip():
        errors["text"] = _("A text message needs its text.")
    if send.kind == MassSend.Kind.IMAGE and not send.media_id:
        errors["media_id"] = _("An image message needs the image's media id.")
    if send.kind == MassSend.Kind.NEWS and not (
        send.article.get("title") and send.article.get("content")
    ):
        errors["article"] = _("An article needs a title and a content.")
    if send.kind == MassSend.Kind.COUPON:
        template = send.coupon_template
        if template is None:
            errors["coupon_template"] = _("Choose the coupon to hand out.")
        elif not (template.active and template.public_claim):
            errors["coupon_template"] = _(
                "This coupon cannot be claimed by link: make it active and publicly claimable."
            )
    if errors:
        raise ValidationError(errors)


def approve_send(send: MassSend, user) -> MassSend:
    """Approve a draft. Atomic (the send row is locked).

    Raises ValidationError if the user may not approve (no `approve_masssend`: marketing and
    agents), approves their own send, or the send is not a complete draft.
    """
    if not user.has_perm(APPROVE_PERMISSION):
        raise ValidationError(_("Only a manager can approve a mass send."), code="forbidden")
    with transaction.atomic():
        send = MassSend.objects.select_for_update().get(pk=send.pk)
        if send.created_by_id == user.pk:
            raise ValidationError(
                _("A mass send is approved by someone else than its author."), code="own"
            )
        if send.status != MassSend.Status.DRAFT:
            raise ValidationError(
                _("Only a draft can be approved (this send is %(status)s).")
                % {"status": send.get_status_display()},
                code="status",
            )
        check_draft(send)
        send.status, send.approved_by, send.approved_at = (
            MassSend.Status.APPROVED,
            user,
            timezone.now(),
        )
        send.save(update_fields=["status", "approved_by", "approved_at"])
    return send


def start_send(send: MassSend) -> MassSend:
    """Send an approved send now, or at its `scheduled_at` (the beat task picks it up then).
    Atomic. Raises ValidationError for a send that is not approved."""
    with transaction.atomic():
        send = MassSend.objects.select_for_update().get(pk=send.pk)
        if send.status != MassSend.Status.APPROVED or send.approved_by_id is None:
            raise ValidationError(_("An unapproved mass send cannot go out."), code="not_approved")
        if send.scheduled_at and send.scheduled_at > timezone.now():
            send.status = MassSend.Status.SCHEDULED
        else:
            send.status = MassSend.Status.SENDING
            enqueue_on_commit("channels_wechat.tasks.run_mass_send_task", send.pk)
        send.save(update_fields=["status"])
    return send


def cancel_send(send: MassSend) -> MassSend:
    """Stop a send that has not finished: recipients not yet sent are never sent. Atomic."""
    with transaction.atomic():
        send = MassSend.objects.select_for_update().get(pk=send.pk)
        if send.status in (MassSend.Status.DONE, MassSend.Status.CANCELLED):
            raise ValidationError(_("This mass send is already over."), code="status")
        send.status = MassSend.Status.CANCELLED
        send.save(update_fields=["status"])
    return send


def preview_send(send: MassSend, openid: str) -> None:
    """Send the message to one follower (a staff member's own WeChat) with
    `message/mass/preview`. Raises ValidationError for an openid that is not a follower of the
    account, SendError for WeChat's refusal. Writes nothing but a news draft's media id."""
    check_draft(send)
    if not WeChatUser.objects.filter(account=send.account, openid=openid, subscribed=True).exists():
        raise ValidationError(
            {
                "openid": _("This OpenID is not a follower of %(account)s.")
                % {"account": send.account}
            }
        )
    client = MassClient(send.account)
    client.mass_preview(openid, message_body(send, client))


DRAFT_FIELDS = [
    "account",
    "title",
    "target",
    "segment",
    "tag",
    "kind",
    "text",
    "media_id",
    "article",
    "coupon_template",
    "link_url",
    "scheduled_at",
]


def save_draft(send: MassSend, user=None) -> MassSend:
    """Store a new or changed draft (the author is who first saved it). Atomic.

    Raises ValidationError if the send is no longer a draft: an approved send cannot change
    (a changed send would need approving again, so cancel it and draft a new one).
    """
    with transaction.atomic():
        if send.pk:
            stored = MassSend.objects.select_for_update().get(pk=send.pk)
            if stored.status != MassSend.Status.DRAFT:
                raise ValidationError(
                    _("Only a draft can be changed; this send is %(status)s.")
                    % {"status": stored.get_status_display()},
                    code="status",
                )
        else:
            send.created_by = user
            send.status = MassSend.Status.DRAFT
        if send.target != MassSend.Target.SEGMENT:
            send.segment = None
        if send.target != MassSend.Target.TAG:
            send.tag = None
        send.save()
    return send
