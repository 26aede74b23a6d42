"""Migration 0017's backfill: handoffs claimed before `Handoff.used_via` existed take it from
their first applied claim's timeline entry (`data.via`); unclaimed ones stay blank."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from crm.models import Handoff, Interaction

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("crm.migrations.0017_handoff_used_via").backfill


def _handoff(n: int, *, used: bool) -> Handoff:
    now = timezone.now()
    return Handoff.objects.create(
        customer=CustomerFactory(),
        weibo_uid=f"70000000{n}",
        purpose="lead",
        token_hash=str(n) * 64,
        expires_at=now + timedelta(days=1),
        used_at=now if used else None,
    )


def _entry(handoff: Handoff, via: str | None, *, applied: bool, minutes: int) -> None:
    data = {"handoff": handoff.pk, "applied": applied, "reason": "" if applied else "expired"}
    if via is not None:
        data["via"] = via
    Interaction.objects.create(
        customer=handoff.customer,
        kind="other",
        channel="wechat",
        occurred_at=timezone.now() + timedelta(minutes=minutes),
        summary="handoff",
        data=data,
    )


def test_the_first_applied_claim_says_how_each_handoff_was_used():
    by_oauth, by_qr, then_again, old_entry, unused = (_handoff(n, used=n != 5) for n in range(1, 6))
    _entry(by_oauth, "oauth", applied=False, minutes=0)  # refused first: does not count
    _entry(by_oauth, "oauth", applied=True, minutes=1)
    _entry(by_qr, "qr", applied=True, minutes=0)
    _entry(then_again, "qr", applied=True, minutes=0)
    _entry(then_again, "oauth", applied=True, minutes=5)  # the same follower again, later
    _entry(old_entry, None, applied=True, minutes=0)  # before `via` was recorded: a scan
    _entry(unused, "oauth", applied=False, minutes=0)

    backfill(apps, None)

    assert dict(Handoff.objects.values_list("pk", "used_via")) == {
        by_oauth.pk: "oauth",
        by_qr.pk: "qr",
        then_again.pk: "qr",
        old_entry.pk: "qr",
        unused.pk: "",
    }
