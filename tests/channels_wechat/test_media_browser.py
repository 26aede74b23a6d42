"""An agent opens a customer's picture and sends one, in a real browser (system Chromium)."""

import pytest

from crm.models import Conversation, MessageMedia
from devtools.sandboxes import wechat as sandbox
from devtools.sandboxes.wechat_media import media_push, sample_image
from tests.conftest import admin_login, make_staff

from .conftest import AES_KEY, APPID, SECRET, TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chat_media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "chat_media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "chat"), "base_url": "/no-public-url/"},
        },
    }


def test_agent_opens_a_picture_and_sends_one(
    live_server, browser_page, wechat_sandbox, chat_media, tmp_path
):
    make_staff("xiaoli", "agent")
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
    push = media_push(wechat_sandbox.state, {"appid": APPID, "openid": "oPic1", "kind": "image"})
    pushed = sandbox.push_to_callback(wechat_sandbox.state, push)
    assert (pushed["status"], pushed["body"]) == (200, "success")
    conversation = Conversation.objects.get()
    received = MessageMedia.objects.get()
    assert received.status == "stored"

    page = browser_page
    admin_login(page, live_server.url, "xiaoli", "pw-xiaoli")
    page.goto(f"{live_server.url}/inbox/{conversation.pk}/")
    thumb = page.locator(f"[data-media='{received.pk}'] img")
    thumb.wait_for()
    page.wait_for_function(
        f"document.querySelector(\"[data-media='{received.pk}'] img\").naturalWidth > 0"
    )
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 240]
    with page.context.expect_page() as opened:
        thumb.click()
    full = opened.value
    full.wait_for_load_state()
    assert full.url == f"{live_server.url}/inbox/media/{received.pk}/file/"
    assert full.evaluate("document.images[0].naturalWidth") == 480
    full.close()

    # A wrong type is refused in the page before anything is uploaded.
    wrong = tmp_path / "notes.txt"
    wrong.write_text("hello")
    page.set_input_files("#media-file", str(wrong))
    page.click("#send-media")
    assert page.inner_text("#media-error") == "微信只接受： jpg/jpeg/png ≤ 10 MB"
    assert "media_upload" not in wechat_sandbox.state.stats

    picture = tmp_path / "尺码表.jpg"
    picture.write_bytes(sample_image("SIZE CHART"))
    page.set_input_files("#media-file", str(picture))
    page.click("#send-media")
    page.wait_for_selector(".messagelist")
    assert "图片已发送。" in page.inner_text(".messagelist")
    sent = MessageMedia.objects.exclude(pk=received.pk).get()
    assert (sent.message.direction, sent.message.delivery_status) == ("out", "sent")
    page.wait_for_function(
        f"document.querySelector(\"[data-media='{sent.pk}'] img\").naturalWidth > 0"
    )
    assert [(s["touser"], s["msgtype"]) for s in wechat_sandbox.state.sent] == [("oPic1", "image")]
    assert wechat_sandbox.state.sent[0]["image"]["media_id"] == sent.message.media_id
