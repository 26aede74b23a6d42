"""Journeys (automation): enrolment on triggers, the step registry, the Celery-beat tick.

Apps call `enroll(trigger, items)` where the trigger happens (a tag added, a lead created, an
order paid, a follow through a channel code) and register their conditions, actions and
scanners (`crm.journeys.registry`). `crm.journeys.engine.run_tick` moves customers along.
"""

from .enroll import enroll
from .registry import register_action, register_condition, register_scanner

__all__ = ["enroll", "register_action", "register_condition", "register_scanner"]
