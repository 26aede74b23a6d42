"""Sending through the sender each channel app registers (`register_sender`); crm imports no
channel app. A sender is `func(message) -> platform_msg_id` and raises `SendError` on failure.
Outbound messages are stored first (`record_outbound`), then delivered (`deliver`)."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .. import live
from ..actions import record_interaction
from ..models import (
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    InteractionKind,
    Message,
    SenderKind,
)
from .common import SendError
from .sla import on_agent_response

logger = logging.getLogger(__name__)

SENDERS: dict[str, str] = {}
ADDRESS_RESOLVERS: dict[str, str] = {}


def register_sender(channel: str, sender_path: str, resolver_path: str | None = None) -> None:
    """Declare how to send on `channel`: `sender(message) -> platform_msg_id`, and optionally
    `resolver(customer) -> (account, external_user) | None` to reach a customer who never wrote."""
    SENDERS[channel] = sender_path
    if resolver_path:
        ADDRESS_RESOLVERS[channel] = resolver_path


def _sender(channel: str) -> Callable[[Message], str]:
    if channel not in SENDERS:
        raise SendError(
            "no_sender",
            _("No sender is configured for channel %(channel)s.") % {"channel": channel},
        )
    return import_string(SENDERS[channel])


def record_outbound(
    conversation: Conversation | None,
    *,
    content: str,
    sender_kind: str,
    msg_type: str = "text",
    sender=None,
    sent_at: datetime | None = None,
    delivery_status: str = DeliveryStatus.SENT,
    platform_msg_id: str = "",
    error_code: str = "",
    error_message: str = "",
    data: dict[str, Any] | None = None,
    customer: Customer | None = None,
    channel: str = "",
    account: str = "",
    external_user: str = "",
) -> Message:
    """Store a message the brand sent (or is sending). Caller's transaction.

    A sent agent message is the conversation's first human response if it has none yet, and
    moves an open conversation to pending (waiting for the customer). Without a conversation
    (a notice to a customer), give customer, channel, account and external_user.
    """
    sent_at = sent_at or timezone.now()
    if conversation is not None:
        customer = conversation.customer
        channel, account = conversation.channel, conversation.account
        external_user = conversation.external_user
    if customer is None:
        raise ValueError("an outbound message needs a conversation or a customer")
    message = Message.objects.create(
        conversation=conversation,
        customer=customer,
        channel=channel,
        account=account,
        external_user=external_user,
        direction=Direction.OUT,
        msg_type=msg_type,
        content=content,
        data=data or {},
        platform_msg_id=str(platform_msg_id or ""),
        sent_at=sent_at,
        sender=sender,
        sender_kind=sender_kind,
        delivery_status=delivery_status,
        error_code=str(error_code or ""),
        error_message=(error_message or "")[:500],
    )
    if delivery_status == DeliveryStatus.SENT:
        _after_sent(message)
    return message


def _after_sent(message: Message) -> None:
    conversation = message.conversation
    if conversation is not None:
        taken = 0
        updates: dict[str, Any] = {"last_message_at": message.sent_at}
        if message.sender_kind == SenderKind.AGENT:
            Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(
                first_response_at=message.sent_at
            )
            Conversation.objects.filter(pk=conversation.pk, status=ConversationStatus.OPEN).update(
                status=ConversationStatus.PENDING
            )
            if message.sender_id is not None:
                # The first agent to answer an unassigned conversation takes it: it shows in
                # their queue and counts in their figures (the per-agent KPI table).
                taken = Conversation.objects.filter(
                    pk=conversation.pk, assignee__isnull=True
                ).update(assignee_id=message.sender_id)
            on_agent_response(conversation.pk, message.sent_at)  # SLA targets met or missed
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        conversation.refresh_from_db()
        live.emit("message", message)
        if taken:  # the other pages see it leave the unassigned tab
            live.emit("assigned", conversation, by=message.sender_id)
    if message.sender_kind in (SenderKind.AGENT, SenderKind.SYSTEM):
        record_interaction(
            message.customer,
            InteractionKind.MESSAGE_OUT,
            message.channel,
            occurred_at=message.sent_at,
            summary=message.content or f"[{message.msg_type}]",
            subject=message,
            data={"conversation": message.conversation_id, "sender_kind": message.sender_kind},
        )


def deliver(message: Message) -> Message:
    """Send a stored `queued` message through its channel's sender and record the outcome.

    Raises SendError (after storing the message as failed, with the platform's code).
    Call it outside a transaction: it waits on the platform.
    """
    try:
        platform_id = _sender(message.channel)(message)
    except SendError as exc:
        Message.objects.filter(pk=message.pk).update(
            delivery_status=DeliveryStatus.FAILED,
            error_code=exc.code,
            error_message=exc.message[:500],
        )
        message.delivery_status, message.error_code = DeliveryStatus.FAILED, exc.code
        message.error_message = exc.message[:500]
        raise
    with transaction.atomic():
        message.delivery_status = DeliveryStatus.SENT
        message.platform_msg_id = str(platform_id or "")
        message.sent_at = timezone.now()
        Message.objects.filter(pk=message.pk).update(
            delivery_status=message.delivery_status,
            platform_msg_id=message.platform_msg_id,
            sent_at=message.sent_at,
        )
        _after_sent(message)
    return message


def send_to_customer(customer: Customer, text: str) -> Message | None:
    """Send a notice (an order confirmation, say) to the customer on a private channel.

    Uses the channel the customer last wrote on, else any channel whose resolver knows them.
    Returns the message (sent, or stored as failed), or None if the customer cannot be reached.
    """
    address = None
    last = (
        Message.objects.filter(customer=customer, direction=Direction.IN, channel__in=list(SENDERS))
        .order_by("-sent_at")
        .values("channel", "account", "external_user")
        .first()
    )
    if last:
        address = (last["channel"], last["account"], last["external_user"])
    else:
        for channel, path in ADDRESS_RESOLVERS.items():
            found = import_string(path)(customer)
            if found:
                address = (channel, *found)
                break
    if address is None:
        return None
    channel, account, external_user = address
    message = record_outbound(
        None,
        content=text,
        sender_kind=SenderKind.SYSTEM,
        delivery_status=DeliveryStatus.QUEUED,
        customer=customer,
        channel=channel,
        account=account,
        external_user=external_user,
    )
    try:
        deliver(message)
    except SendError as exc:
        logger.info("notice to customer %s not delivered: %s", customer.pk, exc)
    return message
