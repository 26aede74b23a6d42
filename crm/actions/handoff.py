"""Weibo → WeChat handoffs: issuing the link, giving it its QR scene, claiming it on a follow.

The channel apps call these (crm imports neither): channels_weibo issues a handoff and sends the
link; channels_wechat sets the scene of the QR code it made and claims the handoff when a
`subscribe`/`SCAN` through that scene arrives.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import (
    Channel,
    Customer,
    Handoff,
    InteractionKind,
    Lead,
    LeadStatus,
    MergeRecord,
)
from .leads import update_lead
from .merge import MergeError, merge_customers
from .timeline import record_interaction

HANDOFF_LIFETIME = timedelta(days=1)

# Why a follow through a handoff scene linked nothing: the reason code on the timeline entry.
HANDOFF_REASONS = {
    "unknown": gettext_lazy("no handoff was issued with this scene"),
    "foreign": gettext_lazy("the handoff belongs to another official account"),
    "expired": gettext_lazy("the handoff link has expired"),
    "used": gettext_lazy("the handoff was already used by another WeChat user"),
    "merge_refused": gettext_lazy("the two customer records could not be merged"),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def handoff_for_token(token: str) -> Handoff | None:
    """The handoff whose link carries `token`, or None."""
    if not token or len(token) > 100:
        return None
    return Handoff.objects.select_related("customer").filter(token_hash=token_hash(token)).first()


def issue_handoff(
    customer: Customer,
    *,
    weibo_uid: str,
    purpose: str,
    lead: Lead | None = None,
    at: datetime | None = None,
    once: bool = False,
) -> tuple[Handoff, str]:
    """Issue (or re-issue) the handoff link of one Weibo user for one purpose.

    Returns (handoff, token); the token is only returned here (stored as its SHA-256). Re-issuing
    an unused handoff gives it a new token, a new lifetime, no scene and no send error (the old
    link and QR code stop working). Raises ValidationError if this user's handoff for the
    purpose was already used (code `used`), and with `once` (what an automatic sender asks) if
    it was issued before and its last sending did not fail (code `issued`: sent, or being sent
    by another worker); nothing is written then. One transaction, the row locked.
    """
    at = at or timezone.now()
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        handoff = (
            Handoff.objects.select_for_update().filter(weibo_uid=weibo_uid, purpose=purpose).first()
        )
        if handoff is not None and handoff.used_at is not None:
            raise _refusal(_("This Weibo user already followed through a handoff link."), "used")
        if once and handoff is not None and not handoff.send_error:
            raise _already_issued()
        if handoff is None:
            handoff = Handoff(weibo_uid=weibo_uid, purpose=purpose)
        handoff.customer = customer
        handoff.lead = lead if lead is not None else handoff.lead
        handoff.token_hash = token_hash(token)
        handoff.expires_at = at + HANDOFF_LIFETIME
        handoff.scene, handoff.appid, handoff.created_at = "", "", at
        handoff.send_error = ""
        try:
            with transaction.atomic():
                handoff.save()
        except IntegrityError:
            # Another worker issued this user's handoff for the purpose meanwhile.
            if not once:
                raise
            raise _already_issued() from None
    return handoff, token


def _already_issued() -> ValidationError:
    return _refusal(_("A handoff link was already sent to this Weibo user."), "issued")


def _refusal(text: str, code: str) -> ValidationError:
    # The code on the field's error: a dict ValidationError keeps no code of its own.
    return ValidationError({"handoff": ValidationError(text, code=code)})


def record_handoff_failure(handoff: Handoff, error: str) -> None:
    """The link of `handoff` could not be sent: keep why (the handoff stays issued, unsent)."""
    Handoff.objects.filter(pk=handoff.pk).update(send_error=error[:255])
    handoff.send_error = error[:255]


def set_handoff_scene(handoff: Handoff, *, appid: str, scene: str) -> Handoff:
    """Record the QR scene issued to this handoff alone (the provider made the code)."""
    Handoff.objects.filter(pk=handoff.pk).update(appid=appid, scene=scene)
    handoff.appid, handoff.scene = appid, scene
    return handoff


def mark_handoff_sent(handoff: Handoff, *, by: str, subject=None, summary: str = "") -> None:
    """Note how the link went out ("message" or "comment") and put it on the timeline."""
    with transaction.atomic():
        Handoff.objects.filter(pk=handoff.pk).update(sent_by=by, send_error="")
        record_interaction(
            handoff.customer,
            InteractionKind.MESSAGE_OUT,
            Channel.WEIBO,
            summary=summary,
            subject=subject,
            data={"handoff": handoff.pk, "sent_by": by},
        )


def claim_handoff(
    scene: str,
    *,
    appid: str,
    openid: str,
    customer: Customer,
    at: datetime,
    subject=None,
) -> tuple[Customer, str]:
    """A WeChat follower came through the handoff scene `scene`: link them to the Weibo user.

    Returns (the follower's customer afterwards, reason); reason is "" when linked (or already
    linked to the same follower), else a key of HANDOFF_REASONS, and nothing is linked. The
    first follower through a handoff takes it: a later different openid gets "used". Linking
    merges the follower's customer into the handoff's (the Weibo customer survives: the lead,
    the case and the Weibo history are there), MergeRecord reason `handoff`; an open lead of the
    handoff moves to qualified. The timeline entry (kind `other`, on the customer the follower
    ends up on) names the scene and the reason. Caller's transaction (ingestion's), row locked.
    """
    handoff = Handoff.objects.select_for_update().filter(scene=scene).first() if scene else None
    return _claim(
        handoff, scene, appid=appid, openid=openid, customer=customer, at=at, subject=subject
    )


def claim_handoff_by_oauth(
    handoff: Handoff, *, appid: str, openid: str, customer: Customer, at: datetime
) -> tuple[Customer, str]:
    """The handoff link opened inside WeChat and signed in with OAuth (`snsapi_base`) as
    `openid` of `appid`: link exactly as `claim_handoff` does for a follow through its scene
    (same rules, reasons and timeline entry, `data.via = "oauth"`). A handoff whose QR code
    was never made takes `appid` as its account. Atomic, row locked."""
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().get(pk=handoff.pk)
        if not handoff.appid:
            Handoff.objects.filter(pk=handoff.pk).update(appid=appid)
            handoff.appid = appid
        return _claim(
            handoff,
            handoff.scene,
            appid=appid,
            openid=openid,
            customer=customer,
            at=at,
            via="oauth",
        )


def _claim(handoff, scene, *, appid, openid, customer, at, subject=None, via="qr"):
    reason = ""
    if handoff is None:
        reason = "unknown"
    elif handoff.appid != appid:
        reason = "foreign"
    elif handoff.used_at is not None and handoff.used_openid != openid:
        reason = "used"
    elif handoff.used_at is None and handoff.expired(at):
        reason = "expired"
    if not reason and handoff.used_at is None:
        target = handoff.customer
        while target.merged_into_id:
            target = Customer.objects.get(pk=target.merged_into_id)
        if customer.pk != target.pk:
            try:
                merge_customers(customer, target, reason=MergeRecord.Reason.HANDOFF)
            except MergeError:
                # The follow stays recorded on the follower's own record; a person may merge.
                reason = "merge_refused"
            else:
                customer = target
    if not reason and handoff.used_at is None:
        # `used_via` = "oauth" makes the claim a touch of its own (attribution); no stored
        # touches change now: a touch counts for events at or after it, and an OAuth claim is
        # made at the current time, after every event stored (a merge above refreshed both).
        Handoff.objects.filter(pk=handoff.pk).update(used_at=at, used_openid=openid, used_via=via)
        lead = Lead.objects.filter(
            pk=handoff.lead_id, status__in=(LeadStatus.NEW, LeadStatus.CONTACTED)
        ).first()
        if lead is not None:  # through the one write path for a lead's status
            update_lead(lead, {"status": LeadStatus.QUALIFIED}, at=at)
    elif not reason:
        customer = handoff.customer  # the same follower again: already linked
    if reason:
        summary = _("Weibo handoff scene %(scene)s not linked: %(reason)s") % {
            "scene": scene,
            "reason": HANDOFF_REASONS[reason],
        }
    else:
        summary = _("WeChat follower linked through the Weibo handoff of %(uid)s") % {
            "uid": handoff.weibo_uid
        }
    record_interaction(
        customer,
        InteractionKind.OTHER,
        Channel.WECHAT,
        occurred_at=at,
        summary=str(summary),
        subject=subject,
        data={
            "handoff": handoff.pk if handoff else None,
            "account": appid,
            "openid": openid,
            "scene": scene,
            "via": via,
            "applied": not reason,
            "reason": reason,
        },
    )
    return customer, reason
