"""Receiving: the conversation a message belongs to, opened or continued, and rating replies."""

import logging
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import live
from ..actions import record_interaction, record_interactions
from ..bulk import placeholders, update_rows
from ..models import (
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
from .common import RATING_REPLY, RATING_WINDOW, InboxError, conversations_opened
from .sla import on_customer_messages

logger = logging.getLogger(__name__)


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
    if not RATING_REPLY.match(content or ""):
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

    args = (
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
    )
    try:
        with transaction.atomic():
            return _receive(*args), True
    except IntegrityError:
        # A concurrent delivery stored the same message, or opened the conversation first.
        if platform_msg_id:
            existing = _stored(lookup)
            if existing:
                return existing, False
        with transaction.atomic():
            return _receive(*args), True


def receive_one_by_one(msg_type: str, content: str, platform_msg_id: str) -> bool:
    """Whether an inbound message needs `receive_message` rather than `receive_messages`:
    events, possible rating replies and messages without a platform id."""
    return msg_type == "event" or not platform_msg_id or bool(RATING_REPLY.match(content or ""))


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
    stored = _stored_messages(by_account)
    active = _active_conversations(by_account)
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
    live.emit("message", *new)
    first_words = {}
    for m in reversed(new):
        first_words[m.conversation_id] = m.content
    # Teams, SLA clocks, agents (crm.inbox.routing); the next-response clocks of the others.
    conversations_opened([(c, first_words.get(c.pk, "")) for c in opened_now])
    opened_pks = {c.pk for c in opened_now}
    on_customer_messages(
        [(m.conversation_id, m.sent_at) for m in new if m.conversation_id not in opened_pks]
    )
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


# Two reads of every batch, in SQL written once: the ORM built each statement again per batch,
# about 1 ms of a worker's CPU apiece, while the drain's batches under live load hold ~10
# pushes (bench/live_inbox.py).
_STORED_SQL = (
    "SELECT id FROM crm_message WHERE NOT platform_msg_id = '' AND channel = %s AND account = %s"
    " AND platform_msg_id IN ({})"
)
_ACTIVE_SQL = (
    "SELECT * FROM crm_conversation WHERE channel = %s AND account = %s"
    " AND external_user IN ({}) AND kind = %s AND status IN ({})"
)


def _stored_messages(by_account: dict) -> dict[tuple[str, str, str], Message]:
    """The messages already stored among the items, by (channel, account, platform id): one
    query for their ids (none is the rule), the rows only for those found."""
    found: list[int] = []
    with connection.cursor() as cursor:
        # `NOT platform_msg_id = ''` repeats the unique index's condition: PostgreSQL does not
        # infer it from a list of over 100 values, and would scan the whole table (0.85 s a
        # batch at 10M messages, 2 ms with it; bench/scaling.py).
        for (channel, account), group in by_account.items():
            ids = sorted({str(i["platform_msg_id"]) for i in group})
            cursor.execute(_STORED_SQL.format(placeholders(ids)), [channel, account, *ids])
            found += [row[0] for row in cursor.fetchall()]
    if not found:
        return {}
    return {
        (m.channel, m.account, m.platform_msg_id): m
        for m in Message.objects.filter(pk__in=found).select_related("conversation")
    }


def _active_conversations(by_account: dict) -> dict[tuple[str, str, str], Conversation]:
    """The open or pending service conversations of the items' users, by (channel, account,
    external user)."""
    active: dict[tuple[str, str, str], Conversation] = {}
    for (channel, account), group in by_account.items():
        users = sorted({i["external_user"] for i in group})
        statuses = [str(status) for status in ACTIVE_STATUSES]
        sql = _ACTIVE_SQL.format(placeholders(users), placeholders(statuses))
        params = [channel, account, *users, str(Conversation.Kind.SERVICE), *statuses]
        for c in Conversation.objects.raw(sql, params):
            active[(c.channel, c.account, c.external_user)] = c
    return active


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
    opened = False
    if msg_type == "event":
        message = Message.objects.create(conversation=conversation, **fields)
        return message
    if conversation is None:
        rated = _rated_conversation(channel, account, external_user, content, sent_at)
        digit = RATING_REPLY.match(content)
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
        opened = True
    message = Message.objects.create(conversation=conversation, **fields)
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.OPEN, last_inbound_at=sent_at, last_message_at=sent_at
    )
    live.emit("message", message)
    if opened:  # teams, SLA clocks, agents (crm.inbox.routing)
        conversations_opened([(conversation, content)])
    else:
        on_customer_messages([(conversation.pk, sent_at)])
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
