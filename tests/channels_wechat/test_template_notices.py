"""Member notices routed by the 48-hour window (issue #18): order paid, refund, coupon issued,
coupon expiring and points changed go out as a customer-service message while the window is
open and as the account's template message once it is closed; the binding admin maps each
template variable to a notice field; every role on the new admin pages."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from channels_wechat.models import TemplateBinding, TemplateSend, WeChatUser
from channels_wechat.templates import add_library_template, save_binding
from crm.models import Message
from members.actions import adjust_points, mark_order_paid, refund_order
from members.tasks import send_coupon_message, send_expiring_coupon_messages
from tests.crm.factories import CustomerFactory
from tests.members.factories import (
    CouponFactory,
    MembershipFactory,
    OrderFactory,
    StoreFactory,
)

from .conftest import APPID
from .test_templates import sandbox_sent

ORDER_MAPPING = {
    "character_string1": "order_no",
    "amount2": "order_amount",
    "time3": "order_paid_at",
    "thing4": "store_name",
}


@pytest.fixture
def bindings(wechat_sandbox, account, settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    order = add_library_template(account, "TM00015")
    coupon = add_library_template(account, "TM00178")
    expiring = add_library_template(account, "TM00503")
    refund = add_library_template(account, "TM00004")
    points = add_library_template(account, "TM00335")
    save_binding(account, "order_paid", order, ORDER_MAPPING, url="{orders_url}")
    save_binding(
        account,
        "coupon_issued",
        coupon,
        {"thing1": "coupon_name", "date2": "coupon_expires_at"},
        url="{coupons_url}",
    )
    save_binding(
        account,
        "coupon_expiring",
        expiring,
        {"thing1": "coupon_name", "date2": "coupon_expires_at", "number3": "days_left"},
    )
    save_binding(
        account,
        "order_refunded",
        refund,
        {"character_string1": "order_no", "amount2": "refund_amount", "time3": "refunded_at"},
    )
    save_binding(
        account,
        "points_changed",
        points,
        {
            "character_string1": "points_change",
            "thing2": "points_reason",
            "number3": "points_balance",
        },
    )
    return {"order": order, "coupon": coupon, "expiring": expiring}


def member(account, server, openid: str, *, window_open: bool):
    """A member following the account; the last message 3 days ago, or just now."""
    customer = CustomerFactory(name="王小丽")
    MembershipFactory(customer=customer)
    at = timezone.now() - (timedelta(minutes=5) if window_open else timedelta(days=3))
    user = WeChatUser.objects.create(
        account=account,
        openid=openid,
        customer=customer,
        subscribed=True,
        subscribe_time=at - timedelta(days=30),
        last_message_at=at,
    )
    user.open_window(at, by_message=True)
    user.save()
    server.state.interact(APPID, openid, at.timestamp(), True)
    return customer


def _custom_sends(server) -> list[str]:
    return [s["text"]["content"] for s in server.state.sent]


def _paid(customer, capture, store=None):
    order = OrderFactory(
        customer=customer,
        status="created",
        paid_at=None,
        amount_fen=9900,
        out_trade_no="20261206000042",
        store=store,
    )
    with capture(execute=True):
        mark_order_paid(order, transaction_id="4200000001202612060042", paid_at=timezone.now())
    order.refresh_from_db()
    return order


def test_order_paid_outside_the_window_goes_as_a_template(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oClosed", window_open=False)
    order = _paid(customer, django_capture_on_commit_callbacks, store=StoreFactory(name="静安店"))
    sent = sandbox_sent(wechat_sandbox)
    assert [(s["touser"], s["template_id"], s["data"], s["url"]) for s in sent] == [
        (
            "oClosed",
            bindings["order"].template_id,
            {
                "character_string1": "20261206000042",
                "amount2": "¥99.00",
                "time3": f"{timezone.localtime(order.paid_at):%Y-%m-%d %H:%M}",
                "thing4": "静安店",
            },
            "https://crm.example.com/m/orders",
        )
    ]
    row = TemplateSend.objects.get()
    assert (row.key, row.notice, row.status, row.customer_id) == (
        f"notice:order:{order.pk}",
        "order_paid",
        "sent",
        customer.pk,
    )
    assert _custom_sends(wechat_sandbox) == []
    assert Message.objects.filter(direction="out").count() == 0


def test_order_paid_inside_the_window_goes_as_a_customer_service_message(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oOpen", window_open=True)
    _paid(customer, django_capture_on_commit_callbacks)
    assert _custom_sends(wechat_sandbox) == [
        "【支付成功】订单 20261206000042 已支付 ¥99.00。您的会员积分余额：99。"
    ]
    assert sandbox_sent(wechat_sandbox) == []
    assert TemplateSend.objects.count() == 0


def test_coupon_issued_follows_the_window(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks
):
    closed = member(account, wechat_sandbox, "oCouponClosed", window_open=False)
    opened = member(account, wechat_sandbox, "oCouponOpen", window_open=True)
    expires = timezone.now() + timedelta(days=30)
    for customer in (closed, opened):
        coupon = CouponFactory(customer=customer, template__name="满100减20", expires_at=expires)
        with django_capture_on_commit_callbacks(execute=True):
            send_coupon_message(coupon.pk)
    assert [(s["touser"], s["data"], s["url"]) for s in sandbox_sent(wechat_sandbox)] == [
        (
            "oCouponClosed",
            {"thing1": "满100减20", "date2": f"{timezone.localtime(expires):%Y-%m-%d}"},
            "https://crm.example.com/m/coupons",
        )
    ]
    assert _custom_sends(wechat_sandbox) == [
        f"【优惠券到账】您获得一张「满100减20」，有效期至 {timezone.localtime(expires):%Y-%m-%d}。"
        "查看：https://crm.example.com/m/coupons"
    ]


def test_expiring_coupons_are_reminded_once_by_template(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oExpiring", window_open=False)
    today = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    CouponFactory(customer=customer, template__name="生日券", expires_at=today + timedelta(days=3))
    CouponFactory(customer=customer, template__name="下周券", expires_at=today + timedelta(days=5))
    CouponFactory(
        customer=customer,
        template__name="已用券",
        expires_at=today + timedelta(days=3),
        redeemed_at=timezone.now(),
    )
    for _ in range(2):  # the daily job run twice: one reminder
        with django_capture_on_commit_callbacks(execute=True):
            assert send_expiring_coupon_messages(days=3) == 1
    assert [s["data"] for s in sandbox_sent(wechat_sandbox)] == [
        {"thing1": "生日券", "date2": f"{today + timedelta(days=3):%Y-%m-%d}", "number3": "3"}
    ]


def test_refund_and_points_change_go_as_templates_outside_the_window(
    wechat_sandbox, account, bindings, admin_user, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oRefund", window_open=False)
    order = _paid(customer, django_capture_on_commit_callbacks, store=StoreFactory(name="徐汇店"))
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_order(order, 5000, reason="尺码不合适", out_refund_no="R2026120601")
    membership = customer.membership
    with django_capture_on_commit_callbacks(execute=True):
        adjust_points(membership, 100, source_ref="manual:1", reason="客服补偿", by=admin_user)
    # 99 points earned, 50 taken back with half the money, 100 given by staff: 149.
    data = [s["data"] for s in sandbox_sent(wechat_sandbox)]
    assert data[1] == {
        "character_string1": "20261206000042",
        "amount2": "¥50.00",
        "time3": f"{timezone.localtime(refund.created_at):%Y-%m-%d %H:%M}",
    }
    assert data[2] == {"character_string1": "+100", "thing2": "客服补偿", "number3": "149"}
    assert len(data) == 3


def test_without_a_binding_the_notice_falls_back_to_customer_service(
    wechat_sandbox, account, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oNoBinding", window_open=False)
    _paid(customer, django_capture_on_commit_callbacks)
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code) == ("failed", "45015")
    assert TemplateSend.objects.count() == 0


def test_a_notice_that_does_not_fill_its_template_is_not_sent(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks, caplog
):
    customer = member(account, wechat_sandbox, "oNoStore", window_open=False)
    order = _paid(customer, django_capture_on_commit_callbacks, store=None)
    assert sandbox_sent(wechat_sandbox) == []
    assert TemplateSend.objects.count() == 0
    assert (
        f"order_paid notice order:{order.pk} not sent by template: "
        "['thing4: 字段 store_name 没有值']"
    ) in caplog.text


# --- the binding admin --------------------------------------------------------------------------

ADMIN = "/admin/channels_wechat/templatebinding/"


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_maps_each_variable_to_a_field(wechat_sandbox, account, marketing_user):
    template = add_library_template(account, "TM00015")
    client = _login(marketing_user)
    page = client.get(f"{ADMIN}add/?template={template.pk}")
    assert page.status_code == 200
    for name in template.variables:
        assert f'name="var_{name}"' in page.content.decode()
    form = {
        "account": account.pk,
        "notice": "order_paid",
        "template": template.pk,
        "url": "{orders_url}",
        "active": "on",
        "var_character_string1": "order_no",
        "var_amount2": "order_amount",
        "var_time3": "order_paid_at",
        "text_thing4": "线上商城",
    }
    missing = client.post(f"{ADMIN}add/", {**form, "text_thing4": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.status_code == 200
    assert "thing4: choose a field or write a fixed text" in missing.content.decode()
    too_long = client.post(f"{ADMIN}add/", {**form, "text_thing4": "线" * 21})
    assert "thing4: 最多 20 个字符" in too_long.content.decode()  # the admin speaks Chinese
    assert TemplateBinding.objects.count() == 0
    saved = client.post(f"{ADMIN}add/", form)
    assert saved.status_code == 302
    binding = TemplateBinding.objects.get()
    assert (binding.notice, binding.template, binding.url, binding.mapping) == (
        "order_paid",
        template,
        "{orders_url}",
        {
            "character_string1": "order_no",
            "amount2": "order_amount",
            "time3": "order_paid_at",
            "thing4": "text:线上商城",
        },
    )
    change = client.get(f"{ADMIN}{binding.pk}/change/")
    assert 'value="线上商城"' in change.content.decode()


def test_admin_syncs_and_adds_from_the_library(wechat_sandbox, account, marketing_user):
    client = _login(marketing_user)
    fetch = "/admin/channels_wechat/messagetemplate/fetch/"
    added = client.post(fetch, {"account": account.pk, "short_id": "TM00178", "add": "1"})
    assert added.status_code == 302
    unknown = client.post(
        fetch, {"account": account.pk, "short_id": "TM0", "add": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert unknown.status_code == 400
    assert "WeChat refused the template: 40037 invalid template_id" in unknown.content.decode()
    synced = client.post(fetch, {"account": account.pk, "sync": "1"})
    assert synced.status_code == 302
    assert list(account.message_templates.values_list("title", "active")) == [
        ("优惠券到账提醒", True)
    ]


def test_roles_on_the_template_pages(
    wechat_sandbox, account, marketing_user, agent_user, manager_user, admin_user
):
    template = add_library_template(account, "TM00015")
    TemplateSend.objects.create(
        account=account, template=template, openid="oR", key="k1", batch="b1", status="sent"
    )
    pages = [
        "/admin/channels_wechat/messagetemplate/",
        f"/admin/channels_wechat/messagetemplate/{template.pk}/change/",
        "/admin/channels_wechat/messagetemplate/fetch/",
        ADMIN,
        f"{ADMIN}add/",
        "/admin/channels_wechat/templatesend/",
        "/admin/channels_wechat/templatesend/report/?batch=b1",
        "/admin/channels_wechat/subscribeconsent/",
    ]
    users = {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
        "anonymous": None,
    }
    statuses = {
        role: [(_login(user) if user else Client()).get(page).status_code for page in pages]
        for role, user in users.items()
    }
    assert statuses == {
        "marketing": [200, 200, 200, 200, 200, 200, 200, 200],
        "agent": [403, 403, 403, 403, 403, 403, 403, 403],
        "manager": [200, 200, 403, 200, 403, 200, 200, 200],
        "superuser": [200, 200, 200, 200, 200, 200, 200, 200],
        "anonymous": [302, 302, 302, 302, 302, 302, 302, 302],
    }
    report = _login(manager_user).get(pages[6], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<th>Sent</th><td>1</td>" in report


def test_a_notice_to_a_member_who_unfollowed_is_refused_without_calling_wechat(
    wechat_sandbox, account, bindings, django_capture_on_commit_callbacks
):
    customer = member(account, wechat_sandbox, "oLeft", window_open=True)
    Message.objects.create(
        customer=customer,
        channel="wechat",
        account=APPID,
        external_user="oLeft",
        direction="in",
        content="在吗",
        sent_at=timezone.now() - timedelta(minutes=6),
    )
    WeChatUser.objects.filter(openid="oLeft").update(
        subscribed=False, unsubscribe_time=timezone.now()
    )
    wechat_sandbox.state.users[(APPID, "oLeft")]["subscribe"] = 0
    _paid(customer, django_capture_on_commit_callbacks)
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code, failed.error_message) == (
        "failed",
        "45015",
        "subscription is canceled (checked locally)",
    )
    assert (_custom_sends(wechat_sandbox), sandbox_sent(wechat_sandbox)) == ([], [])
    assert "custom_send" not in wechat_sandbox.state.stats
