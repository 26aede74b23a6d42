"""The shared inbox: conversation rules and sending, for every private channel.

Rules (DESIGN.md section 5):
- A conversation opens with a user's first inbound message (not an event) while the user has no
  open or pending conversation on that account. It ends when an agent resolves it.
- A message after resolution opens a new conversation, except a rating reply: a lone digit 1-5
  within 24 hours after the satisfaction survey was sent, which records the rating instead.
- A human response is a message an agent sent; auto-replies, welcome messages and surveys are not.

Sending goes through the sender each channel app registers (`register_sender`); crm imports no
channel app. A sender is `func(message) -> platform_msg_id` and raises `SendError` on failure.
"""

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .actions import record_interaction, record_interactions
from .bulk import update_rows
from .models import (
    ACTIVE_STATUSES,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Interaction,
    InteractionKind,
    Message,
    SenderKind,
)

logger = logging.getLogger(__name__)

RATING_WINDOW = timedelta(hours=24)
_RATING = re.compile(r"^\s*([1-5])\s*$")
SURVEY_TEXT = "感谢您的咨询！请为本次服务打分：直接回复数字 1-5（5 = 非常满意，1 = 非常不满意）。"

SENDERS: dict[str, str] = {}
ADDRESS_RESOLVERS: dict[str, str] = {}


class SendError(Exception):
    """A platform refused or failed to deliver a message; `code` is the platform's error code."""

    def __init__(self, code: str | int, message: str, *, transient: bool = False):
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.transient = transient


class InboxError(ValidationError):
    """An inbox action that is not allowed (resolving a resolved conversation, say)."""


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


def active_conversation(
    channel: str, account: str, external_user: str, kind: str = Conversation.Kind.SERVICE
) -> Conversation | None:
    return Conversation.objects.filter(
        channel=channel,
        account=account,
        external_user=external_user,
        kind=kind,
        status__in=ACTIVE_STATUSES,
    ).first()


def _rated_conversation(channel, account, external_user, content, at) -> Conversation | None:
    """The resolved conversation this message rates, if the message is a rating reply."""
    if not _RATING.match(content or ""):
        return None
    return (
        Conversation.objects.filter(
            channel=channel,
            account=account,
            external_user=external_user,
            status=ConversationStatus.RESOLVED,
            rating__isnull=True,
            survey_sent_at__isnull=False,
            survey_sent_at__lte=at,
            survey_sent_at__gte=at - RATING_WINDOW,
        )
        .order_by("-survey_sent_at")
        .first()
    )


def _stored(lookup: dict) -> Message | None:
    # No ORDER BY: at most one row matches (a unique constraint), and ordering by the model's
    # sent_at let PostgreSQL pick the (channel, account, sent_at) index and scan a whole account's
    # messages instead of the unique one (bench/wechat.py found it).
    return next(iter(Message.objects.filter(**lookup).order_by()[:1]), None)


def receive_message(
    *,
    channel: str,
    account: str,
    external_user: str,
    customer: Customer,
    msg_type: str,
    content: str = "",
    sent_at: datetime | None = None,
    platform_msg_id: str = "",
    media_id: str = "",
    data: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Store an inbound message and apply the conversation rules. Returns (message, created).

    A message already stored (same channel, account and platform id) is returned unchanged.
    `msg_type="event"` rows join the active conversation if there is one but never open one.
    Atomic; concurrent deliveries of one message store it once.
    """
    sent_at = sent_at or timezone.now()
    platform_msg_id = str(platform_msg_id or "")
    lookup = {"channel": channel, "account": account, "platform_msg_id": platform_msg_id}
    if platform_msg_id:
        existing = _stored(lookup)
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            return _receive(
                channel,
                account,
                external_user,
                customer,
                msg_type,
                content,
                sent_at,
                platform_msg_id,
                media_id,
                data or {},
            ), True
    except IntegrityError:
        # A concurrent delivery stored the same message, or opened the conversation first.
        if platform_msg_id:
            existing = _stored(lookup)
            if existing:
                return existing, False
        with transaction.atomic():
            return _receive(
                channel,
                account,
                external_user,
                customer,
                msg_type,
                content,
                sent_at,
                platform_msg_id,
                media_id,
                data or {},
            ), True


def receive_one_by_one(msg_type: str, content: str, platform_msg_id: str) -> bool:
    """Whether an inbound message needs `receive_message` rather than `receive_messages`:
    events, possible rating replies and messages without a platform id."""
    return msg_type == "event" or not platform_msg_id or bool(_RATING.match(content or ""))


def receive_messages(items: list[dict[str, Any]]) -> list[tuple[Message, bool, bool]]:
    """`receive_message` for a batch of plain inbound messages, in a fixed number of queries.

    Each item holds receive_message's keyword arguments, with `customer_id` for `customer`
    (sent_at and platform_msg_id required);
    none may be one `receive_one_by_one` names (ValueError): the caller sends those through
    receive_message, in order. The same conversation rules apply, in the items' order: a message
    joins its user's open or pending conversation or opens one, and a stored platform id is a
    no-op. The caller holds locks that keep other writers off these users (WeChat locks the
    follower rows); a concurrent writer makes a unique index fail here (IntegrityError) and the
    whole batch rolls back. Caller's transaction.

    Returns (message, created, opened) per item: `opened` when the message opened its conversation.
    """
    if not items:
        return []
    for item in items:
        if receive_one_by_one(item["msg_type"], item.get("content", ""), item["platform_msg_id"]):
            raise ValueError(f"message {item['platform_msg_id']!r} needs receive_message")
    by_account: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        by_account.setdefault((item["channel"], item["account"]), []).append(item)
    stored_q, active_q = Q(pk__in=[]), Q(pk__in=[])
    for (channel, account), group in by_account.items():
        # `~Q(platform_msg_id="")` repeats the unique index's condition: PostgreSQL does not
        # infer it from an IN list of over 100 values, and would scan the whole table (0.85 s a
        # batch at 10M messages, 2 ms with it; bench/scaling.py).
        stored_q |= Q(
            ~Q(platform_msg_id=""),
            channel=channel,
            account=account,
            platform_msg_id__in={str(i["platform_msg_id"]) for i in group},
        )
        active_q |= Q(
            channel=channel,
            account=account,
            external_user__in={i["external_user"] for i in group},
        )
    stored = {
        (m.channel, m.account, m.platform_msg_id): m
        for m in Message.objects.filter(stored_q).order_by().select_related("conversation")
    }
    active = {
        (c.channel, c.account, c.external_user): c
        for c in Conversation.objects.filter(
            active_q, kind=Conversation.Kind.SERVICE, status__in=ACTIVE_STATUSES
        ).order_by()
    }
    results: list[tuple[Message, bool, bool]] = []
    new: list[Message] = []
    opened_now: list[Conversation] = []
    touched: dict[int, Conversation] = {}
    for item in items:
        key = (item["channel"], item["account"], str(item["platform_msg_id"]))
        if key in stored:
            results.append((stored[key], False, False))
            continue
        sent_at = item["sent_at"]
        user = (item["channel"], item["account"], item["external_user"])
        conversation = active.get(user)
        opened = conversation is None
        if conversation is None:
            conversation = Conversation(
                channel=item["channel"],
                account=item["account"],
                external_user=item["external_user"],
                customer_id=item["customer_id"],
                opened_at=sent_at,
            )
            active[user] = conversation
            opened_now.append(conversation)
        conversation.status = ConversationStatus.OPEN
        conversation.last_inbound_at = conversation.last_message_at = sent_at
        touched[id(conversation)] = conversation
        message = Message(
            conversation=conversation,
            customer_id=item["customer_id"],
            channel=item["channel"],
            account=item["account"],
            external_user=item["external_user"],
            direction=Direction.IN,
            msg_type=item["msg_type"],
            content=item.get("content") or "",
            media_id=item.get("media_id") or "",
            data=item.get("data") or {},
            platform_msg_id=key[2],
            sent_at=sent_at,
            sender_kind=SenderKind.CUSTOMER,
            delivery_status=DeliveryStatus.RECEIVED,
        )
        stored[key] = message
        new.append(message)
        results.append((message, True, opened))
    Conversation.objects.bulk_create(opened_now)
    opened_ids = {id(c) for c in opened_now}
    earlier = [c for key, c in touched.items() if key not in opened_ids]
    update_rows(earlier, ["status", "last_inbound_at", "last_message_at"])
    for message in new:
        message.conversation = message.conversation  # its id, now that the row exists
    Message.objects.bulk_create(new)
    subject_type = ContentType.objects.get_for_model(Message)
    record_interactions(
        Interaction(
            customer_id=m.customer_id,
            kind=InteractionKind.MESSAGE_IN,
            channel=m.channel,
            occurred_at=m.sent_at,
            summary=m.content or f"[{m.msg_type}]",
            subject_type=subject_type,
            subject_id=str(m.pk),
            data={"conversation": m.conversation_id, "msg_type": m.msg_type},
        )
        for m in new
    )
    return results


def _receive(
    channel,
    account,
    external_user,
    customer,
    msg_type,
    content,
    sent_at,
    platform_msg_id,
    media_id,
    data,
) -> Message:
    fields = {
        "customer": customer,
        "channel": channel,
        "account": account,
        "external_user": external_user,
        "direction": Direction.IN,
        "msg_type": msg_type,
        "content": content or "",
        "media_id": media_id or "",
        "data": data,
        "platform_msg_id": platform_msg_id,
        "sent_at": sent_at,
        "sender_kind": SenderKind.CUSTOMER,
        "delivery_status": DeliveryStatus.RECEIVED,
    }
    conversation = active_conversation(channel, account, external_user)
    if msg_type == "event":
        message = Message.objects.create(conversation=conversation, **fields)
        return message
    if conversation is None:
        rated = _rated_conversation(channel, account, external_user, content, sent_at)
        digit = _RATING.match(content)
        if rated is not None and digit is not None:
            rating = int(digit.group(1))
            message = Message.objects.create(conversation=rated, **fields)
            record_rating(rated, rating, at=sent_at)
            return message
        conversation = Conversation.objects.create(
            channel=channel,
            account=account,
            external_user=external_user,
            customer=customer,
            opened_at=sent_at,
            status=ConversationStatus.OPEN,
        )
    message = Message.objects.create(conversation=conversation, **fields)
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.OPEN, last_inbound_at=sent_at, last_message_at=sent_at
    )
    record_interaction(
        customer,
        InteractionKind.MESSAGE_IN,
        channel,
        occurred_at=sent_at,
        summary=content or f"[{msg_type}]",
        subject=message,
        data={"conversation": conversation.pk, "msg_type": msg_type},
    )
    return message


def record_rating(conversation: Conversation, rating: int, *, at: datetime) -> None:
    """Store the customer's satisfaction rating (1-5) on a conversation. Caller's transaction."""
    if not 1 <= int(rating) <= 5:
        raise InboxError({"rating": _("A rating is a whole number from 1 to 5.")})
    Conversation.objects.filter(pk=conversation.pk).update(rating=int(rating), rated_at=at)
    conversation.rating, conversation.rated_at = int(rating), at
    record_interaction(
        conversation.customer,
        InteractionKind.RATING,
        conversation.channel,
        occurred_at=at,
        summary=f"{'★' * int(rating)} ({rating}/5)",
        data={"conversation": conversation.pk},
    )


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
                Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
                    assignee_id=message.sender_id
                )
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        conversation.refresh_from_db()
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


def reply(
    conversation: Conversation,
    text: str,
    *,
    agent,
    msg_type: str = "text",
    data: dict[str, Any] | None = None,
) -> Message:
    """An agent answers a conversation. Returns the sent message; raises SendError (the message
    is then kept as failed, with the platform's error code, for the agent to see)."""
    text = (text or "").strip()
    if msg_type == "text" and not text:
        raise InboxError({"text": _("Write a reply first.")})
    if conversation.status == ConversationStatus.RESOLVED:
        raise InboxError(
            {"conversation": _("This conversation is resolved; it cannot be answered.")}
        )
    message = record_outbound(
        conversation,
        content=text,
        msg_type=msg_type,
        sender=agent,
        sender_kind=SenderKind.AGENT,
        delivery_status=DeliveryStatus.QUEUED,
        data=data,
    )
    return deliver(message)


def resolve_conversation(
    conversation: Conversation, *, by=None, at: datetime | None = None, send_survey: bool = True
) -> Conversation:
    """Resolve the conversation and send the satisfaction survey (if the channel allows it now).

    Raises InboxError if it is already resolved. A survey that cannot be delivered (the
    customer's window is closed) is stored as failed and does not undo the resolution.
    """
    at = at or timezone.now()
    with transaction.atomic():
        updated = Conversation.objects.filter(
            pk=conversation.pk, status__in=ACTIVE_STATUSES
        ).update(status=ConversationStatus.RESOLVED, resolved_at=at, resolved_by=by)
        if not updated:
            raise InboxError({"conversation": _("This conversation is already resolved.")})
        conversation.refresh_from_db()
    if send_survey and conversation.channel in SENDERS:
        survey = record_outbound(
            conversation,
            content=SURVEY_TEXT,
            sender_kind=SenderKind.SURVEY,
            delivery_status=DeliveryStatus.QUEUED,
        )
        try:
            deliver(survey)
        except SendError as exc:
            logger.info("survey for conversation %s not delivered: %s", conversation.pk, exc)
        else:
            Conversation.objects.filter(pk=conversation.pk).update(survey_sent_at=survey.sent_at)
            conversation.survey_sent_at = survey.sent_at
    return conversation


def mark_survey_sent(conversation: Conversation, *, at: datetime) -> None:
    """Record that a survey went out at `at` (history import, where the send happened elsewhere)."""
    Conversation.objects.filter(pk=conversation.pk).update(survey_sent_at=at)
    conversation.survey_sent_at = at


def assign_conversation(conversation: Conversation, agent, *, by=None) -> Conversation:
    """Give the conversation to an agent (or to nobody with agent=None)."""
    if agent is not None and not (agent.is_active and agent.is_staff):
        raise InboxError(
            {"agent": _("%(name)s is not an active staff member.") % {"name": agent.get_username()}}
        )
    Conversation.objects.filter(pk=conversation.pk).update(assignee=agent)
    conversation.assignee = agent
    return conversation


def open_case(
    *,
    channel: str,
    account: str,
    external_user: str,
    customer: Customer,
    subject=None,
    content: str = "",
    at: datetime | None = None,
    platform_msg_id: str = "",
) -> tuple[Conversation, bool]:
    """Open (or reuse) a complaint case for a public post, with the post as its first message.

    Returns (conversation, created). Atomic; one active case per user and account.
    """
    at = at or timezone.now()
    with transaction.atomic():
        case = active_conversation(channel, account, external_user, Conversation.Kind.COMPLAINT)
        created = case is None
        if created:
            case = Conversation(
                channel=channel,
                account=account,
                external_user=external_user,
                customer=customer,
                kind=Conversation.Kind.COMPLAINT,
                opened_at=at,
                last_inbound_at=at,
                last_message_at=at,
            )
            if subject is not None:
                case.subject_type = ContentType.objects.get_for_model(subject)
                case.subject_id = str(subject.pk)
            case.save()
        assert case is not None
        if content and not (
            platform_msg_id
            and Message.objects.filter(
                channel=channel, account=account, platform_msg_id=platform_msg_id
            ).exists()
        ):
            Message.objects.create(
                conversation=case,
                customer=customer,
                channel=channel,
                account=account,
                external_user=external_user,
                direction=Direction.IN,
                msg_type="mention",
                content=content,
                platform_msg_id=platform_msg_id,
                sent_at=at,
                sender_kind=SenderKind.CUSTOMER,
            )
            Conversation.objects.filter(pk=case.pk).update(
                last_inbound_at=at, last_message_at=at, status=ConversationStatus.OPEN
            )
    return case, created


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
