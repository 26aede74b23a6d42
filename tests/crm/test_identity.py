import pytest
from django.core.exceptions import ValidationError

from crm.identity import (
    duplicate_candidates,
    duplicate_groups,
    resolve_customer,
    set_verified_phone,
)
from crm.models import Customer, CustomerKey, MergeRecord, normalize_phone

from .factories import CustomerFactory


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138 0013 8000",
        "0086-13800138000",
        "86 13800138000",
        "138-0013-8000",
        "(+86)13800138000",
    ],
)
def test_phone_variants_normalise_to_one_number(raw):
    assert normalize_phone(raw) == "13800138000"


def test_foreign_phone_keeps_country_code():
    assert normalize_phone("+1 415 555 0100") == "+14155550100"


@pytest.mark.parametrize("raw", ["12345", "2380013800", "abc", "+86 1380013800"])
def test_rejects_invalid_phone(raw):
    with pytest.raises(ValidationError) as exc:
        normalize_phone(raw)
    assert exc.value.messages == [
        "请输入有效的手机号，例如 13800138000 或 +8613800138000。"
    ] or exc.value.messages == [
        "Enter a valid mobile number, such as 13800138000 or +8613800138000."
    ]


def test_new_identity_creates_follower_customer(db):
    customer = resolve_customer(
        channel="wechat", keys={"unionid": "u-1"}, defaults={"name": "王芳"}
    )
    assert (customer.stage, customer.first_channel, customer.name) == ("follower", "wechat", "王芳")
    assert list(CustomerKey.objects.values_list("kind", "value", "customer_id")) == [
        ("unionid", "u-1", customer.pk)
    ]


def test_same_unionid_resolves_to_same_customer(db):
    first = resolve_customer(channel="wechat", keys={"unionid": "u-1"})
    second = resolve_customer(channel="wechat", keys={"unionid": "u-1"}, defaults={"name": "x"})
    assert first.pk == second.pk
    assert Customer.objects.count() == 1


def test_identity_without_keys_creates_new_customer_each_time(db):
    a = resolve_customer(channel="weibo", defaults={"name": "甲"})
    b = resolve_customer(channel="weibo", defaults={"name": "甲"})
    assert a.pk != b.pk


def test_learning_unionid_late_merges_two_customers_automatically(db):
    # Account A saw the user first without unionid; account B knows the unionid.
    on_a = resolve_customer(channel="wechat", defaults={"name": "李雷"})
    on_b = resolve_customer(channel="wechat", keys={"unionid": "u-9"}, defaults={"city": "上海"})
    survivor = resolve_customer(channel="wechat", keys={"unionid": "u-9"}, customer=on_a)
    assert survivor.pk == on_a.pk  # the older one survives
    on_b.refresh_from_db()
    assert on_b.merged_into_id == on_a.pk
    record = MergeRecord.objects.get()
    assert (record.source_id, record.target_id, record.reason) == (on_b.pk, on_a.pk, "unionid")
    assert survivor.city == "上海"
    assert CustomerKey.objects.get(kind="unionid").customer_id == on_a.pk


def test_verified_phone_merges_owner_of_same_number(db):
    older = CustomerFactory(name="张伟")
    set_verified_phone(older, "138 0013 8000")
    newer = CustomerFactory(name="")
    survivor = set_verified_phone(newer, "+8613800138000")
    assert survivor.pk == older.pk
    assert (survivor.phone, survivor.phone_verified) == ("13800138000", True)
    newer.refresh_from_db()
    assert newer.merged_into_id == older.pk
    assert MergeRecord.objects.get().reason == "phone"


def test_weak_keys_are_candidates_not_merges(db):
    base = CustomerFactory(name="陈静", city="杭州", email="chen@example.com", phone="13900000001")
    same_email = CustomerFactory(name="Chen", city="北京", email="chen@example.com")
    same_name_city = CustomerFactory(name="陈静", city="杭州")
    same_phone = CustomerFactory(name="C", city="", phone="13900000001")
    CustomerFactory(name="陈静", city="上海")  # same name, other city: not a candidate
    assert list(duplicate_candidates(base).values_list("pk", flat=True)) == [
        same_email.pk,
        same_name_city.pk,
        same_phone.pk,
    ]
    assert MergeRecord.objects.count() == 0
    groups = {(g["key"], tuple(g["ids"])) for g in duplicate_groups()}
    assert groups == {
        ("email", (base.pk, same_email.pk)),
        ("name_city", (base.pk, same_name_city.pk)),
        ("phone", (base.pk, same_phone.pk)),
    }
