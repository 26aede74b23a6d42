"""Demo of chat media: customers of the demo WeChat account send a screenshot of an order, a
photo of a damaged parcel, a voice message (with WeChat's recognition text) and a short video,
through the sandbox and the real webhook; the CRM downloads them (channels_wechat.media) and the
inbox shows them inline. The files are generated here at load time (Pillow; the video by ffmpeg
in the sandbox), never shipped. After start, the sandbox's media stream adds a picture or voice
message every 90 seconds beside the text stream.

Loading again adds nothing (any stored media of the demo account means it is loaded).
"""

import base64
import json
import urllib.error
import urllib.request

from crm.models import Message, MessageMedia
from devtools.sandboxes.wechat import DEMO_ACCOUNTS
from devtools.sandboxes.wechat_media import sample_image, sample_voice

from .wechat import SANDBOX_URL

APPID = DEMO_ACCOUNTS[0]["appid"]
FIRST_TEXT = "这是我的订单截图，帮我看看为什么还没发货"  # the loader's first message: loaded once


def services() -> list[list[str]]:
    return []  # the WeChat sandbox is devtools.demo.wechat's


def _sandbox(path: str, payload: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310  the demo's own sandbox
        f"{SANDBOX_URL}{path}",
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read().decode("utf-8"))


def _customers() -> list[str]:
    """Openids of the demo's most recent WeChat customers (the media comes from them)."""
    seen: list[str] = []
    recent = (
        Message.objects.filter(channel="wechat", account=APPID, direction="in")
        .exclude(msg_type="event")
        .order_by("-sent_at")
        .values_list("external_user", flat=True)[:200]
    )
    for openid in recent:
        if openid not in seen:
            seen.append(openid)
        if len(seen) == 4:
            break
    return seen or [f"oDemoMedia{n:04d}xYz" for n in range(4)]


def _push_with(openid: str, kind: str, content: bytes, content_type: str, **fields) -> None:
    media_id = _sandbox(
        "/sandbox/media",
        {
            "appid": APPID,
            "kind": kind,
            "content_b64": base64.b64encode(content).decode(),
            "content_type": content_type,
        },
    )["media_id"]
    _sandbox(
        "/sandbox/push",
        {"appid": APPID, "openid": openid, "msg_type": kind, "media_id": media_id, **fields},
    )


def load(stdout) -> None:
    # Not "any media": the WeChat history has pictures too (media ids the sandbox never issued).
    if Message.objects.filter(channel="wechat", account=APPID, content=FIRST_TEXT).exists():
        stdout.write("media: demo pictures and voice already loaded")
        return
    first, second, third, fourth = (_customers() * 4)[:4]
    try:
        _sandbox(
            "/sandbox/push",
            {
                "appid": APPID,
                "openid": first,
                "msg_type": "text",
                "content": FIRST_TEXT,
            },
        )
    except (urllib.error.URLError, OSError, KeyError) as exc:
        stdout.write(f"media: the WeChat sandbox is not reachable ({exc}); no demo media")
        return
    _push_with(
        first,
        "image",
        sample_image("ORDER 2026112212345678  PAID  ¥ 368.00", (60, 120, 200)),
        "image/jpeg",
        pic_url="http://mmbiz.qpic.cn/demo/order/0",
    )
    _push_with(
        second,
        "image",
        sample_image("DAMAGED PARCEL - box crushed", (170, 110, 70)),
        "image/jpeg",
        pic_url="http://mmbiz.qpic.cn/demo/parcel/0",
    )
    _push_with(
        third,
        "voice",
        sample_voice(3.0),
        "audio/amr",
        Format="amr",
        Recognition="你好，我收到的面霜少了一瓶，麻烦帮我查一下",
    )
    _sandbox("/sandbox/push_media", {"appid": APPID, "openid": fourth, "kind": "shortvideo"})
    stored = MessageMedia.objects.filter(message__account=APPID, status="stored").count()
    stdout.write(f"media: 4 customer pictures, voice and video pushed; {stored} stored by the CRM")


def after_start(stdout) -> None:
    try:
        _sandbox("/sandbox/media_stream", {"interval": 90})
    except (urllib.error.URLError, OSError) as exc:
        stdout.write(f"media: the WeChat sandbox is not reachable ({exc})")
        return
    stdout.write("media: the WeChat sandbox sends a customer picture or voice every 90 s")


def urls() -> list[tuple[str, str]]:
    return []
