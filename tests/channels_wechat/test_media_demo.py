"""The demo's media loader: customers' pictures, voice and video pushed through the sandbox and
the real webhook (a live server), downloaded and stored; loading again adds nothing."""

import io

import pytest

from crm.models import MessageMedia
from devtools.demo import media as demo_media
from devtools.demo import wechat as demo_wechat
from devtools.sandboxes import wechat as sandbox
from devtools.sandboxes.wechat import DEMO_ACCOUNTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_media_loads_pictures_voice_and_video_once(
    live_server, wechat_sandbox, settings, tmp_path, monkeypatch
):
    settings.STORAGES = {
        **settings.STORAGES,
        "chat_media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "base_url": "/no-public-url/"},
        },
    }
    spec = DEMO_ACCOUNTS[0]
    demo_wechat._setup_account()
    sandbox._add_account_to(
        wechat_sandbox.state,
        {**spec, "callback": f"{live_server.url}/hooks/wechat/{spec['appid']}"},
    )
    monkeypatch.setattr(demo_media, "SANDBOX_URL", wechat_sandbox.url)
    out = io.StringIO()
    demo_media.load(out)
    rows = sorted(MessageMedia.objects.values_list("kind", "status"))
    assert rows == [
        ("image", "stored"),
        ("image", "stored"),
        ("shortvideo", "stored"),
        ("voice", "stored"),
    ]
    voice = MessageMedia.objects.get(kind="voice")
    assert voice.playable and voice.message.data["recognition"].startswith("你好")
    assert "4 customer pictures, voice and video pushed; 4 stored by the CRM" in out.getvalue()
    demo_media.load(out)
    assert MessageMedia.objects.count() == 4
    assert "already loaded" in out.getvalue()
