"""Periodic jobs of the crm app. Tasks are thin wrappers around plain functions."""

from celery import shared_task
from django.utils import timezone

from .models import Segment


def refresh_segment_counts() -> int:
    """Re-run every segment and store its current member count. Returns segments counted."""
    count = 0
    for segment in Segment.objects.all():
        segment.member_count = segment.customers().count()
        segment.counted_at = timezone.now()
        segment.save(update_fields=["member_count", "counted_at"])
        count += 1
    return count


@shared_task
def refresh_segment_counts_task() -> int:
    return refresh_segment_counts()
