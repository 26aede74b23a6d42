"""Template messages (issue #18 item 1): templates synced from WeChat, sends through the real
client to the sandbox over loopback, WeChat's value limits, per-recipient errors, the daily
limit, transient errors and a send resumed after its worker died."""

import json
import urllib.request
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels_wechat.models import MessageTemplate, TemplateSend, WeChatUser
from channels_wechat.template_client import TemplateClient
from channels_wechat.templates import (
    _call,
    _claim,
    add_library_template,
    deliver_due_sends,
    next_day,
    send_report,
    send_template_message,
    sync_templates,
)
from crm.inbox import SendError
from tests.crm.factories import CustomerFactory

from .conftest import APPID

ORDER_DATA = {
    "character_string1": "20261206000001",
    "amount2": "¥99.00",
    "time3": "2026-12-06 12:00",
    "thing4": "静安店",
}


def sandbox_post(server, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  loopback sandbox
        return json.loads(response.read())


def sandbox_sent(server) -> list[dict]:
    with urllib.request.urlopen(server.url + "/sandbox/templates/sent", timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["sent"]


def follower(account, server, openid: str, *, subscribed_at_wechat: bool = True) -> WeChatUser:
    """A follower known to the CRM and to the sandbox (its window long closed)."""
    user = server.state.user(APPID, openid)
    user["subscribe"] = 1 if subscribed_at_wechat else 0
    return WeChatUser.objects.create(
        account=account,
        openid=openid,
        customer=CustomerFactory(),
        subscribed=True,
        subscribe_time=timezone.now() - timedelta(days=30),
    )


@pytest.fixture
def order_template(wechat_sandbox, account):
    return add_library_template(account, "TM00015")


def _run(capture, func, *args, **kwargs):
    with capture(execute=True):
        return func(*args, **kwargs)


# --- templates ----------------------------------------------------------------------------------


def test_add_from_library_and_sync(wechat_sandbox, account):
    template = add_library_template(account, "TM00015")
    assert (template.kind, template.title, template.variables, template.active) == (
        "template",
        "订单支付成功通知",
        ["character_string1", "amount2", "time3", "thing4"],
        True,
    )
    add_library_template(account, "TM00178")
    assert sync_templates(account) == {"added": 0, "updated": 2, "deactivated": 0}
    sandbox_post(
        wechat_sandbox,
        "/sandbox/templates/setup",
        {
            "appid": APPID,
            "private": [
                t for t in sandbox_private(wechat_sandbox) if t["title"] != "优惠券到账提醒"
            ],
            "subscribe": [
                {
                    "priTmplId": "sub-long-1",
                    "title": "会员权益通知",
                    "content": "权益：{{thing1.DATA}}",
                    "example": "权益：生日礼",
                    "type": 3,
                }
            ],
        },
    )
    assert sync_templates(account) == {"added": 1, "updated": 1, "deactivated": 1}
    rows = MessageTemplate.objects.order_by("kind", "title")
    assert [(t.kind, t.title, t.active, t.long_term) for t in rows] == [
        ("subscribe", "会员权益通知", True, True),
        ("template", "优惠券到账提醒", False, False),
        ("template", "订单支付成功通知", True, False),
    ]


def sandbox_private(server) -> list[dict]:
    state = server.state.extra["devtools.sandboxes.wechat_templates"]
    return list(state["private"][APPID].values())


def test_unknown_library_template_is_refused_with_40037(wechat_sandbox, account):
    with pytest.raises(ValidationError) as exc:
        add_library_template(account, "TM99999")
    assert exc.value.message_dict == {"short_id": ["微信拒绝了该模板：40037 invalid template_id"]}
    assert MessageTemplate.objects.count() == 0


# --- sending ------------------------------------------------------------------------------------


def test_send_reaches_each_follower_once(
    wechat_sandbox, account, order_template, django_capture_on_commit_callbacks
):
    users = [follower(account, wechat_sandbox, f"oTpl{n}") for n in range(2)]
    capture = django_capture_on_commit_callbacks
    batch = _run(
        capture,
        send_template_message,
        order_template,
        users,
        ORDER_DATA,
        url="https://crm.example.com/m/orders",
        batch="job-1",
    )
    assert batch == "job-1"
    sent = sandbox_sent(wechat_sandbox)
    assert [(s["touser"], s["template_id"], s["data"], s["url"]) for s in sent] == [
        ("oTpl0", order_template.template_id, ORDER_DATA, "https://crm.example.com/m/orders"),
        ("oTpl1", order_template.template_id, ORDER_DATA, "https://crm.example.com/m/orders"),
    ]
    rows = TemplateSend.objects.order_by("openid")
    assert [(r.openid, r.status, r.msgid, r.attempts, r.customer_id) for r in rows] == [
        (u.openid, "sent", str(s["msgid"]), 1, u.customer_id)
        for u, s in zip(users, sent, strict=True)
    ]
    # The same job again: nothing new stored, nothing sent twice.
    _run(capture, send_template_message, order_template, users, ORDER_DATA, batch="job-1")
    assert (TemplateSend.objects.count(), len(sandbox_sent(wechat_sandbox))) == (2, 2)
    assert send_report("job-1") == {
        "recipients": 2,
        "sent": 2,
        "failed": 0,
        "failed_by_reason": {},
        "held": 0,
        "pending": 0,
        "delivery": {},
    }


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"thing4": "静安寺旗舰店（南京西路一千八百号）二楼东侧"},
            {"thing4": ["thing4: 最多 20 个字符"]},
        ),
        ({"amount2": ""}, {"amount2": ["amount2: 未填写"]}),
        ({"amount2": "九十九元"}, {"amount2": ["amount2: 须为货币符号加最多 10 位数字"]}),
        (
            {"character_string1": "订单20261206"},
            {"character_string1": ["character_string1: 最多 32 个数字、字母或符号"]},
        ),
        (
            {"character_string1": "1" * 33},
            {"character_string1": ["character_string1: 最多 32 个数字、字母或符号"]},
        ),
        (
            {"thing4": "静安\n店"},
            {"thing4": ["thing4: 不能包含换行或控制字符"]},
        ),
    ],
)
def test_bad_values_are_refused_before_sending_naming_the_variable(
    wechat_sandbox, account, order_template, changes, errors, django_capture_on_commit_callbacks
):
    user = follower(account, wechat_sandbox, "oBad")
    data = {**ORDER_DATA, **changes}
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as exc:
        send_template_message(order_template, [user], data)
    assert exc.value.message_dict == errors
    assert TemplateSend.objects.count() == 0
    assert sandbox_sent(wechat_sandbox) == []


def test_sandbox_refuses_bad_values_with_47003(wechat_sandbox, account, order_template):
    follower(account, wechat_sandbox, "oDirect")
    client = TemplateClient(account)
    with pytest.raises(SendError) as exc:
        client.send_template(
            "oDirect", order_template.template_id, {**ORDER_DATA, "thing4": "店" * 21}
        )
    assert (exc.value.code, exc.value.message) == (
        "47003",
        "argument invalid! data.thing4.value invalid",
    )
    with pytest.raises(SendError) as exc:
        client.send_template("oDirect", "no-such-template", ORDER_DATA)
    assert exc.value.code == "40037"
    assert sandbox_sent(wechat_sandbox) == []


def test_phrase_and_number_limits(wechat_sandbox, account):
    from channels_wechat.template_rules import check_value

    assert [check_value("phrase1", v) for v in ("配送中", "正在配送途中", "ok")] == [
        None,
        "at most 5 Chinese characters",
        "at most 5 Chinese characters",
    ]
    assert [check_value("number2", v) for v in ("3", "12.5", "1" * 33, "三")] == [
        None,
        None,
        "at most 32 digits",
        "at most 32 digits",
    ]


def test_per_recipient_refusals_are_recorded_and_not_retried(
    wechat_sandbox, account, order_template, django_capture_on_commit_callbacks
):
    ok = follower(account, wechat_sandbox, "oOk")
    gone = follower(account, wechat_sandbox, "oGone", subscribed_at_wechat=False)
    stranger = WeChatUser.objects.create(account=account, openid="oStranger", subscribed=True)
    capture = django_capture_on_commit_callbacks
    _run(
        capture, send_template_message, order_template, [ok, gone, stranger], ORDER_DATA, batch="j"
    )
    rows = {r.openid: (r.status, r.error_code, r.attempts) for r in TemplateSend.objects.all()}
    assert rows == {
        "oOk": ("sent", "", 1),
        "oGone": ("failed", "43004", 1),
        "oStranger": ("failed", "40003", 1),
    }
    calls = dict(wechat_sandbox.state.extra["devtools.sandboxes.wechat_templates"]["calls"])
    assert deliver_due_sends("j", now=timezone.now() + timedelta(days=2)) == {
        "sent": 0,
        "failed": 0,
        "held": 0,
        "retry": 0,
    }
    assert wechat_sandbox.state.extra["devtools.sandboxes.wechat_templates"]["calls"] == calls
    report = send_report("j")
    assert (report["sent"], report["failed"], report["failed_by_reason"]) == (
        1,
        2,
        {"40003": 1, "43004": 1},
    )


def test_daily_limit_keeps_the_rest_for_the_next_day(
    wechat_sandbox, account, order_template, django_capture_on_commit_callbacks
):
    sandbox_post(wechat_sandbox, "/sandbox/templates/setup", {"appid": APPID, "daily_limit": 2})
    users = [follower(account, wechat_sandbox, f"oDay{n}") for n in range(5)]
    _run(
        django_capture_on_commit_callbacks,
        send_template_message,
        order_template,
        users,
        ORDER_DATA,
        batch="d",
    )
    rows = list(
        TemplateSend.objects.order_by("openid").values_list("openid", "status", "error_code")
    )
    assert rows == [
        ("oDay0", "sent", ""),
        ("oDay1", "sent", ""),
        ("oDay2", "held", "45009"),
        ("oDay3", "held", ""),
        ("oDay4", "held", ""),
    ]
    resume = next_day(timezone.now())
    held = TemplateSend.objects.filter(status="held")
    assert set(held.values_list("next_attempt_at", flat=True)) == {resume}
    assert (timezone.localtime(resume).hour, timezone.localtime(resume).minute) == (0, 0)
    # Still today: nothing is tried.
    assert deliver_due_sends("d")["sent"] == 0
    assert len(sandbox_sent(wechat_sandbox)) == 2
    sandbox_post(wechat_sandbox, "/sandbox/templates/new_day", {"appid": APPID})
    # The next day allows two more: the fifth is held again, for the day after.
    assert deliver_due_sends("d", now=resume) == {"sent": 2, "failed": 0, "held": 1, "retry": 0}
    assert TemplateSend.objects.get(status="held").next_attempt_at == resume + timedelta(days=1)
    sandbox_post(wechat_sandbox, "/sandbox/templates/new_day", {"appid": APPID})
    later = resume + timedelta(days=1)
    assert deliver_due_sends("d", now=later) == {"sent": 1, "failed": 0, "held": 0, "retry": 0}
    assert [s["touser"] for s in sandbox_sent(wechat_sandbox)] == [u.openid for u in users]
    assert send_report("d")["sent"] == 5


def test_system_busy_is_retried_with_backoff(
    wechat_sandbox, account, order_template, django_capture_on_commit_callbacks
):
    user = follower(account, wechat_sandbox, "oBusy")
    sandbox_post(
        wechat_sandbox,
        "/sandbox/fail",
        {"path": "/cgi-bin/message/template/send", "errcode": -1, "times": 1},
    )
    before = timezone.now()
    _run(
        django_capture_on_commit_callbacks,
        send_template_message,
        order_template,
        [user],
        ORDER_DATA,
        batch="b",
    )
    row = TemplateSend.objects.get()
    assert (row.status, row.error_code, row.attempts) == ("pending", "-1", 1)
    assert (
        before + timedelta(seconds=30)
        <= row.next_attempt_at
        <= timezone.now() + timedelta(seconds=30)
    )
    assert deliver_due_sends("b")["sent"] == 0  # not yet due
    assert deliver_due_sends("b", now=row.next_attempt_at) == {
        "sent": 1,
        "failed": 0,
        "held": 0,
        "retry": 0,
    }
    row.refresh_from_db()
    assert (row.status, row.attempts, len(sandbox_sent(wechat_sandbox))) == ("sent", 2, 1)


def test_a_send_left_by_a_dead_worker_is_resumed_without_a_second_message(
    wechat_sandbox, account, order_template, settings
):
    lease = settings.WECHAT_TEMPLATE_LEASE_SECONDS
    user = follower(account, wechat_sandbox, "oKilled")
    send_template_message(order_template, [user], ORDER_DATA, batch="k")
    now = timezone.now()
    # A worker claims the row and WeChat sends the message; the worker dies before recording it.
    row = _claim(TemplateSend.objects.get().pk, now)
    first_msgid = _call(TemplateClient(account), row)
    assert TemplateSend.objects.get().status == "sending"
    # Another run before the lease ends leaves it alone.
    assert deliver_due_sends("k", now=now)["sent"] == 0
    assert deliver_due_sends("k", now=now + timedelta(seconds=lease + 1))["sent"] == 1
    row = TemplateSend.objects.get()
    assert (row.status, row.msgid, row.attempts) == ("sent", first_msgid, 2)
    assert [s["touser"] for s in sandbox_sent(wechat_sandbox)] == ["oKilled"]


def test_an_inactive_template_is_refused(wechat_sandbox, account, order_template):
    order_template.active = False
    order_template.save()
    with pytest.raises(ValidationError) as exc:
        send_template_message(order_template, ["oX"], ORDER_DATA)
    assert exc.value.message_dict == {"template": ["该模板已不在微信后台。"]}
    assert TemplateSend.objects.count() == 0


def test_a_report_before_the_msgid_is_stored_is_retried_by_the_sweep(
    wechat_sandbox, account, order_template, client, django_capture_on_commit_callbacks
):
    from crm import ingestion
    from crm.models import RawDelivery

    from .conftest import post_push, push_xml

    user = follower(account, wechat_sandbox, "oEarly")
    send = TemplateSend.objects.create(
        account=account,
        template=order_template,
        user=user,
        openid="oEarly",
        key="early",
        batch="early",
        status="sending",
    )
    xml = push_xml(
        openid="oEarly",
        msg_type="event",
        event="TEMPLATESENDJOBFINISH",
        MsgID="777",
        Status="success",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_push(client, xml).content == b"success"
    delivery = RawDelivery.objects.get()
    assert (delivery.status, delivery.error) == (
        "failed",
        "ReceiptTooEarly: MsgID 777 of oEarly is not recorded yet",
    )
    TemplateSend.objects.filter(pk=send.pk).update(status="sent", msgid="777")
    with django_capture_on_commit_callbacks(execute=True):
        assert ingestion.sweep_raw_deliveries(older_than_seconds=0) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("processed", 2)
    assert TemplateSend.objects.get(pk=send.pk).delivery == "success"
    # A report for a send this CRM never made is ignored.
    other = push_xml(
        openid="oEarly",
        msg_type="event",
        event="TEMPLATESENDJOBFINISH",
        MsgID="999",
        Status="success",
        create_time=1790000000,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_push(client, other).content == b"success"
    assert RawDelivery.objects.filter(status="processed").count() == 2
