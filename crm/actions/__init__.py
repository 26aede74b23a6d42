"""Writes that touch several models. Each function owns its transaction.

Channel apps call these to put things on a customer's record; they never write crm rows
themselves. Every function here is safe to call twice with the same subject (idempotent).

The package's API is the names below; by topic: `timeline` (events and stage moves, the base the
others write through), `customers` (a person's edits, notes, tags), `leads` (opening, editing and
converting leads) and `merge` (merging two customers).
"""

from .customers import (
    CUSTOMER_EDITABLE,
    CUSTOMER_EDITABLE_FIELDS,
    add_note,
    attach_tags,
    create_customer,
    set_marketing_consent,
    tag_customer_by_name,
    tag_customers,
    update_customer,
)
from .handoff import (
    HANDOFF_REASONS,
    claim_handoff,
    claim_handoff_by_oauth,
    handoff_for_token,
    issue_handoff,
    mark_handoff_sent,
    record_handoff_failure,
    set_handoff_scene,
)
from .leads import (
    LEAD_DETAILS,
    LEAD_EDITABLE,
    MARKETING_GROUP,
    LeadRequest,
    convert_open_leads,
    create_lead,
    create_leads,
    delete_leads,
    mark_customer_member,
    mark_customer_paid,
    next_lead_owner,
    update_lead,
)
from .merge import MERGE_HANDLERS, MergeError, merge_customers, register_merge_handler
from .timeline import (
    TIMELINE_FIELDS,
    advance_stage,
    record_interaction,
    record_interactions,
    set_stage,
)

__all__ = [
    "HANDOFF_REASONS",
    "claim_handoff",
    "claim_handoff_by_oauth",
    "handoff_for_token",
    "issue_handoff",
    "mark_handoff_sent",
    "record_handoff_failure",
    "set_handoff_scene",
    "TIMELINE_FIELDS",
    "CUSTOMER_EDITABLE",
    "CUSTOMER_EDITABLE_FIELDS",
    "LEAD_DETAILS",
    "LEAD_EDITABLE",
    "MARKETING_GROUP",
    "MERGE_HANDLERS",
    "LeadRequest",
    "MergeError",
    "add_note",
    "advance_stage",
    "attach_tags",
    "create_customer",
    "convert_open_leads",
    "create_lead",
    "create_leads",
    "delete_leads",
    "mark_customer_member",
    "mark_customer_paid",
    "merge_customers",
    "next_lead_owner",
    "record_interaction",
    "record_interactions",
    "set_marketing_consent",
    "register_merge_handler",
    "set_stage",
    "tag_customer_by_name",
    "tag_customers",
    "update_customer",
    "update_lead",
]
