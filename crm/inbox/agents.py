"""What agents do in a conversation: reply, assign, resolve (the survey), open a complaint case."""

import logging
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import live
from ..models import (
    ACTIVE_STATUSES,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Message,
    SenderKind,
)
from .common import SURVEY_TEXT, InboxError, SendError, conversations_opened
from .receiving import active_conversation
from .sending import SENDERS, deliver, record_outbound
from .sla import on_resolved

logger = logging.getLogger(__name__)


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
        on_resolved(conversation.pk, at)  # the SLA resolution target
        conversation.refresh_from_db()
        live.emit("status", conversation, by=by)
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


def assign_conversation(conversation: Conversation, agent, *, by=None, team=None) -> Conversation:
    """Give the conversation to an agent (or to nobody with agent=None); with `team`, also place
    it in that team in the same write (routing places and assigns a new conversation at once).
    Raises InboxError for an agent who is not active staff (nothing is written then)."""
    if agent is not None and not (agent.is_active and agent.is_staff):
        raise InboxError(
            {"agent": _("%(name)s is not an active staff member.") % {"name": agent.get_username()}}
        )
    changes = {"assignee": agent} if team is None else {"assignee": agent, "team": team}
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    conversation.assignee = agent
    if team is not None:
        conversation.team = team
    live.emit("assigned", conversation, by=by)
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

    Returns (conversation, created). Atomic; one active case per user and account. The open
    inbox pages hear of it (crm.live): a "message" event for the post, or a "status" event for a
    case opened without one.
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
            conversations_opened([(case, content)])  # teams, SLA clocks, agents (crm.inbox.routing)
        assert case is not None
        if content and not (
            platform_msg_id
            and Message.objects.filter(
                channel=channel, account=account, platform_msg_id=platform_msg_id
            ).exists()
        ):
            mention = Message.objects.create(
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
            live.emit("message", mention)  # the open inbox pages show the case, as a message's
        elif created:
            live.emit("status", case)
    return case, created
