"""crm.bulk.update_rows writes what bulk_update writes, in one statement."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.bulk import update_rows
from crm.models import Conversation, Customer

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def test_update_rows_writes_each_objects_values_nulls_and_foreign_keys_included():
    first, second = Customer.objects.create(name="王芳"), Customer.objects.create(name="李雷")
    rows = [
        Conversation.objects.create(
            channel="wechat", account="wx1", external_user=f"o{i}", customer=first, opened_at=T0
        )
        for i in range(3)
    ]
    rows[0].status, rows[0].last_message_at = "pending", T0 + dt.timedelta(minutes=5)
    rows[1].customer, rows[1].last_message_at = second, None
    rows[2].status, rows[2].rating = "resolved", 4

    with CaptureQueriesContext(connection) as queries:
        written = update_rows(rows, ["status", "last_message_at", "customer", "rating"])

    assert written == 3
    assert len(queries) == 1
    stored = {
        c.external_user: (c.status, c.last_message_at, c.customer_id, c.rating)
        for c in Conversation.objects.all()
    }
    assert stored == {
        "o0": ("pending", T0 + dt.timedelta(minutes=5), first.pk, None),
        "o1": ("open", None, second.pk, None),
        "o2": ("resolved", None, first.pk, 4),
    }


def test_update_rows_of_nothing_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert update_rows([], ["status"]) == 0
    assert len(queries) == 0
