"""Data protection (PIPL): masked phones, no secrets in API output or logs, the audit log, and a
customer's data export and erasure that keep every count, amount and KPI."""

import io
import json
import logging
from datetime import UTC, date, datetime

import pytest
from django.test import Client

from channels_wechat.models import OfficialAccount, WeChatUser
from channels_weibo.models import WeiboPost, WeiboUser
from crm.actions import add_note, create_lead, merge_customers, record_interaction
from crm.fields import EncryptedTextField
from crm.logs import RedactSecrets, redact
from crm.models import AuditEntry, Conversation, Customer, CustomerKey, Message, Note, Tag
from crm.privacy import PERSONAL_FIELDS, erase_customer, export_customer_data, personal_fields
from members.models import Coupon, CouponTemplate, Membership, Order
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory

from .urls import all_routes, viewset_of

PHONE = "13800000009"
WX_SECRET = "wx-app-secret-0123456789abcdef"

# Masking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,expected",
    [
        ("marketing", PHONE),
        ("superuser", PHONE),
        ("agent", "138****0009"),
        ("manager", "138****0009"),
    ],
)
def test_phone_is_masked_for_roles_without_view_customer_phone(role_clients, role, expected):
    customer = CustomerFactory(name="王芳", phone=PHONE)
    client = role_clients[role]
    assert client.get(f"/api/v1/customers/{customer.pk}/").json()["phone"] == expected
    listed = client.get("/api/v1/customers/").json()["results"]
    assert [c["phone"] for c in listed if c["id"] == customer.pk] == [expected]
    duplicate = CustomerFactory(name="王芳2", phone=PHONE)
    found = client.get(f"/api/v1/customers/{duplicate.pk}/duplicates/").json()
    assert [c["phone"] for c in found] == [expected]


def test_agent_can_still_write_a_phone_and_reads_it_back_masked(agent_user):
    customer = CustomerFactory(name="李雷")
    response = client_for(agent_user).patch(
        f"/api/v1/customers/{customer.pk}/", {"phone": "+86 139 0000 1234"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "139****1234"
    customer.refresh_from_db()
    assert customer.phone == "13900001234"


# Secrets -------------------------------------------------------------------------------------


def test_log_filter_redacts_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("tests.security.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "GET /cgi-bin/user/info?access_token=%s&openid=o1 failed, body %s",
            "ACCESS-TOKEN-VALUE",
            '{"appsecret": "SECRET-1", "EncodingAESKey": "AESKEY"}',
        )
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == (
        "GET /cgi-bin/user/info?access_token=***&openid=o1 failed, body "
        '{"appsecret": "***", "EncodingAESKey": "***"}\n'
    )
    assert redact("api_key=abc password: hunter2 sign=XYZ") == "api_key=*** password: *** sign=***"


def _serializer_classes():
    """Every serializer of every viewset mounted under /api/, per action."""
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get("/")
    found = set()
    for _path, pattern in all_routes():
        cls, actions = viewset_of(pattern)
        if cls is None:
            continue
        for action in set(actions.values()):
            view = cls(action=action, request=request, format_kwarg=None, kwargs={})
            try:
                found.add(view.get_serializer_class())
            except (AssertionError, AttributeError):
                continue
    return found


def test_no_api_serializer_outputs_an_encrypted_field():
    leaks, checked = [], 0
    for serializer_class in _serializer_classes():
        meta = getattr(serializer_class, "Meta", None)
        model = getattr(meta, "model", None)
        if model is None:
            continue
        checked += 1
        secret_names = {
            f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
        }
        for name, field in serializer_class().fields.items():
            if field.write_only:
                continue
            if field.source.split(".")[0] in secret_names:
                leaks.append(f"{serializer_class.__name__}.{name}")
    assert leaks == []
    assert checked >= 15


def _official_account(appid="wx0000000000000001"):
    return OfficialAccount.objects.create(
        appid=appid,
        name="品牌服务号",
        app_secret=WX_SECRET,
        token="push-token-abc",
        encoding_aes_key="a" * 43,
        mode="safe",
    )


def test_secrets_are_absent_from_api_output(admin_user):
    account = _official_account()
    client = client_for(admin_user)
    for path in ("/api/v1/wechat/accounts/", f"/api/v1/wechat/accounts/{account.pk}/"):
        body = client.get(path).content.decode()
        assert account.appid in body
        for secret in (WX_SECRET, "push-token-abc", "a" * 43):
            assert secret not in body


# Audit log -----------------------------------------------------------------------------------


def _entries():
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "actor_name", "action", "object_type", "object_id", "summary"
        )
    )


def test_api_csv_export_is_audited(marketing_user):
    CustomerFactory(city="上海"), CustomerFactory(city="上海"), CustomerFactory(city="杭州")
    response = client_for(marketing_user).get("/api/v1/customers/export/", {"city": "上海"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().count("\n") == 3  # header + 2
    assert _entries() == [
        (
            "mkt",
            "export",
            "crm.Customer",
            "",
            "CSV export through the API of 2 customers, query: city=%E4%B8%8A%E6%B5%B7",
        )
    ]


def test_admin_csv_export_is_audited(admin_user):
    a, b = CustomerFactory(), CustomerFactory()
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/crm/customer/", {"action": "export_csv", "_selected_action": [a.pk, b.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert _entries() == [
        ("root", "export", "crm.Customer", "", "CSV export in the admin of 2 customers")
    ]


def test_merges_are_audited(marketing_user):
    source, target = CustomerFactory(name="甲"), CustomerFactory(name="乙")
    response = client_for(marketing_user).post(
        f"/api/v1/customers/{target.pk}/merge/", {"source": source.pk}, format="json"
    )
    assert response.status_code == 200
    record_id = response.json()["id"]
    # An automatic merge (identity resolution) has no actor.
    third = CustomerFactory(name="丙")
    merge_customers(third, target, reason="unionid")
    assert _entries() == [
        (
            "mkt",
            "merge",
            "crm.Customer",
            str(target.pk),
            f"customer #{source.pk} merged into #{target.pk} (manual), merge record #{record_id}",
        ),
        (
            "",
            "merge",
            "crm.Customer",
            str(target.pk),
            f"customer #{third.pk} merged into #{target.pk} (unionid), "
            f"merge record #{record_id + 1}",
        ),
    ]


def test_deletions_are_audited_in_the_api_and_the_admin(marketing_user, admin_user):
    by_api, by_admin, bulk = CustomerFactory(), CustomerFactory(), CustomerFactory()
    assert client_for(marketing_user).delete(f"/api/v1/customers/{by_api.pk}/").status_code == 204
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/admin/crm/customer/{by_admin.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    response = client.post(
        "/admin/crm/customer/",
        {"action": "delete_selected", "_selected_action": [bulk.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert Customer.objects.filter(pk__in=[by_api.pk, by_admin.pk, bulk.pk]).count() == 0
    assert _entries() == [
        (
            "mkt",
            "delete",
            "crm.Customer",
            str(by_api.pk),
            f"customer #{by_api.pk} deleted through the API",
        ),
        (
            "root",
            "delete",
            "crm.Customer",
            str(by_admin.pk),
            f"customer #{by_admin.pk} deleted in the admin",
        ),
        (
            "root",
            "delete",
            "crm.Customer",
            str(bulk.pk),
            f"customer #{bulk.pk} deleted in the admin (bulk)",
        ),
    ]


def test_deleting_a_customer_with_protected_rows_is_refused_with_400_and_not_audited(
    marketing_user,
):
    customer = CustomerFactory()
    Order.objects.create(out_trade_no="T1", customer=customer, channel="pos", amount_fen=100)
    response = client_for(marketing_user).delete(
        f"/api/v1/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This customer has order, which must be kept: merge it into another customer "
        "or erase its personal data instead."
    }
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert _entries() == []


def test_secret_changes_are_audited_without_their_values(admin_user):
    account = _official_account()
    account.name = "改名"
    account.save()  # no secret changed: nothing recorded
    account = OfficialAccount.objects.get(pk=account.pk)
    account.app_secret = "new-secret-value"
    account.save()
    response = client_for(admin_user).patch(
        f"/api/v1/wechat/accounts/{account.pk}/", {"token": "newPushToken42"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert _entries() == [
        (
            "",
            "secret_change",
            "channels_wechat.OfficialAccount",
            "",
            "channels_wechat.OfficialAccount.app_secret (AppSecret) set on 品牌服务号 (wx0000000000000001)",
        ),
        (
            "",
            "secret_change",
            "channels_wechat.OfficialAccount",
            "",
            "channels_wechat.OfficialAccount.token (token) set on 品牌服务号 (wx0000000000000001)",
        ),
        (
            "",
            "secret_change",
            "channels_wechat.OfficialAccount",
            "",
            "channels_wechat.OfficialAccount.encoding_aes_key (EncodingAESKey) set on 品牌服务号 (wx0000000000000001)",
        ),
        (
            "",
            "secret_change",
            "channels_wechat.OfficialAccount",
            str(account.pk),
            "channels_wechat.OfficialAccount.app_secret (AppSecret) changed on 改名 (wx0000000000000001)",
        ),
        (
            "root",
            "secret_change",
            "channels_wechat.OfficialAccount",
            str(account.pk),
            "channels_wechat.OfficialAccount.token (token) changed on 改名 (wx0000000000000001)",
        ),
    ]
    text = json.dumps(_entries(), ensure_ascii=False)
    for value in (WX_SECRET, "new-secret-value", "newPushToken42", "push-token-abc"):
        assert value not in text


def test_audit_log_is_read_only_for_superusers_and_managers(
    admin_user, manager_user, agent_user, marketing_user
):
    source, target = CustomerFactory(), CustomerFactory()
    merge_customers(source, target, by=admin_user)
    entry = AuditEntry.objects.get()
    for user, status in (
        (admin_user, 200),
        (manager_user, 200),
        (agent_user, 403),
        (marketing_user, 403),
    ):
        client = Client()
        client.force_login(user)
        assert client.get("/admin/crm/auditentry/").status_code == status
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/crm/auditentry/add/").status_code == 403
    assert (
        client.post(f"/admin/crm/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    page = client.get(f"/admin/crm/auditentry/{entry.pk}/change/").content.decode()
    assert 'name="summary"' not in page and f"merged into #{target.pk}" in page


# Data export and erasure ---------------------------------------------------------------------

AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def person(db):
    """One customer with a row in every table that can point at a customer."""
    customer = CustomerFactory(
        name="张伟",
        phone=PHONE,
        email="zhangwei@example.com",
        city="北京",
        gender="male",
        birthday=date(1990, 5, 1),
    )
    customer.tags.add(Tag.objects.create(name="VIP"))
    CustomerKey.objects.create(kind="unionid", value="union-zhangwei", customer=customer)
    CustomerKey.objects.create(kind="phone", value=PHONE, customer=customer)
    add_note(customer, "张伟说他住在朝阳区幸福路8号")
    lead, _ = create_lead(customer, "张伟想买净水器", source_channel="weibo")
    record_interaction(
        customer,
        "message_in",
        "wechat",
        summary="张伟: 我的手机是13800000009",
        data={"account": "wxA", "text": "我的手机是13800000009"},
    )
    conversation = Conversation.objects.create(
        channel="wechat", account="wxA", external_user="o-zhangwei", customer=customer, opened_at=AT
    )
    Message.objects.create(
        conversation=conversation,
        customer=customer,
        channel="wechat",
        account="wxA",
        external_user="o-zhangwei",
        direction="in",
        content="我住在朝阳区幸福路8号",
        sender_kind="customer",
        delivery_status="received",
        sent_at=AT,
        platform_msg_id="m-1",
        data={"MsgId": "m-1", "Content": "我住在朝阳区"},
    )
    account = _official_account()
    WeChatUser.objects.create(
        account=account,
        openid="o-zhangwei",
        unionid="union-zhangwei",
        customer=customer,
        nickname="伟哥",
        remark="大客户",
    )
    fan = WeiboUser.objects.create(
        uid="3001",
        screen_name="张伟在北京",
        location="北京 朝阳",
        followers_count=321,
        customer=customer,
    )
    WeiboPost.objects.create(
        idstr="5000000000000001",
        author=fan,
        text="@品牌 张伟的净水器漏水了",
        created_at=AT,
        mentions_brand=True,
        raw={
            "idstr": "5000000000000001",
            "text": "张伟的净水器漏水了",
            "user": {"idstr": "3001", "screen_name": "张伟在北京"},
        },
    )
    Membership.objects.create(
        customer=customer, member_number="M0001", joined_via="wechat", points_balance=0
    )
    order = Order.objects.create(
        out_trade_no="T0001",
        customer=customer,
        channel="pos",
        amount_fen=12800,
        description="张伟的滤芯",
        status="paid",
        paid_at=AT,
    )
    template = CouponTemplate.objects.create(name="满100减20", kind="cash", value=2000)
    Coupon.objects.create(code="C0001", template=template, customer=customer, issued_via="manual")
    return customer, order, fan


def test_export_contains_every_row_about_the_customer_and_no_secret(person):
    customer, order, fan = person
    data = export_customer_data(customer)
    text = json.dumps(data, ensure_ascii=False)  # JSON-serializable as it is
    assert data["customer"]["name"] == "张伟" and data["customer"]["phone"] == PHONE
    assert data["tags"] == ["VIP"]
    assert sorted((k["kind"], k["value"]) for k in data["keys"]) == [
        ("phone", PHONE),
        ("unionid", "union-zhangwei"),
    ]
    assert [n["body"] for n in data["notes"]] == ["张伟说他住在朝阳区幸福路8号"]
    assert [lead["title"] for lead in data["leads"]] == ["张伟想买净水器"]
    assert [m["content"] for m in data["messages"]] == ["我住在朝阳区幸福路8号"]
    assert [c["external_user"] for c in data["conversations"]] == ["o-zhangwei"]
    assert {i["kind"] for i in data["interactions"]} >= {"message_in", "lead"}
    related = data["related"]
    assert [u["nickname"] for u in related["channels_wechat.WeChatUser"]] == ["伟哥"]
    assert [u["screen_name"] for u in related["channels_weibo.WeiboUser"]] == ["张伟在北京"]
    assert [p["text"] for p in related["channels_weibo.WeiboPost"]] == ["@品牌 张伟的净水器漏水了"]
    assert [m["member_number"] for m in related["members.Membership"]] == ["M0001"]
    assert [(o["out_trade_no"], o["amount_fen"]) for o in related["members.Order"]] == [
        ("T0001", 12800)
    ]
    assert [c["code"] for c in related["members.Coupon"]] == ["C0001"]
    assert data["merged_customers"] == []
    assert WX_SECRET not in text and "push-token-abc" not in text


def _counts():
    from django.apps import apps

    return {m._meta.label: m._base_manager.count() for m in apps.get_models()}


def test_erasure_removes_personal_data_and_keeps_rows_amounts_and_ids(person, marketing_user):
    customer, order, fan = person
    duplicate = CustomerFactory(name="张伟(重复)", phone="13800000010")
    merge_customers(duplicate, customer)
    client = client_for(marketing_user)
    before = _counts()
    response = client.post(f"/api/v1/customers/{customer.pk}/erase/")
    assert response.status_code == 200, response.content
    after = _counts()
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {
        "crm.CustomerKey": (2, 0),
        "crm.AuditEntry": (after["crm.AuditEntry"] - 1, after["crm.AuditEntry"]),
    }
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.email, customer.city, customer.birthday) == (
        "",
        "",
        "",
        "",
        None,
    )
    assert customer.erased_at is not None and customer.stage == "lead"
    assert list(customer.tags.values_list("name", flat=True)) == ["VIP"]
    duplicate.refresh_from_db()
    assert (duplicate.name, duplicate.phone, duplicate.erased_at is not None) == ("", "", True)
    assert list(Note.objects.filter(customer=customer).values_list("body", flat=True)) == [""]
    assert set(customer.leads.values_list("title", flat=True)) == {""}
    assert set(customer.interactions.values_list("summary", flat=True)) == {""}
    assert customer.interactions.get(kind="message_in").data == {"account": "wxA", "text": ""}
    message = Message.objects.get(customer=customer)
    assert (message.content, message.platform_msg_id, message.data, message.external_user) == (
        "",
        "m-1",
        {"MsgId": "m-1", "Content": ""},
        f"erased-{customer.pk}",
    )
    # Identifiers are retired (tests/security/test_erasure.py): the rows stay, unrecognisable.
    wx = WeChatUser.objects.get(customer=customer)
    assert (wx.nickname, wx.remark, wx.openid, wx.unionid) == ("", "", f"erased-{wx.pk}", "")
    assert set(
        Conversation.objects.filter(customer=customer).values_list("external_user", flat=True)
    ) == {f"erased-{customer.pk}"}
    fan.refresh_from_db()
    assert (fan.screen_name, fan.location, fan.uid, fan.followers_count) == (
        "",
        "",
        f"erased-{fan.pk}",
        321,
    )
    post = WeiboPost.objects.get(author=fan)
    assert (post.text, post.mentions_brand) == ("", True)
    assert post.raw == {
        "idstr": "5000000000000001",
        "text": "",
        "user": {"idstr": "", "screen_name": ""},
    }
    order.refresh_from_db()
    assert (order.amount_fen, order.status, order.out_trade_no, order.description) == (
        12800,
        "paid",
        "T0001",
        "",
    )
    assert Membership.objects.get(customer=customer).member_number == "M0001"
    assert response.json()["erased"]["crm.Customer"] == 2
    entry = AuditEntry.objects.get(action="erase")
    assert (entry.actor, entry.object_id) == (marketing_user, str(customer.pk))
    assert "张伟" not in entry.summary
    # Nothing personal is left in the export either.
    exported = json.dumps(export_customer_data(customer), ensure_ascii=False)
    for personal in (
        "张伟",
        PHONE,
        "zhangwei@example.com",
        "朝阳区",
        "伟哥",
        "北京",
        "13800000010",
    ):
        assert personal not in exported, personal


def test_data_export_api_is_audited(person, marketing_user):
    customer, _order, _fan = person
    response = client_for(marketing_user).get(f"/api/v1/customers/{customer.pk}/data-export/")
    assert response.status_code == 200
    assert response.json()["customer"]["name"] == "张伟"
    assert _entries()[-1] == (
        "mkt",
        "data_export",
        "crm.Customer",
        str(customer.pk),
        f"personal data export of customer #{customer.pk}",
    )


def test_erasing_a_merged_customer_is_refused(marketing_user):
    source, target = CustomerFactory(name="甲"), CustomerFactory(name="乙")
    merge_customers(source, target)
    response = client_for(marketing_user).post(
        f"/api/v1/customers/{source.pk}/erase/", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == [
        f"Customer #{source.pk} was merged into #{target.pk}: erase #{target.pk} instead."
    ]
    source.refresh_from_db()
    assert source.name == "甲" and source.erased_at is None


def test_admin_actions_export_and_erase(person, admin_user):
    customer, _order, _fan = person
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/crm/customer/",
        {"action": "export_personal_data", "_selected_action": [customer.pk], "merged": "all"},
    )
    assert response.status_code == 200
    assert [d["customer"]["name"] for d in json.loads(response.content)] == ["张伟"]
    response = client.post(
        "/admin/crm/customer/",
        {"action": "erase_personal_data", "_selected_action": [customer.pk]},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "" and customer.erased_at is not None
    assert [e[1] for e in _entries()][-2:] == ["data_export", "erase"]


def test_personal_fields_name_only_existing_fields():
    from django.apps import apps

    for label, names in PERSONAL_FIELDS.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        assert [f.name for f in personal_fields(model)] == names, label


# KPIs are the same after erasure ---------------------------------------------------------------

from tests.dashboards.datasets import cohort, dataset, weibo  # noqa: E402, F401


def test_kpis_are_the_same_after_erasing_every_customer(dataset, weibo, cohort):  # noqa: F811
    from dashboards import kpis
    from tests.dashboards.datasets import END, START

    for uid in ("3001", "3002"):  # the fans become customers, so erasure reaches their posts
        WeiboUser.objects.filter(uid=uid).update(customer=CustomerFactory())

    def figures():
        return {
            "wechat": kpis.wechat_kpis(START, END),
            "wechat_wxA": kpis.wechat_kpis(START, END, "wxA"),
            "weibo": kpis.weibo_kpis(START, END),
            "weibo_1001": kpis.weibo_kpis(START, END, "1001"),
            "funnel": kpis.funnel(START, END),
            "funnel_weibo": kpis.funnel(START, END, "weibo"),
        }

    before = figures()
    assert before["wechat"]["conversations"] == 5 and before["funnel"]["customers"] > 0
    active = list(Customer.objects.active())
    for customer in active:
        erase_customer(customer)
    assert Customer.objects.filter(erased_at__isnull=True).count() == 0
    assert (
        WeiboPost.objects.exclude(text="").count()
        == WeiboPost.objects.filter(author__customer__isnull=True).exclude(text="").count()
    )
    assert figures() == before
