"""The template-message demo loader: bound templates, coupon and order notices by template
outside the 48-hour window, and a second run that adds nothing."""

import io
from datetime import timedelta

from django.utils import timezone

from channels_wechat.models import OfficialAccount, TemplateBinding, TemplateSend, WeChatUser
from devtools.demo import wechat as demo_wechat
from devtools.demo import wechat_templates as demo
from devtools.sandboxes import wechat as sandbox
from devtools.sandboxes.wechat import DEMO_ACCOUNTS
from members.models import Store
from tests.crm.factories import CustomerFactory
from tests.members.factories import CouponTemplateFactory, MembershipFactory

from .test_templates import sandbox_sent


def test_demo_binds_templates_and_notifies_silent_members_by_template(
    wechat_sandbox, settings, monkeypatch, django_capture_on_commit_callbacks
):
    info = DEMO_ACCOUNTS[0]
    sandbox._add_account_to(wechat_sandbox.state, {**info, "callback": "http://invalid/"})
    account = OfficialAccount.objects.create(
        appid=info["appid"],
        name=info["name"],
        app_secret=info["secret"],
        token=info["token"],
        encoding_aes_key=info["encoding_aes_key"],
        mode="safe",
    )
    monkeypatch.setattr(demo_wechat, "SANDBOX_URL", wechat_sandbox.url)
    monkeypatch.setattr(demo, "SANDBOX_URL", wechat_sandbox.url)
    CouponTemplateFactory(name="新客满100减20")
    Store.objects.create(code="SH001", name="上海南京西路店")
    silent_at = timezone.now() - timedelta(days=4)
    for n in range(3):
        customer = CustomerFactory()
        MembershipFactory(customer=customer)
        WeChatUser.objects.create(
            account=account,
            openid=f"oDemoSilent{n}",
            customer=customer,
            subscribed=True,
            last_message_at=silent_at,
            window_expires_at=silent_at + timedelta(hours=48),
        )
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        demo.load(out)
    assert list(TemplateBinding.objects.values_list("notice", flat=True)) == [
        "coupon_expiring",
        "coupon_issued",
        "order_paid",
    ]
    sent = sandbox_sent(wechat_sandbox)
    assert [(s["touser"], s["data"].get("thing1") or s["data"]["amount2"]) for s in sent] == [
        ("oDemoSilent0", "新客满100减20"),
        ("oDemoSilent1", "新客满100减20"),
        ("oDemoSilent0", "¥168.00"),
    ]
    assert sorted(TemplateSend.objects.values_list("notice", "status")) == [
        ("coupon_issued", "sent"),
        ("coupon_issued", "sent"),
        ("order_paid", "sent"),
    ]
    assert "2 coupon notices and 1 order notice sent as template messages" in out.getvalue()
    demo.load(out)
    assert TemplateSend.objects.count() == 3
    assert "demo templates already loaded" in out.getvalue()
