"""Pushed events of template and subscription messages (registered with
channels_wechat.ingest.register_event_handler in apps.py):

- TEMPLATESENDJOBFINISH (MsgID, Status: success | failed:user block | failed: system failed):
  the delivery status of a template send.
- subscribe_msg_popup_event (a List of TemplateId + SubscribeStatusString accept | reject):
  an accepted one-time template adds one send to the follower's consent; a long-term one
  (MessageTemplate.long_term) is kept until withdrawn.
- subscribe_msg_change_event (reject: the follower withdrew the consent in the settings;
  accept: gave it again).
- subscribe_msg_sent_event (TemplateId, MsgID, ErrorCode, ErrorStatus): the delivery of a
  subscription message; 43101 (user refused) withdraws the consent.

Each consent change is stored once (SubscribeEvent, unique per push and template), so a push
WeChat delivers three times counts once. Caller's transaction.
"""

from typing import Any

from django.db import IntegrityError, transaction

from .ingest import upsert_user
from .models import MessageTemplate, SubscribeConsent, SubscribeEvent, TemplateSend
from .templates import record_delivery

CONTAINERS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


class ReceiptTooEarly(Exception):
    """A delivery report for a send whose answer (the MsgID) is not stored yet."""


def template_job_finished(account, message: dict[str, Any], *, at, live: bool) -> bool:
    """Store the status on the send with this MsgID. A report that arrives while a send to the
    same follower is still waiting for WeChat's answer raises ReceiptTooEarly: the raw delivery
    is then retried by the sweep once the MsgID is stored. A report for a send made outside this
    CRM is ignored."""
    data = message.get("data") or {}
    msgid, openid = data.get("job_id", ""), message["openid"]
    if record_delivery(account, openid, msgid, data.get("status", ""), at):
        return True
    in_flight = TemplateSend.objects.filter(
        account=account, openid=openid, status=TemplateSend.Status.SENDING
    )
    if msgid and in_flight.exists():
        raise ReceiptTooEarly(f"MsgID {msgid} of {openid} is not recorded yet")
    return False


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    container = message["fields"].get(CONTAINERS[message["event"]]) or {}
    items = container.get("List", []) if isinstance(container, dict) else []
    items = items if isinstance(items, list) else [items]
    return [i for i in items if isinstance(i, dict) and i.get("TemplateId")]


def _first_time(account, message, item, status: str) -> bool:
    try:
        with transaction.atomic():
            SubscribeEvent.objects.create(
                account=account,
                openid=message["openid"],
                event=message["event"],
                template_id=item["TemplateId"][:64],
                msgid=str(item.get("MsgID", ""))[:32],
                status=status[:32],
                create_time=message["create_time"],
                data=item,
            )
    except IntegrityError:
        return False
    return True


def subscribe_event(account, message: dict[str, Any], *, at, live: bool) -> bool:
    """The three subscribe_msg_* events (see the module docstring). True if anything was new."""
    event = message["event"]
    items = _items(message)
    if not items:
        return False
    user = upsert_user(account, message["openid"], at=at)
    long_term = set(
        MessageTemplate.objects.filter(
            account=account, template_id__in=[i["TemplateId"] for i in items], long_term=True
        ).values_list("template_id", flat=True)
    )
    changed = False
    for item in items:
        template_id = item["TemplateId"]
        status = str(item.get("SubscribeStatusString") or item.get("ErrorStatus") or "")
        if not _first_time(account, message, item, status):
            continue
        changed = True
        if event == "subscribe_msg_sent_event":
            record_delivery(account, user.openid, str(item.get("MsgID", "")), status, at)
            if str(item.get("ErrorCode")) != "43101":
                continue
        consent, _created = SubscribeConsent.objects.select_for_update().get_or_create(
            account=account, user=user, template_id=template_id, defaults={"updated_at": at}
        )
        accepted = status == "accept"
        if event == "subscribe_msg_popup_event":
            if accepted and template_id in long_term:
                consent.long_term = True
            elif accepted:
                consent.remaining += 1
        elif event == "subscribe_msg_change_event":
            consent.long_term = accepted and template_id in long_term
            if not accepted:
                consent.remaining = 0
        else:  # sent with 43101: WeChat says there is no consent any more
            consent.long_term, consent.remaining = False, 0
        consent.updated_at = at
        consent.save()
    return changed
