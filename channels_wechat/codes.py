"""Channel QR codes at ingestion: what a follow or scan through a code's scene does.

`apply_code_scan` is called by channels_wechat.ingest for a `subscribe` carrying `qrscene_<scene>`
and for a `SCAN` event (EventKey `<scene>`), once per stored event message (ingestion is
idempotent on the message, so a redelivered push applies nothing twice). Creating codes at
WeChat is channels_wechat.actions' (`create_channel_code`); the per-code figures are
channels_wechat.reports'.
"""

from datetime import datetime

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from crm.actions import attach_tags, record_interaction
from crm.attribution import customers_changed
from crm.journeys import enroll
from crm.models import Channel, InteractionKind, JourneyTrigger, Message

from .models import ChannelCode, ChannelCodeScan, OfficialAccount, WeChatUser

# Why a scene did nothing: the reason code stored on the timeline entry, and its text.
REASONS = {
    "unknown": _("unknown scene"),
    "foreign": _("the scene belongs to another official account"),
    "inactive": _("the channel code is inactive"),
    "expired": _("the channel code has expired"),
}

# purpose -> dotted path of the callable that takes over the scans of codes with that purpose.
_PURPOSE_HANDLERS: dict[str, str] = {}


def register_purpose_handler(purpose: str, path: str) -> None:
    """Let other work (the Weibo handoff) take over what a scan of a code with `purpose` does,
    from its AppConfig.ready. `path` names `handler(code, user, message, *, event, at) -> str`,
    called in ingestion's transaction for every scan of such a code of the account (the handler
    decides whether an inactive or expired one counts) instead of the tags, welcome message,
    attribution and timeline entry; it records its outcome on the timeline itself and returns
    "" when it applied the scan, else the reason it did not (kept on the scan row)."""
    _PURPOSE_HANDLERS[purpose] = path


def find_code(
    account: OfficialAccount, scene: str, *, at: datetime
) -> tuple[ChannelCode | None, str]:
    """(code, "") for an active, unexpired code of `account` with this scene; otherwise
    (the code if one of this account matched, reason key of REASONS)."""
    code = ChannelCode.objects.filter(account=account, scene=scene).prefetch_related("tags").first()
    if code is None:
        if ChannelCode.objects.filter(scene=scene).exclude(account=account).exists():
            return None, "foreign"
        return None, "unknown"
    if not code.active:
        return code, "inactive"
    if code.expired(at):
        return code, "expired"
    return code, ""


def apply_code_scan(
    account: OfficialAccount,
    user: WeChatUser,
    stored: Message,
    scene: str,
    *,
    event: str,
    new_follower: bool,
    at: datetime,
) -> ChannelCode | None:
    """Apply a follow/scan through `scene`; returns the code whose welcome message the caller
    sends (live pushes only), or None when nothing was applied.

    A known code of this account records a ChannelCodeScan row (even when it is not applied, so
    the report counts every scan). An applicable code adds its tags to the customer and, when the
    follower has no channel code yet, attributes the follower to it (first touch); a code whose
    purpose has a registered handler (register_purpose_handler) is the handler's instead, and
    returns None. Either way the
    timeline gets an `other` entry naming the code, or the reason nothing was applied. Caller's
    transaction (ingestion's).
    """
    code, reason = find_code(account, scene, at=at)
    scan = {"event": event, "new_follower": new_follower, "at": at}
    handler = _PURPOSE_HANDLERS.get(code.purpose) if code is not None else None
    if code is not None and handler:
        # The purpose's owner decides (a handoff code is one Weibo user's) and says so itself.
        reason = import_string(handler)(code, user, stored, event=event, at=at)
        ChannelCodeScan.objects.create(
            code=code, user=user, message=stored, applied=not reason, **scan
        )
        if not reason:
            # The handler may have linked the follower to another customer (a handoff's merge).
            user.refresh_from_db(fields=["customer"])
            customers_changed([user.customer_id])  # an applied scan is a touch
        return None
    customer = user.customer
    if code is not None:
        ChannelCodeScan.objects.create(
            code=code, user=user, message=stored, applied=not reason, **scan
        )
    if not reason:
        # find_code names a reason whenever it finds no code; ingestion linked a customer first.
        assert code is not None and customer is not None
        customers_changed([customer.pk])  # an applied scan is a touch
        attach_tags((customer.pk, tag.name) for tag in code.tags.all())
        if event == "subscribe":
            enroll(
                JourneyTrigger.CODE_FOLLOWED, [(customer.pk, f"code:{code.pk}", code.scene)], at=at
            )
        if user.channel_code_id is None:
            user.channel_code, user.channel_code_at = code, at
            WeChatUser.objects.filter(pk=user.pk).update(channel_code=code, channel_code_at=at)
    if reason:
        summary = _("Channel code scene %(scene)s not applied: %(reason)s") % {
            "scene": scene,
            "reason": REASONS.get(reason, reason),
        }
    else:
        assert code is not None
        summary = _("Followed or scanned channel code %(name)s") % {"name": code.name}
    assert customer is not None
    record_interaction(
        customer,
        InteractionKind.OTHER,
        Channel.WECHAT,
        occurred_at=at,
        summary=str(summary),
        subject=stored,
        data={
            "account": account.appid,
            "openid": user.openid,
            "channel_code": code.pk if code else None,
            "scene": scene,
            "event": event,
            "applied": not reason,
            "reason": reason,
        },
    )
    return None if reason or handler else code
