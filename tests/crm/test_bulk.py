"""crm.bulk: update_rows writes what bulk_update writes, in one statement; upsert_rows inserts
and merges rows given in column form, JSON documents included, refusing what does not fit."""

import datetime as dt

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.bulk import update_rows, upsert_rows
from crm.models import Conversation, Customer, Segment

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


SEGMENT = ["name", "description", "filters", "member_count", "counted_at", "created_at"]


def test_upsert_rows_inserts_in_order_and_merges_conflicts_as_told():
    later = T0 + dt.timedelta(hours=1)
    first = upsert_rows(
        Segment,
        SEGMENT,
        [("高潜力", "求链接的人", {}, 10, None, T0), ("老会员", "", {}, 20, T0, T0)],
        unique="name",
        update=["member_count", "counted_at"],
        returning=["name", "member_count"],
    )
    second = upsert_rows(
        Segment,
        SEGMENT,
        [("新客", "", {}, 30, later, later), ("高潜力", "改过", {}, 11, later.isoformat(), later)],
        unique="name",
        update=["description", "member_count", "counted_at"],
        merge={"member_count": "GREATEST({old}, {new}) + 100"},
        returning=["name", "member_count"],
    )

    assert first == [("高潜力", 10), ("老会员", 20)]
    assert second == [("新客", 30), ("高潜力", 111)]
    stored = {
        s.name: (s.description, s.member_count, s.counted_at, s.created_at)
        for s in Segment.objects.all()
    }
    assert stored == {
        "高潜力": ("改过", 111, later, T0),
        "老会员": ("", 20, T0, T0),
        "新客": ("", 30, later, later),
    }


def test_upsert_rows_stores_json_fields_as_documents_not_text():
    filters = {"tag": '引号"和\\反斜杠', "stage": ["lead", "customer"], "min_points": 2.5}
    upsert_rows(Segment, SEGMENT, [("高潜力", "", filters, 0, None, T0)], returning=["id"])

    assert Segment.objects.get().filters == filters
    assert Segment.objects.filter(filters__stage__contains=["lead"]).count() == 1


def test_upsert_rows_refuses_a_value_too_long_instead_of_cutting_it():
    too_long = "名" * (Segment._meta.get_field("name").max_length + 1)
    with pytest.raises(DataError, match="value too long for type character varying"):
        with transaction.atomic():
            upsert_rows(Segment, SEGMENT, [(too_long, "", {}, 0, None, T0)], returning=["id"])
    assert Segment.objects.count() == 0


def test_upsert_rows_of_nothing_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert upsert_rows(Customer, ["name"], [], returning=["id"]) == []
    assert len(queries) == 0


def test_upsert_rows_can_skip_rows_that_break_a_unique_constraint():
    upsert_rows(Segment, SEGMENT, [("高潜力", "旧", {}, 1, None, T0)])

    returned = upsert_rows(
        Segment,
        SEGMENT,
        [("高潜力", "新", {}, 2, None, T0), ("老会员", "", {}, 3, None, T0)],
        returning=["name"],
        skip_conflicts=True,
    )

    assert returned == [("老会员",)]
    assert list(Segment.objects.order_by("name").values_list("name", "description")) == [
        ("老会员", ""),
        ("高潜力", "旧"),
    ]
