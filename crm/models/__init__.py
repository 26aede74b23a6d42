"""crm models, split by topic: the customer record, the shared inbox, raw webhook deliveries."""

from .audit import AuditAction, AuditEntry  # noqa: F401
from .customers import *  # noqa: F403
from .customers import (  # noqa: F401
    OPEN_LEAD_STATUSES,
    Channel,
    Customer,
    CustomerKey,
    CustomerQuerySet,
    Gender,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    LostReason,
    MergeRecord,
    Note,
    Segment,
    Stage,
    Tag,
    normalize_email,
    normalize_phone,
)
from .handoff import Handoff  # noqa: F401
from .hours import BusinessHours, HolidayException, schedule_for  # noqa: F401
from .imports import CustomerImport  # noqa: F401, E402
from .inbox import (  # noqa: F401
    ACTIVE_STATUSES,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Message,
    SenderKind,
)
from .journeys import (  # noqa: F401
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    JourneyStep,
    JourneyStepRun,
    JourneyTrigger,
    StepKind,
    StepRunStatus,
)
from .labels import ConversationLabel, ConversationLabelling  # noqa: F401, E402
from .links import LinkClick  # noqa: F401
from .live import ConversationRead, InboxEvent  # noqa: F401
from .media import MediaKind, MediaStatus, MessageMedia  # noqa: F401
from .notes import NOTE_MAX_LENGTH, ConversationNote  # noqa: F401, E402
from .notifications import Notification  # noqa: F401, E402
from .raw import RawDelivery  # noqa: F401
from .sla import SlaBreach, SlaClock, SlaPolicy, SlaTarget  # noqa: F401
from .teams import (  # noqa: F401  # noqa: F401
    AgentPresence,
    ConversationTransfer,
    Presence,
    RoutingRule,
    Team,
    TeamMembership,
    message_team_scope,
    sees_every_team,
    team_scope,
)
