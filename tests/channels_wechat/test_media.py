"""Inbound and outbound chat media through the webhook, the real client and the sandbox over
loopback: pictures, voice and video downloaded and stored, shown only to staff who may see the
conversation; an agent's picture uploaded and sent; every refusal before a platform call."""

import io
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from channels_wechat.client import WeChatClient
from channels_wechat.media import download_media
from channels_wechat.media_client import upload_media
from crm.inbox import SendError
from crm.inbox.attachments import reply_with_media
from crm.media import MAX_ATTEMPTS, media_storage
from crm.models import Conversation, Message, MessageMedia
from devtools.sandboxes.wechat_media import (
    register_media,
    sample_image,
    sample_png,
    sample_video,
    sample_voice,
)
from tests.conftest import make_staff

from .conftest import APPID, post_push, push_xml
from .factories import inbound

MB = 1024 * 1024


class CommittingClient(Client):
    """The test client, running on-commit callbacks (processing, downloads) as a commit would."""

    capture = None

    def request(self, **request):
        with self.capture(execute=True):
            return super().request(**request)


@pytest.fixture
def hook(django_capture_on_commit_callbacks):
    client = CommittingClient(raise_request_exception=False)
    client.capture = django_capture_on_commit_callbacks
    return client


@pytest.fixture
def chat_media(settings, tmp_path):
    """The chat media storage in a temporary folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "chat_media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "chat"), "base_url": "/no-public-url/"},
        },
    }
    return tmp_path / "chat"


def _push_media(hook, sandbox, kind, msg_id, *, content=None, expired=False, **fields):
    media_id = register_media(sandbox.state, APPID, kind, content, expired=expired)
    response = post_push(hook, push_xml(msg_type=kind, msg_id=msg_id, media_id=media_id, **fields))
    assert (response.status_code, response.content) == (200, b"success")
    return media_id, Message.objects.get(platform_msg_id=msg_id)


def _read(name: str) -> bytes:
    with media_storage().open(name, "rb") as handle:
        return handle.read()


def test_a_picture_arrives_is_stored_with_a_thumbnail_and_shown_inline(
    hook, wechat_sandbox, chat_media, agent_user
):
    picture = sample_image("ORDER 2026", size=(800, 600))
    _media_id, message = _push_media(
        hook, wechat_sandbox, "image", "7001", content=picture, pic_url="http://mmbiz/x"
    )
    media = MessageMedia.objects.get(message=message)
    assert (media.kind, media.status, media.content_type, media.size, media.attempts) == (
        "image",
        "stored",
        "image/jpeg",
        len(picture),
        0,
    )
    assert _read(media.file) == picture
    with Image.open(io.BytesIO(_read(media.thumbnail))) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (320, 240))
    assert wechat_sandbox.state.stats["media_get"] == 1
    client = Client()
    client.force_login(agent_user)
    page = client.get(reverse("inbox:detail", args=[message.conversation_id])).content.decode()
    assert f'src="/inbox/media/{media.pk}/thumb/"' in page
    assert f'href="/inbox/media/{media.pk}/file/"' in page
    assert "media_id" not in page


def test_voice_is_converted_for_browsers_and_shown_with_the_recognition_text(
    hook, wechat_sandbox, chat_media, agent_user
):
    voice = sample_voice(2.0)
    _media_id, message = _push_media(
        hook,
        wechat_sandbox,
        "voice",
        "7002",
        content=voice,
        Format="amr",
        Recognition="我的快递到哪了",
    )
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.content_type, media.size) == ("stored", "audio/amr", len(voice))
    assert _read(media.file) == voice
    mp3 = _read(media.playable)
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3")
    client = Client()
    client.force_login(agent_user)
    page = client.get(reverse("inbox:detail", args=[message.conversation_id])).content.decode()
    assert f'<audio controls preload="none" src="/inbox/media/{media.pk}/audio/">' in page
    assert "“我的快递到哪了”" in page
    response = client.get(f"/inbox/media/{media.pk}/audio/")
    assert (response.status_code, response["Content-Type"]) == (200, "audio/mpeg")
    assert b"".join(response.streaming_content) == mp3


def test_a_video_is_fetched_through_its_video_url(hook, wechat_sandbox, chat_media, agent_user):
    video = sample_video()
    _media_id, message = _push_media(
        hook, wechat_sandbox, "video", "7003", content=video, ThumbMediaId="thumb1"
    )
    media = MessageMedia.objects.get(message=message)
    assert (media.kind, media.status, media.content_type) == ("video", "stored", "video/mp4")
    assert _read(media.file) == video
    assert video[4:8] == b"ftyp"


@pytest.fixture
def role_pages(marketing_user, agent_user, manager_user, admin_user):
    """A signed-in browser session (Django's client) per role, and an anonymous one."""
    clients = {}
    for role, user in [
        ("marketing", marketing_user),
        ("agent", agent_user),
        ("manager", manager_user),
        ("superuser", admin_user),
        ("anonymous", None),
    ]:
        clients[role] = Client()
        if user is not None:
            clients[role].force_login(user)
    return clients


def test_media_of_every_role_anonymous_and_guessed_urls(
    hook, wechat_sandbox, chat_media, role_pages, settings
):
    picture = sample_image("PARCEL")
    _media_id, message = _push_media(hook, wechat_sandbox, "image", "7004", content=picture)
    media = MessageMedia.objects.get(message=message)
    url = f"/inbox/media/{media.pk}/file/"
    expected = {"marketing": 403, "agent": 200, "manager": 200, "superuser": 200, "anonymous": 302}
    seen = {role: client.get(url).status_code for role, client in role_pages.items()}
    assert seen == expected
    agent = role_pages["agent"]
    response = agent.get(url)
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == picture
    assert role_pages["anonymous"].get(url)["Location"].startswith("/admin/login/")
    # Guessing: the next id, another variant, the storage name under MEDIA_URL, a message
    # without a conversation (a notice) and media still downloading are all 404.
    assert agent.get(f"/inbox/media/{media.pk + 1}/file/").status_code == 404
    assert agent.get(f"/inbox/media/{media.pk}/original/").status_code == 404
    assert agent.get(f"{settings.MEDIA_URL}{media.file}").status_code == 404
    assert agent.get(f"/media/chat/{media.file}").status_code == 404
    notice = Message.objects.create(
        customer=message.customer,
        channel="wechat",
        account=APPID,
        external_user="oUser1",
        direction="out",
        msg_type="image",
        sender_kind="system",
    )
    hidden = MessageMedia.objects.create(
        message=notice, kind="image", status="stored", file=media.file
    )
    assert agent.get(f"/inbox/media/{hidden.pk}/file/").status_code == 404
    MessageMedia.objects.filter(pk=media.pk).update(status="pending")
    assert agent.get(url).status_code == 404


def test_expired_media_shows_once_as_expired_and_is_never_fetched_again(
    hook, wechat_sandbox, chat_media, agent_user
):
    _media_id, message = _push_media(hook, wechat_sandbox, "image", "7005", expired=True)
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.error_code, media.file) == ("expired", "40007", "")
    assert wechat_sandbox.state.stats["media_get"] == 1
    assert download_media(message.pk) == "skipped"
    assert wechat_sandbox.state.stats["media_get"] == 1
    client = Client()
    client.force_login(agent_user)
    page = client.get(reverse("inbox:detail", args=[message.conversation_id])).content.decode()
    assert page.count("已过期") == 1
    assert '<span class="media-expired">[图片] 已过期</span>' in page


def test_media_older_than_three_days_expires_without_a_call(wechat_sandbox, account, chat_media):
    conversation = inbound(account, at=timezone.now() - timedelta(days=4))
    message = conversation.messages.get()
    Message.objects.filter(pk=message.pk).update(msg_type="image", media_id="old-media")
    MessageMedia.objects.create(message=message, kind="image")
    assert download_media(message.pk) == "expired"
    assert MessageMedia.objects.get(message=message).error_code == "expired"
    assert "media_get" not in wechat_sandbox.state.stats


def test_transient_errors_are_retried_then_stored(hook, wechat_sandbox, chat_media):
    wechat_sandbox.state.failures["/cgi-bin/media/get"] = [-1, -1]
    _media_id, message = _push_media(hook, wechat_sandbox, "image", "7006")
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.attempts, media.error_code) == ("stored", 2, "")
    assert wechat_sandbox.state.stats["media_get"] == 1  # the two failures are not counted


def test_transient_errors_stop_after_the_last_attempt(hook, wechat_sandbox, chat_media):
    wechat_sandbox.state.failures["/cgi-bin/media/get"] = [-1] * (MAX_ATTEMPTS + 3)
    _media_id, message = _push_media(hook, wechat_sandbox, "image", "7007")
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.attempts, media.error_code) == ("failed", MAX_ATTEMPTS, "-1")
    assert wechat_sandbox.state.failures["/cgi-bin/media/get"] == [-1, -1, -1]
    assert download_media(message.pk) == "skipped"


def test_a_text_message_queues_no_download(hook, wechat_sandbox, chat_media):
    response = post_push(hook, push_xml(content="你好", msg_id="7008"))
    assert response.status_code == 200
    assert MessageMedia.objects.count() == 0


# --- outbound ---------------------------------------------------------------------------------


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def test_an_agent_sends_a_picture(wechat_sandbox, account, chat_media, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    picture = sample_image("REPLY")
    client = Client()
    client.force_login(agent_user)
    response = client.post(
        reverse("inbox:send-media", args=[conversation.pk]),
        {"kind": "image", "file": _upload("退货说明.jpg", picture)},
        follow=True,
    )
    detail = reverse("inbox:detail", args=[conversation.pk])
    assert response.redirect_chain == [(detail, 302)]
    uploads = wechat_sandbox.state.extra["devtools.sandboxes.wechat_media"]["uploads"]
    assert [(u["type"], u["size"]) for u in uploads] == [("image", len(picture))]
    sent = wechat_sandbox.state.sent
    assert [(s["touser"], s["msgtype"], s["image"]) for s in sent] == [
        ("oUser1", "image", {"media_id": uploads[0]["media_id"]})
    ]
    message = Message.objects.get(direction="out")
    assert (message.msg_type, message.delivery_status, message.media_id, message.sender) == (
        "image",
        "sent",
        uploads[0]["media_id"],
        agent_user,
    )
    media = message.media
    assert (media.status, media.kind, media.content_type) == ("stored", "image", "image/jpeg")
    assert _read(media.file) == picture
    page = response.content.decode()
    assert f'src="/inbox/media/{media.pk}/thumb/"' in page
    assert "图片已发送。" in page


@pytest.mark.parametrize(
    ("name", "content", "kind", "error"),
    [
        ("a.gif", b"GIF89a" + bytes(100), "image", "图片必须是 jpg 或 png 文件。"),
        ("a.txt", b"hello", "image", "图片必须是 jpg 或 png 文件。"),
        ("a.jpg", b"", "image", "文件为空。"),
        (
            "big.jpg",
            b"\xff\xd8\xff" + bytes(10 * MB),
            "image",
            "图片不能超过 10 MB（微信的限制）；此文件为 10.0 MB。",
        ),
        ("a.jpg", None, "image", "文件内容不是 jpg 文件。"),  # a PNG named .jpg
        ("a.png", b"not a picture at all", "image", "文件内容不是 png 文件。"),
        (
            "v.amr",
            b"#!AMR\n" + bytes(2 * MB),
            "voice",
            "语音不能超过 2 MB（微信的限制）；此文件为 2.0 MB。",
        ),
        ("v.amr", b"RIFF....WAVE", "voice", "文件内容不是 amr 文件。"),
        ("v.wav", b"RIFF....WAVE", "voice", "语音必须是 amr 或 mp3 文件。"),
        ("a.pdf", b"%PDF-1.4", "file", "只能发送图片和语音。"),
    ],
)
def test_a_wrong_upload_is_refused_before_any_platform_call(
    wechat_sandbox, account, chat_media, agent_user, name, content, kind, error
):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    content = sample_png() if content is None else content
    with pytest.raises(ValidationError) as exc:
        reply_with_media(conversation, _upload(name, content), agent=agent_user, kind=kind)
    assert exc.value.messages == [error]
    assert wechat_sandbox.state.stats == {}
    assert Message.objects.filter(direction="out").count() == 0
    assert MessageMedia.objects.count() == 0


def test_the_page_explains_a_refused_upload(wechat_sandbox, account, chat_media, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    client = Client()
    client.force_login(agent_user)
    response = client.post(
        reverse("inbox:send-media", args=[conversation.pk]),
        {"kind": "image", "file": _upload("photo.png", b"MZ\x90\x00 an executable")},
        follow=True,
    )
    assert "文件内容不是 png 文件。" in response.content.decode()
    assert wechat_sandbox.state.stats == {}


def test_outside_the_window_a_picture_is_refused_without_uploading(
    wechat_sandbox, account, chat_media, agent_user
):
    conversation = inbound(account, at=timezone.now() - timedelta(hours=49))
    with pytest.raises(SendError) as exc:
        reply_with_media(conversation, _upload("a.jpg", sample_image()), agent=agent_user)
    assert exc.value.code == "45015"
    assert "media_upload" not in wechat_sandbox.state.stats
    failed = Message.objects.get(direction="out")
    assert (failed.delivery_status, failed.error_code) == ("failed", "45015")


def test_a_resolved_conversation_takes_no_picture(wechat_sandbox, account, chat_media, agent_user):
    conversation = inbound(account)
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    conversation.refresh_from_db()
    with pytest.raises(Exception) as exc:  # noqa: PT011  InboxError
        reply_with_media(conversation, _upload("a.jpg", sample_image()), agent=agent_user)
    assert exc.value.messages == ["该会话已解决，不能再回复。"]
    assert wechat_sandbox.state.stats == {}


@pytest.mark.parametrize(
    ("kind", "name", "content", "code"),
    [
        ("file", "a.jpg", None, "40004"),
        ("image", "a.bmp", b"BM" + bytes(20), "40005"),
        ("image", "a.jpg", b"not a jpeg", "40005"),
        ("voice", "a.mp3", b"", "40005"),
        ("image", "a.jpg", b"\xff\xd8\xff" + bytes(10 * MB), "40009"),
        ("voice", "a.amr", b"#!AMR\n" + bytes(2 * MB), "40010"),
    ],
)
def test_the_sandbox_refuses_uploads_with_wechats_codes(
    wechat_sandbox, account, kind, name, content, code
):
    content = sample_image() if content is None else content
    with pytest.raises(SendError) as exc:
        upload_media(WeChatClient(account), kind, name, content, "application/octet-stream")
    assert exc.value.code == code
    assert "media_upload" not in wechat_sandbox.state.stats


def test_a_user_who_uploads_a_voice_gets_an_mp3_copy_and_sends_voice(
    wechat_sandbox, account, chat_media, agent_user
):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    voice = sample_voice(1.0)
    message = reply_with_media(
        conversation, _upload("hi.amr", voice), agent=agent_user, kind="voice"
    )
    assert (message.delivery_status, message.msg_type) == ("sent", "voice")
    assert wechat_sandbox.state.sent[0]["voice"] == {"media_id": message.media_id}
    mp3 = _read(message.media.playable)
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3")


def test_a_staff_member_without_the_reply_permission_cannot_send(
    wechat_sandbox, account, chat_media
):
    conversation = inbound(account)
    client = Client()
    client.force_login(make_staff("mk", "marketing"))
    response = client.post(
        reverse("inbox:send-media", args=[conversation.pk]),
        {"kind": "image", "file": _upload("a.jpg", sample_image())},
    )
    assert response.status_code == 403
    assert wechat_sandbox.state.stats == {}
    anonymous = Client().post(
        reverse("inbox:send-media", args=[conversation.pk]),
        {"kind": "image", "file": _upload("a.jpg", sample_image())},
    )
    assert (anonymous.status_code, anonymous["Location"][:13]) == (302, "/admin/login/")
