"""Weibo private-message images (fan-service push `data.tovfid`) downloaded with 2/mss/msget
from the sandbox over loopback, stored like WeChat's, and shown to staff only."""

import pytest
from django.test import Client

from crm.models import Message, MessageMedia
from devtools.sandboxes.wechat_media import sample_image
from devtools.sandboxes.weibo_media import register_media

from .test_fanservice import push, text_push


@pytest.fixture
def chat_media(settings, tmp_path, weibo_sandbox):
    settings.WEIBO_UPLOAD_API_BASE = weibo_sandbox.base
    settings.STORAGES = {
        **settings.STORAGES,
        "chat_media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "base_url": "/no-public-url/"},
        },
    }


def test_a_fans_picture_is_downloaded_and_shown_to_an_agent(
    client, account, weibo_sandbox, chat_media, django_capture_on_commit_callbacks, agent_user
):
    picture = sample_image("WEIBO PHOTO")
    fid = register_media(weibo_sandbox, picture, "image/jpeg")
    payload = text_push("发了一张图片", kind="image", data={"vfid": fid - 10, "tovfid": fid})
    response = push(client, payload, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    message = Message.objects.get(msg_type="image")
    media = MessageMedia.objects.get(message=message)
    assert (message.media_id, media.status, media.content_type, media.size) == (
        str(fid),
        "stored",
        "image/jpeg",
        len(picture),
    )
    agent = Client()
    agent.force_login(agent_user)
    served = agent.get(f"/inbox/media/{media.pk}/file/")
    assert (served.status_code, b"".join(served.streaming_content)) == (200, picture)
    page = agent.get(f"/inbox/{message.conversation_id}/").content.decode()
    assert f'src="/inbox/media/{media.pk}/thumb/"' in page
    assert Client().get(f"/inbox/media/{media.pk}/file/").status_code == 302


def test_an_unknown_fid_fails_once_and_is_not_retried(
    client, account, weibo_sandbox, chat_media, django_capture_on_commit_callbacks
):
    payload = text_push("发了一张图片", kind="image", data={"vfid": 1, "tovfid": 123456789})
    push(client, payload, django_capture_on_commit_callbacks)
    media = MessageMedia.objects.get()
    assert (media.status, media.error_code, media.attempts) == ("failed", "10008", 1)
