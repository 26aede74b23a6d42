"""Periodic jobs of the crm app. Tasks are thin wrappers around plain functions."""

from celery import shared_task
from django.core.exceptions import ValidationError
from django.utils import timezone

from .filtersets import segment_customers
from .models import Segment


def refresh_segment_counts() -> int:
    """Re-run every segment and store its current member count. Returns segments counted."""
    count = 0
    for segment in Segment.objects.all():
        try:
            segment.member_count = segment_customers(segment).count()
        except ValidationError:  # its filter names a tag that was deleted since
            continue
        segment.counted_at = timezone.now()
        segment.save(update_fields=["member_count", "counted_at"])
        count += 1
    return count


@shared_task
def refresh_segment_counts_task() -> int:
    return refresh_segment_counts()


@shared_task
def sweep_raw_deliveries_task() -> int:
    """Re-enqueue raw webhook deliveries that were stored but not processed."""
    from .ingestion import sweep_raw_deliveries

    return sweep_raw_deliveries()


@shared_task
def drain_raw_deliveries_task(source: str, slot: int = 0) -> int:
    """Process the pending raw deliveries of a batch-capable source (see crm.ingestion)."""
    from .ingestion import drain

    return drain(source, slot=slot)


@shared_task
def journey_tick_task() -> dict[str, int]:
    """Move customers through the active journeys (Celery beat, every minute)."""
    from .journeys.engine import run_tick

    return run_tick()


@shared_task
def check_sla_breaches_task() -> int:
    """Record the SLA breaches whose due time has passed (crm.inbox.sla), every minute."""
    from .inbox.sla import check_breaches

    return check_breaches()


@shared_task
def expire_presence_task() -> dict[str, int]:
    """Agents whose inbox page stopped its heartbeat go offline; their teams' queues move
    (crm.inbox.routing.expire_presence)."""
    from .inbox.routing import expire_presence

    return expire_presence()


@shared_task
def prune_inbox_events_task() -> int:
    """Delete the live inbox events older than INBOX_EVENT_RETENTION_HOURS (crm.live), hourly."""
    from .live import prune_events

    return prune_events()
