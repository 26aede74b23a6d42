import pytest
from django.contrib.contenttypes.models import ContentType

from crm.actions import add_note, create_lead, merge_customers, record_interaction
from crm.identity import resolve_customer
from crm.inbox import receive_message
from crm.models import (
    Conversation,
    Customer,
    CustomerKey,
    Interaction,
    Lead,
    MergeRecord,
    Message,
    Note,
    Tag,
)

from .factories import CustomerFactory, TagFactory


@pytest.fixture
def pair(db):
    target = CustomerFactory(name="王芳", city="上海", phone="13800000001")
    source = CustomerFactory(name="王芳芳", email="wf@example.com", city="北京", stage="lead")
    return source, target


def everything_of(customer):
    return {
        "interactions": set(
            Interaction.objects.filter(customer=customer).values_list("pk", flat=True)
        ),
        "leads": set(Lead.objects.filter(customer=customer).values_list("pk", flat=True)),
        "notes": set(Note.objects.filter(customer=customer).values_list("pk", flat=True)),
        "keys": set(CustomerKey.objects.filter(customer=customer).values_list("pk", flat=True)),
        "conversations": set(
            Conversation.objects.filter(customer=customer).values_list("pk", flat=True)
        ),
        "messages": set(Message.objects.filter(customer=customer).values_list("pk", flat=True)),
        "tags": set(customer.tags.values_list("pk", flat=True)),
    }


def test_merge_moves_everything_and_loses_nothing(pair, marketing_user):
    source, target = pair
    vip, complaint = TagFactory(name="VIP"), TagFactory(name="投诉")
    source.tags.add(vip, complaint)
    target.tags.add(vip)
    record_interaction(source, "mention", "weibo", summary="@品牌 好用")
    lead, _ = create_lead(source, "想买礼盒", source_channel="weibo")
    add_note(source, "周末联系")
    resolve_customer(channel="wechat", keys={"unionid": "u-src"}, customer=source)
    receive_message(
        channel="wechat",
        account="wxapp",
        external_user="o-1",
        customer=source,
        msg_type="text",
        content="你好",
        platform_msg_id="m1",
    )
    before_source, before_target = everything_of(source), everything_of(target)

    record = merge_customers(source, target, by=marketing_user)

    after_target = everything_of(target)
    for key in before_source:
        assert after_target[key] >= before_source[key] | before_target[key], key
    assert everything_of(source) == {k: set() for k in before_source}
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.merged_into_id == target.pk
    # The target keeps its own values and takes what it lacked; the later stage wins.
    assert (target.name, target.city, target.email, target.phone, target.stage) == (
        "王芳",
        "上海",
        "wf@example.com",
        "13800000001",
        "lead",
    )
    assert record.moved["crm.Lead"] == [str(lead.pk)]
    assert sorted(record.moved["crm.Tag"]) == sorted([str(vip.pk), str(complaint.pk)])
    assert record.moved["crm.Conversation"] == [str(Conversation.objects.get().pk)]
    assert record.snapshot["name"] == "王芳芳" and record.snapshot["city"] == "北京"
    assert sorted(record.snapshot["tags"]) == ["VIP", "投诉"]
    assert Interaction.objects.filter(customer=target, kind="merge").count() == 1
    assert Tag.objects.count() == 2


def test_merge_repoints_customers_previously_merged_into_source(pair):
    source, target = pair
    older_dup = CustomerFactory(name="旧")
    merge_customers(older_dup, source)
    merge_customers(source, target)
    older_dup.refresh_from_db()
    assert older_dup.merged_into_id == target.pk


def test_merge_keeps_earlier_first_touch(db):
    from datetime import timedelta

    from django.utils import timezone

    early = CustomerFactory(first_channel="weibo", created_at=timezone.now() - timedelta(days=9))
    late = CustomerFactory(first_channel="wechat")
    merge_customers(early, late)
    late.refresh_from_db()
    assert (late.first_channel, late.created_at) == ("weibo", early.created_at)


def test_merge_via_api(pair, api):
    source, target = pair
    response = api.post(
        f"/api/v1/customers/{target.pk}/merge/", {"source": source.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["source"] == source.pk and response.json()["target"] == target.pk
    listed = api.get("/api/v1/customers/").json()
    assert [c["id"] for c in listed["results"]] == [target.pk]


def test_rejects_merging_customer_into_itself(pair, api):
    _, target = pair
    response = api.post(
        f"/api/v1/customers/{target.pk}/merge/",
        {"source": target.pk},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"source": ["A customer cannot be merged into itself."]}
    assert MergeRecord.objects.count() == 0


def test_rejects_merging_already_merged_customer(pair, api):
    source, target = pair
    other = CustomerFactory()
    merge_customers(source, other)
    count = Interaction.objects.count()
    response = api.post(
        f"/api/v1/customers/{target.pk}/merge/",
        {"source": source.pk},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {
        "source": [f"Customer #{source.pk} was already merged into #{other.pk}."]
    }
    assert MergeRecord.objects.count() == 1
    assert Interaction.objects.count() == count


def test_rejects_merging_into_merged_customer(pair, api):
    source, target = pair
    merge_customers(target, CustomerFactory())
    response = api.post(
        f"/api/v1/customers/{target.pk}/merge/",
        {"source": source.pk},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 404  # merged customers are not listed or addressable for merge
    source.refresh_from_db()
    assert source.merged_into_id is None


def test_merge_error_message_in_chinese_by_default(pair, api):
    _, target = pair
    response = api.post(
        f"/api/v1/customers/{target.pk}/merge/", {"source": target.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"source": ["客户不能合并到自己。"]}


def test_merge_moves_rows_of_any_model_pointing_at_customer(pair):
    # Channel apps attach through a ForeignKey; the merge walks every relation generically.
    source, target = pair
    related = {r.related_model._meta.label for r in Customer._meta.related_objects}
    assert {
        "crm.Interaction",
        "crm.Lead",
        "crm.Note",
        "crm.CustomerKey",
        "crm.Conversation",
        "crm.Message",
    } <= related
    assert ContentType.objects.get_for_model(Customer).model == "customer"


def test_automatic_merge_on_a_shared_unionid_keeps_a_withdrawal(db):
    # Identity resolution merges through merge_customers: consent is ANDed there too.
    older = CustomerFactory(consent_marketing=True)
    newer = CustomerFactory(consent_marketing=False)
    CustomerKey.objects.create(kind="unionid", value="u-shared", customer=older)
    survivor = resolve_customer(channel="wechat", keys={"unionid": "u-shared"}, customer=newer)
    assert survivor.pk == older.pk and survivor.consent_marketing is False
    assert Interaction.objects.filter(customer=survivor, kind="other").values_list(
        "data", flat=True
    ).get() == {"consent_marketing": False, "consented": older.pk, "without": newer.pk}
