from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.actions import LeadRequest, advance_stage, create_lead, create_leads, mark_customer_paid
from crm.models import Customer, Interaction, Lead, Note, Segment
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


def _lead_rows():
    """Leads (their source note and origin segment by content), timeline and stages."""
    notes = dict(Note.objects.values_list("pk", "body"))
    segments = dict(Segment.objects.values_list("pk", "name"))
    leads = [
        (name, title, channel, notes[int(source)], segments.get(int(origin or 0)), at)
        for name, title, channel, source, origin, at in Lead.objects.order_by("pk").values_list(
            "customer__name", "title", "source_channel", "source_id", "origin_id", "created_at"
        )
    ]
    timeline = Interaction.objects.order_by("pk").values_list(
        "customer__name", "kind", "channel", "occurred_at", "summary", "data"
    )
    stages = Customer.objects.order_by("name").values_list("name", "stage")
    return leads, list(timeline), list(stages)


def _lead_scenario():
    """Customers, notes as lead sources, and one lead already there."""
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    wang, li = CustomerFactory(name="王芳"), CustomerFactory(name="李雷", stage="customer")
    zhang = CustomerFactory(name="张伟", stage="follower")
    notes = [Note.objects.create(customer=wang, body=f"求链接{i}") for i in range(3)]
    origin = Segment.objects.create(name="求购")
    create_lead(wang, "已有", source_channel="weibo", source=notes[2], at=at)
    Interaction.objects.all().delete()  # only what the scenario's calls write is compared
    requests = [
        LeadRequest(wang.pk, "购买意向：求链接0", notes[0], origin, at + timedelta(minutes=1)),
        LeadRequest(li.pk, "购买意向：多少钱", notes[1], origin, at + timedelta(minutes=2)),
        LeadRequest(wang.pk, "购买意向：求链接0", notes[0], origin, at + timedelta(minutes=3)),
        LeadRequest(wang.pk, "购买意向：还有吗", notes[1], None, at + timedelta(minutes=4)),
        LeadRequest(wang.pk, "已有", notes[2], origin, at + timedelta(minutes=5)),
        LeadRequest(zhang.pk, "购买意向：在哪买", notes[0], origin, at + timedelta(minutes=6)),
    ]
    return requests


def test_create_leads_writes_what_create_lead_writes_one_by_one(db, marketing_user):
    make_staff("mkt2", "marketing")
    requests = _lead_scenario()
    for request in requests:
        create_lead(
            Customer.objects.get(pk=request.customer_id),
            request.title,
            source_channel="weibo",
            source=request.source,
            origin=request.origin,
            at=request.at,
        )
    one_by_one = _lead_rows()
    Lead.objects.all().delete()
    Interaction.objects.all().delete()
    Note.objects.all().delete()
    Segment.objects.all().delete()
    Customer.objects.all().delete()

    created = create_leads(_lead_scenario(), source_channel="weibo")

    assert _lead_rows() == one_by_one
    assert [lead.title for lead in created] == [
        "购买意向：求链接0",
        "购买意向：多少钱",
        "购买意向：还有吗",
        "购买意向：在哪买",
    ]
    # The customer who paid stays where they are; 张伟 moves, and it is on his timeline.
    assert one_by_one[2] == [("张伟", "lead"), ("李雷", "customer"), ("王芳", "lead")]
    assert [row[:2] for row in one_by_one[1]] == [
        ("王芳", "lead"),
        ("李雷", "lead"),
        ("王芳", "lead"),
        ("张伟", "stage_change"),
        ("张伟", "lead"),
    ]


def test_create_leads_gives_owners_in_turn_in_a_fixed_number_of_queries(db, marketing_user):
    second = make_staff("mkt2", "marketing")
    # Owned by marketing_user; from a source, as the batch's are, so what a Weibo lead's
    # campaign credit looks up once per process (content types) is cached before counting.
    create_lead(
        CustomerFactory(),
        "上一条",
        source_channel="weibo",
        source=Segment.objects.create(name="上一条"),
    )
    at = timezone.now()

    def requests(count):
        return [
            LeadRequest(
                CustomerFactory().pk,
                f"询价{i}",
                Segment.objects.create(name=f"{count}-{i}"),
                None,
                at,
            )
            for i in range(count)
        ]

    few, many = requests(2), requests(20)
    counts = []
    for batch in (few, many):
        with CaptureQueriesContext(connection) as queries:
            create_leads(batch, source_channel="weibo")
        counts.append(len(queries))

    assert counts[0] == counts[1]
    owners = [
        lead.owner_id for lead in Lead.objects.filter(title__startswith="询价").order_by("pk")
    ]
    assert owners[:4] == [second.pk, marketing_user.pk, second.pk, marketing_user.pk]
    assert len(owners) == 22
