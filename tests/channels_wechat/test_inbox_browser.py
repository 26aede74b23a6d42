"""An agent answers and resolves a WeChat conversation in a real browser (system Chromium)."""

import pytest

from channels_wechat.models import CannedResponse
from crm.models import Conversation, Message
from devtools.sandboxes import wechat as sandbox
from tests.conftest import admin_login, make_staff

from .conftest import AES_KEY, APPID, SECRET, TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_answers_a_pushed_message_and_resolves(live_server, browser_page, wechat_sandbox):
    make_staff("xiaowang", "agent")
    CannedResponse.objects.create(title="发货时间", text="您好，订单会在48小时内发货，请耐心等待。")
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
    pushed = sandbox.push_to_callback(
        wechat_sandbox.state,
        {
            "appid": APPID,
            "openid": "oBrowser1",
            "msg_type": "text",
            "content": "我的订单什么时候发货？",
        },
    )
    assert (pushed["status"], pushed["body"]) == (200, "success")
    conversation = Conversation.objects.get()

    page = browser_page
    admin_login(page, live_server.url, "xiaowang", "pw-xiaowang")
    page.goto(f"{live_server.url}/inbox/")
    page.click(f"tr[data-id='{conversation.pk}'] a")
    page.wait_for_selector("#reply-form")
    assert "我的订单什么时候发货？" in page.inner_text("#thread")
    page.select_option("#canned", label="发货时间")
    assert page.input_value("#reply-text") == "您好，订单会在48小时内发货，请耐心等待。"
    page.click("#send")
    page.wait_for_selector(".messagelist")
    assert "您好，订单会在48小时内发货，请耐心等待。" in page.inner_text("#thread")
    assert [s["text"]["content"] for s in wechat_sandbox.state.sent] == [
        "您好，订单会在48小时内发货，请耐心等待。"
    ]
    # A new customer message appears without reloading the page.
    sandbox.push_to_callback(
        wechat_sandbox.state,
        {"appid": APPID, "openid": "oBrowser1", "msg_type": "text", "content": "好的，谢谢！"},
    )
    page.wait_for_function("document.getElementById('thread').innerText.includes('好的，谢谢！')")
    page.click("#resolve")
    page.wait_for_selector(".messagelist")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_by.username) == ("resolved", "xiaowang")
    assert Message.objects.filter(sender_kind="survey", delivery_status="sent").count() == 1
    assert page.locator("#reply-form").count() == 0
