from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from crm.actions import advance_stage, create_lead, mark_customer_paid
from crm.models import Lead, Segment
from crm.tasks import refresh_segment_counts
from tests.conftest import make_staff

from .factories import CustomerFactory, TagFactory


def test_creating_lead_moves_customer_to_lead_and_assigns_round_robin(api, marketing_user):
    second = make_staff("mkt2", "marketing")
    owners = []
    for _ in range(3):
        customer = CustomerFactory()
        response = api.post(
            "/api/v1/leads/",
            {"customer": customer.pk, "title": "询价", "source_channel": "weibo"},
            format="json",
        )
        assert response.status_code == 201, response.content
        owners.append(response.json()["owner"])
        customer.refresh_from_db()
        assert customer.stage == "lead"
    assert owners == [marketing_user.pk, second.pk, marketing_user.pk]


def test_lost_lead_needs_reason(api):
    lead, _ = create_lead(CustomerFactory(), "x", source_channel="weibo")
    response = api.patch(
        f"/api/v1/leads/{lead.pk}/", {"status": "lost"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == {"lost_reason": ["A lost lead needs a lost reason."]}
    lead.refresh_from_db()
    assert lead.status == "new"
    ok = api.patch(
        f"/api/v1/leads/{lead.pk}/", {"status": "lost", "lost_reason": "competitor"}, format="json"
    )
    assert ok.status_code == 200


def test_stage_moves_only_forward_automatically(db):
    customer = CustomerFactory(stage="customer")
    assert advance_stage(customer, "lead") is False
    customer.refresh_from_db()
    assert customer.stage == "customer"


def test_lead_converts_on_first_payment_after_it_was_created(db):
    customer = CustomerFactory()
    now = timezone.now()
    lead, _ = create_lead(customer, "x", source_channel="weibo", at=now - timedelta(days=1))
    later_lead, _ = create_lead(customer, "y", source_channel="wechat", at=now + timedelta(days=1))
    mark_customer_paid(customer, at=now)
    lead.refresh_from_db()
    later_lead.refresh_from_db()
    customer.refresh_from_db()
    assert (lead.status, lead.converted_at) == ("converted", now)
    assert later_lead.status == "new"
    assert customer.stage == "customer"


def test_lead_is_idempotent_per_source(db):
    customer = CustomerFactory()
    post = User.objects.create(username="source-object")  # any model instance can be a source
    first, created = create_lead(customer, "x", source_channel="weibo", source=post)
    again, created_again = create_lead(customer, "x", source_channel="weibo", source=post)
    assert (created, created_again, first.pk) == (True, False, again.pk)
    assert Lead.objects.count() == 1


def test_segment_rejects_unknown_filter_field(api):
    response = api.post(
        "/api/v1/segments/",
        {"name": "坏", "filters": {"colour": "red"}},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    message = response.json()["filters"][0]
    assert message.startswith("Unknown filter field: colour. Allowed: q, stage, tag, ")
    assert Segment.objects.count() == 0


def test_segment_rejects_invalid_filter_value(api):
    response = api.post(
        "/api/v1/segments/",
        {"name": "坏", "filters": {"stage": ["boss"]}},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {
        "filters": ["stage: Select a valid choice. boss is not one of the available choices."]
    }
    assert Segment.objects.count() == 0


def test_segment_is_rerun_when_read(api):
    TagFactory(name="VIP")
    response = api.post(
        "/api/v1/segments/",
        {"name": "上海VIP", "filters": {"city": "上海", "tag": ["VIP"]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    segment_id = response.json()["id"]
    first = CustomerFactory(city="上海")
    first.tags.add(*TagFactory._meta.model.objects.filter(name="VIP"))
    assert [
        c["id"] for c in api.get(f"/api/v1/segments/{segment_id}/customers/").json()["results"]
    ] == [first.pk]
    second = CustomerFactory(city="上海")
    second.tags.add(*TagFactory._meta.model.objects.filter(name="VIP"))
    CustomerFactory(city="上海")
    ids = [c["id"] for c in api.get(f"/api/v1/segments/{segment_id}/customers/").json()["results"]]
    assert sorted(ids) == sorted([first.pk, second.pk])
    assert refresh_segment_counts() == 1
    assert Segment.objects.get().member_count == 2
