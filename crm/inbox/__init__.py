"""The shared inbox: conversation rules and sending, for every private channel.

Rules (DESIGN.md section 5):
- A conversation opens with a user's first inbound message (not an event) while the user has no
  open or pending conversation on that account. It ends when an agent resolves it.
- A message after resolution opens a new conversation, except a rating reply: a lone digit 1-5
  within 24 hours after the satisfaction survey was sent, which records the rating instead.
- A human response is a message an agent sent; auto-replies, welcome messages and surveys are not.

Sending goes through the sender each channel app registers (`register_sender`); crm imports no
channel app. A sender is `func(message) -> platform_msg_id` and raises `SendError` on failure.

The package's modules: `receiving` (messages in, conversations opened and rated), `sending` (the
registered senders, outbound messages stored then delivered), `agents` (reply, assign, resolve,
open a case), `routing` (teams, presence, automatic assignment, transfers), `sla` (SLA
clocks and breaches), and the staff pages `pages` and `teams` with their `urls`. What other apps use is imported
here.
"""

from .agents import (
    assign_conversation,
    mark_survey_sent,
    open_case,
    reply,
    resolve_conversation,
)
from .common import RATING_WINDOW, SURVEY_TEXT, InboxError, SendError
from .receiving import (
    active_conversation,
    receive_message,
    receive_messages,
    receive_one_by_one,
    record_rating,
)
from .routing import (
    assign_in_team,
    heartbeat,
    register_tier_lookup,
    route_new_conversation,
    route_new_conversations,
    route_waiting,
    set_presence,
    transfer_conversation,
)
from .sending import (
    ADDRESS_RESOLVERS,
    SENDERS,
    deliver,
    record_outbound,
    register_sender,
    send_to_customer,
)

__all__ = [
    "assign_in_team",
    "heartbeat",
    "register_tier_lookup",
    "route_new_conversation",
    "route_new_conversations",
    "route_waiting",
    "set_presence",
    "transfer_conversation",
    "ADDRESS_RESOLVERS",
    "RATING_WINDOW",
    "SENDERS",
    "SURVEY_TEXT",
    "InboxError",
    "SendError",
    "active_conversation",
    "assign_conversation",
    "deliver",
    "mark_survey_sent",
    "open_case",
    "receive_message",
    "receive_messages",
    "receive_one_by_one",
    "record_outbound",
    "record_rating",
    "register_sender",
    "reply",
    "resolve_conversation",
    "send_to_customer",
]
