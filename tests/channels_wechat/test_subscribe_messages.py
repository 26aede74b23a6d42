"""Subscription messages (issue #18 item 2) and template delivery reports: the sandbox pushes the
consent and report events through the real webhook (a live server), the CRM records consents,
sends only while one remains and uses one up per send."""

import time

import pytest

from channels_wechat.models import (
    MessageTemplate,
    SubscribeConsent,
    SubscribeEvent,
    TemplateSend,
    WeChatUser,
)
from channels_wechat.template_client import TemplateClient
from channels_wechat.templates import (
    add_library_template,
    send_report,
    send_template_message,
    sync_templates,
)
from crm.inbox import SendError
from crm.models import Message
from devtools.sandboxes import wechat as sandbox
from devtools.sandboxes import wechat_templates as sandbox_templates

from .conftest import AES_KEY, APPID, SECRET, TOKEN
from .test_templates import ORDER_DATA, follower, sandbox_post, sandbox_sent

pytestmark = pytest.mark.django_db(transaction=True)

ONCE = {
    "priTmplId": "sub-once-order",
    "title": "订单状态提醒",
    "content": "订单号：{{character_string1.DATA}}\n状态：{{phrase2.DATA}}",
    "example": "订单号：2026120601\n状态：已发货",
    "type": 2,
}
LONG = {
    "priTmplId": "sub-long-member",
    "title": "会员权益通知",
    "content": "权益：{{thing1.DATA}}",
    "example": "权益：生日礼包",
    "type": 3,
}
ONCE_DATA = {"character_string1": "2026120601", "phrase2": "已发货"}


@pytest.fixture
def live_mp(live_server, wechat_sandbox, account):
    """The sandbox pushes to the CRM's real webhook; it knows two subscription templates."""
    sandbox._add_account_to(
        wechat_sandbox.state,
        {
            "appid": APPID,
            "secret": SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
            "original_id": "gh_10f6c3c3ac5a",
            "callback": f"{live_server.url}/hooks/wechat/{APPID}",
        },
    )
    sandbox_post(
        wechat_sandbox, "/sandbox/templates/setup", {"appid": APPID, "subscribe": [ONCE, LONG]}
    )
    sync_templates(account)
    return wechat_sandbox


def _consent(openid: str, template_id: str):
    row = SubscribeConsent.objects.get(user__openid=openid, template_id=template_id)
    return (row.remaining, row.long_term)


def _popup(server, openid, choices, path="/sandbox/subscribe/popup", at=0):
    body = {"appid": APPID, "openid": openid, "choices": choices, "create_time": at}
    answer = sandbox_post(server, path, body)
    assert (answer["status"], answer["body"]) == (200, "success")


def _bizsends(server) -> list[tuple[str, str]]:
    return [
        (s["touser"], s["template_id"]) for s in sandbox_sent(server) if s["kind"] == "subscribe"
    ]


def test_one_time_consent_allows_one_send(live_mp, account):
    _popup(live_mp, "oSub1", {ONCE["priTmplId"]: "accept", LONG["priTmplId"]: "reject"})
    assert _consent("oSub1", ONCE["priTmplId"]) == (1, False)
    assert _consent("oSub1", LONG["priTmplId"]) == (0, False)
    assert WeChatUser.objects.get(openid="oSub1").customer_id is not None
    assert Message.objects.count() == 0  # consent events are not shown in the inbox

    template = MessageTemplate.objects.get(template_id=ONCE["priTmplId"])
    send_template_message(template, ["oSub1"], ONCE_DATA, batch="s1")
    assert _bizsends(live_mp) == [("oSub1", ONCE["priTmplId"])]
    assert _consent("oSub1", ONCE["priTmplId"]) == (0, False)
    # No consent left: refused here, WeChat is not called.
    send_template_message(template, ["oSub1"], ONCE_DATA, batch="s2")
    refused = TemplateSend.objects.get(batch="s2")
    assert (refused.status, refused.error_code) == ("failed", "43101")
    assert _bizsends(live_mp) == [("oSub1", ONCE["priTmplId"])]
    # Two more acceptances: two more sends.
    _popup(live_mp, "oSub1", {ONCE["priTmplId"]: "accept"}, at=int(time.time()) + 1)
    _popup(live_mp, "oSub1", {ONCE["priTmplId"]: "accept"}, at=int(time.time()) + 2)
    assert _consent("oSub1", ONCE["priTmplId"]) == (2, False)
    send_template_message(template, ["oSub1"], ONCE_DATA, batch="s3")
    assert _consent("oSub1", ONCE["priTmplId"]) == (1, False)
    # WeChat reports the delivery (subscribe_msg_sent_event).
    report = sandbox_post(live_mp, "/sandbox/subscribe/report", {"appid": APPID})
    assert [status for _o, _m, status in report["pushed"]] == [200, 200]
    assert send_report("s1")["delivery"] == {"success": 1}
    assert send_report("s3")["delivery"] == {"success": 1}


def test_long_term_consent_stays_until_withdrawn(live_mp, account):
    _popup(live_mp, "oLong", {LONG["priTmplId"]: "accept"})
    assert _consent("oLong", LONG["priTmplId"]) == (0, True)
    template = MessageTemplate.objects.get(template_id=LONG["priTmplId"])
    for n in range(2):
        send_template_message(template, ["oLong"], {"thing1": "生日礼包"}, batch=f"l{n}")
    assert _bizsends(live_mp) == [("oLong", LONG["priTmplId"])] * 2
    assert _consent("oLong", LONG["priTmplId"]) == (0, True)
    change = "/sandbox/subscribe/change"
    _popup(live_mp, "oLong", {LONG["priTmplId"]: "reject"}, path=change, at=int(time.time()) + 1)
    assert _consent("oLong", LONG["priTmplId"]) == (0, False)
    send_template_message(template, ["oLong"], {"thing1": "生日礼包"}, batch="l9")
    assert TemplateSend.objects.get(batch="l9").error_code == "43101"
    assert len(_bizsends(live_mp)) == 2


def test_a_redelivered_popup_push_counts_once(live_mp, account):
    account_info = live_mp.state.accounts[APPID]
    live_mp.state.user(APPID, "oTwice")
    xml = sandbox_templates._event_xml(
        account_info,
        "oTwice",
        "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent",
        [
            f"<List><TemplateId>{ONCE['priTmplId']}</TemplateId>"
            "<SubscribeStatusString>accept</SubscribeStatusString><PopupScene>0</PopupScene></List>"
        ],
    )
    body = {"appid": APPID, "openid": "oTwice", "msg_type": "event", "raw": xml}
    for _ in range(3):  # WeChat retries a push up to three times
        assert sandbox.push_to_callback(live_mp.state, dict(body))["body"] == "success"
    assert _consent("oTwice", ONCE["priTmplId"]) == (1, False)
    assert SubscribeEvent.objects.count() == 1


def test_sandbox_refuses_bizsend_without_consent_with_43101(live_mp, account):
    live_mp.state.user(APPID, "oNoConsent")
    with pytest.raises(SendError) as exc:
        TemplateClient(account).send_subscribe("oNoConsent", ONCE["priTmplId"], ONCE_DATA)
    assert (exc.value.code, exc.value.message) == ("43101", "user refuse to accept the msg")


def test_template_delivery_reports_are_recorded_per_message(live_mp, account):
    template = add_library_template(account, "TM00015")
    users = [follower(account, live_mp, openid) for openid in ("oA", "oBlock", "oSys")]
    send_template_message(template, users, ORDER_DATA, batch="r")
    answer = sandbox_post(
        live_mp,
        "/sandbox/templates/report",
        {"appid": APPID, "blocked": ["oBlock"], "failed": ["oSys"]},
    )
    assert [(o, s, h) for o, _m, s, h in answer["pushed"]] == [
        ("oA", "success", 200),
        ("oBlock", "failed:user block", 200),
        ("oSys", "failed: system failed", 200),
    ]
    rows = {r.openid: (r.status, r.delivery) for r in TemplateSend.objects.all()}
    assert rows == {
        "oA": ("sent", "success"),
        "oBlock": ("sent", "failed:user block"),
        "oSys": ("sent", "failed: system failed"),
    }
    assert send_report("r") == {
        "recipients": 3,
        "sent": 3,
        "failed": 0,
        "failed_by_reason": {},
        "held": 0,
        "pending": 0,
        "delivery": {"failed: system failed": 1, "failed:user block": 1, "success": 1},
    }
    # The same report pushed again changes nothing and shows nothing in the inbox.
    sent = TemplateSend.objects.get(openid="oA")
    again = {
        "appid": APPID,
        "openid": "oA",
        "msg_type": "event",
        "event": "TEMPLATESENDJOBFINISH",
        "MsgID": sent.msgid,
        "Status": "success",
        "create_time": int(time.time()),
    }
    assert sandbox.push_to_callback(live_mp.state, again)["body"] == "success"
    assert TemplateSend.objects.get(openid="oA").delivery == "success"
    assert Message.objects.count() == 0
