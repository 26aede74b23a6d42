"""The live inbox in two real browsers (system Chromium) against the ASGI server (Daphne's
runserver in a child process, as the demo runs it): a WeChat push through the webhook appears
on both agents' open inbox pages without a reload, unread counts follow, and an assignment
notifies the agent it was given to (Notification API)."""

import shutil
import time

import pytest

from crm.models import Conversation
from devtools.sandboxes import wechat as sandbox
from tests.conftest import CHROMIUM_ARGS, admin_login, make_staff
from tests.live_asgi import asgi_server  # noqa: F401

from .conftest import AES_KEY, APPID, SECRET, TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records what the page hands to the Notification API (headless Chromium shows nothing).
SPY_NOTIFICATIONS = """
window.__notes = [];
(function () {
  var Real = window.Notification;
  function Spy(title, options) {
    window.__notes.push({ title: title, body: options && options.body });
    try { return new Real(title, options); } catch (e) { return {}; }
  }
  Object.defineProperty(Spy, "permission", { get: function () { return Real.permission; } });
  Spy.requestPermission = function () { return Real.requestPermission(); };
  window.Notification = Spy;
})();
"""


@pytest.fixture
def two_browsers():
    """Two separate browser sessions (two agents), with notifications allowed."""
    import os

    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        pages = []
        for _ in range(2):
            context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
            context.add_init_script(SPY_NOTIFICATIONS)
            page = context.new_page()
            page.set_default_timeout(15000)
            pages.append(page)
        yield pages
        browser.close()
    from django.db import connections

    connections.close_all()


def connected(page) -> None:
    page.wait_for_function("window.inboxLive && window.inboxLive.connected")


def unread(page, tab: str) -> str:
    badge = page.locator(f"#unread-{tab}")
    return "" if badge.is_hidden() else badge.inner_text()


def test_push_reaches_both_open_inboxes_and_assignment_notifies(
    asgi_server,  # noqa: F811
    two_browsers,
    wechat_sandbox,
):
    make_staff("xiaowang", "agent")
    make_staff("laoli", "agent")
    sandbox._add_account_to(
        wechat_sandbox.state,
        {
            "appid": APPID,
            "secret": SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
            "original_id": "gh_10f6c3c3ac5a",
            "callback": f"{asgi_server.url}/hooks/wechat/{APPID}",
        },
    )
    mine, theirs = two_browsers
    mine.context.grant_permissions(["notifications"], origin=asgi_server.url)
    for page, name in ((mine, "xiaowang"), (theirs, "laoli")):
        admin_login(page, asgi_server.url, name, f"pw-{name}")
        page.goto(f"{asgi_server.url}/inbox/")
        connected(page)
        # Rendered offline (no presence yet); the page's first heartbeat brings the agent
        # online, and the select shows what the server answered, as the dot does.
        page.wait_for_function("document.getElementById('presence').value === 'online'")
        assert page.get_attribute("#presence-state", "class") == "presence-online"
        assert page.locator("tr.conversation-row").count() == 0
        assert page.inner_text("#live-status") == "实时"

    began = time.monotonic()
    pushed = sandbox.push_to_callback(
        wechat_sandbox.state,
        {"appid": APPID, "openid": "oLive1", "msg_type": "text", "content": "有人在吗？"},
    )
    assert (pushed["status"], pushed["body"]) == (200, "success")
    answered = time.monotonic() - began  # the hook processes the push before it answers
    conversation = Conversation.objects.get()
    row = f"tr.conversation-row[data-id='{conversation.pk}']"
    # The event arrives over the socket (the fallback polling is off while it is connected),
    # and the row is fetched: on both pages, without a reload.
    for page in (mine, theirs):
        page.wait_for_selector(row, timeout=5000)
    elapsed = time.monotonic() - began
    print(f"webhook answered in {answered:.2f} s; on both pages after {elapsed:.2f} s")
    assert elapsed - answered < 1.0, f"hook answer to both pages: {elapsed - answered:.2f} s"
    for page in (mine, theirs):
        assert page.evaluate("window.inboxLive.applied") == 1
        page.wait_for_function(
            "document.getElementById('unread-all') && "
            "document.getElementById('unread-all').innerText === '1'"
        )
        assert (unread(page, "mine"), unread(page, "unassigned"), unread(page, "all")) == (
            "",
            "1",
            "1",
        )

    # laoli gives the conversation to xiaowang: xiaowang is notified, laoli is not.
    theirs.click(f"{row} a")
    theirs.wait_for_selector("#assign-agent")
    theirs.select_option("#assign-agent", label="xiaowang")
    theirs.click("#assign")
    theirs.wait_for_selector(".messagelist")
    mine.wait_for_function("window.__notes.length === 1")
    assert mine.evaluate("window.__notes") == [
        {"title": "有一个会话分配给了您", "body": "打开收件箱回复客户。"}
    ]
    assert mine.evaluate("Notification.permission") == "granted"
    assert mine.inner_text("#live-toast") == "有一个会话分配给了您"
    mine.wait_for_function("document.getElementById('unread-mine').innerText === '1'")
    assert theirs.evaluate("window.__notes") == []

    # xiaowang opens it (read), then a new message arrives on the open conversation page.
    mine.click(f"{row} a")
    mine.wait_for_selector("#reply-form")
    connected(mine)
    assert mine.inner_text("#assignee") == "xiaowang"
    sandbox.push_to_callback(
        wechat_sandbox.state,
        {"appid": APPID, "openid": "oLive1", "msg_type": "text", "content": "订单号 20260101"},
    )
    mine.wait_for_function(
        "document.getElementById('thread').innerText.includes('订单号 20260101')", timeout=5000
    )
    mine.goto(f"{asgi_server.url}/inbox/")
    connected(mine)
    mine.wait_for_function("document.getElementById('unread-all') !== null")
    assert (unread(mine, "mine"), unread(mine, "all")) == ("", "")


def test_page_polls_while_the_socket_cannot_connect(asgi_server, two_browsers, wechat_sandbox):  # noqa: F811
    """The socket is refused (as a proxy without WebSocket support would): the page says it is
    refreshing every few seconds, and a push still shows up, through the polling fallback."""
    make_staff("xiaowang", "agent")
    sandbox._add_account_to(
        wechat_sandbox.state,
        {
            "appid": APPID,
            "secret": SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
            "original_id": "gh_10f6c3c3ac5a",
            "callback": f"{asgi_server.url}/hooks/wechat/{APPID}",
        },
    )
    page = two_browsers[0]
    page.route_web_socket("**/ws/inbox/", lambda ws: ws.close(code=1011))
    admin_login(page, asgi_server.url, "xiaowang", "pw-xiaowang")
    page.goto(f"{asgi_server.url}/inbox/")
    page.wait_for_function("document.getElementById('live-status').innerText !== ''")
    assert page.inner_text("#live-status") == "正在重新连接；每隔几秒刷新一次"
    assert page.evaluate("window.inboxLive.connected") is False
    pushed = sandbox.push_to_callback(
        wechat_sandbox.state,
        {"appid": APPID, "openid": "oPoll1", "msg_type": "text", "content": "轮询也能看到吗？"},
    )
    assert pushed["status"] == 200
    conversation = Conversation.objects.get()
    page.wait_for_selector(f"tr.conversation-row[data-id='{conversation.pk}']", timeout=15000)
    page.wait_for_function(
        "document.getElementById('unread-all') && "
        "document.getElementById('unread-all').innerText === '1'",
        timeout=15000,
    )
    assert page.evaluate("window.inboxLive.connected") is False
