"""The WeChat sandbox's temporary media (an extension of devtools.sandboxes.wechat).

WeChat API (same paths, parameters and errcodes as api.weixin.qq.com):
- `GET /cgi-bin/media/get?access_token&media_id`: the file (binary, its Content-Type and a
  Content-disposition filename); for a video, JSON `{"video_url": ...}` (served by this sandbox
  at `/sandbox/media/video?media_id=...`); 40007 invalid media_id for an unknown media id,
  another account's, or one past its 3 days; 40001 for a bad token.
- `POST /cgi-bin/media/upload?access_token&type`: multipart/form-data, the file in field `media`.
  40004 invalid media type (type not image/voice/video/thumb), 41005 media data missing,
  40005 invalid file type (image: jpg/png/gif by name AND content; voice: amr/mp3; video: mp4;
  thumb: jpg), 40006 invalid media size (empty), 40009 image over 10 MB, 40010 voice over
  2 MB, 40011 video over 10 MB, 40012 thumb over 64 KB. Answers {type, media_id, created_at};
  the media can then be fetched with media/get.

Playing WeChat:
- `POST /sandbox/media` {appid, kind, content_b64?, content_type?, expired?}: register media the
  way a user's message brings it (generated sample content when none is given); answers
  {"media_id"}. `expired: true` registers media WeChat has already deleted (media/get: 40007).
- `POST /sandbox/push_media` {appid, openid, kind, recognition?, expired?}: register media and
  push the user's image / voice / video message carrying it to the account's callback.
- `POST /sandbox/media_stream` {interval}: push a picture or voice message of a demo customer
  every `interval` seconds (0 stops), beside the text stream of /sandbox/stream.
- `GET /sandbox/uploads`: what was uploaded (type, filename, size, media_id).

Samples (`sample_image`, `sample_voice`, `sample_video`) are generated, never shipped: a JPEG
drawn by Pillow, an AMR-NB file built frame by frame (ffmpeg in Debian decodes AMR but has no
AMR encoder) and an MP4 made by ffmpeg.
"""

import base64
import io
import random
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .wechat import SandboxState, _error, push_to_callback, route

MEDIA_LIFETIME = 3 * 24 * 3600
MB = 1024 * 1024
UPLOAD_RULES: dict[str, tuple[int, int, dict[str, tuple[bytes, ...]]]] = {
    # type -> (max bytes, errcode when over, {extension: accepted magic prefixes})
    "image": (
        10 * MB,
        40009,
        {
            "jpg": (b"\xff\xd8\xff",),
            "jpeg": (b"\xff\xd8\xff",),
            "png": (b"\x89PNG",),
            "gif": (b"GIF8",),
        },
    ),
    "voice": (2 * MB, 40010, {"amr": (b"#!AMR",), "mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3")}),
    "video": (10 * MB, 40011, {"mp4": (b"",)}),
    "thumb": (64 * 1024, 40012, {"jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",)}),
}
CONTENT_TYPES = {
    "image": "image/jpeg",
    "voice": "audio/amr",
    "video": "video/mp4",
    "shortvideo": "video/mp4",
    "thumb": "image/jpeg",
}
STREAM_OPENIDS = [f"oDemoMedia{n:04d}xYz" for n in range(6)]
RECOGNITIONS = ["你好，我的快递到哪了", "收到的东西坏了，想退货", "我想换个颜色"]


def _media(state: SandboxState) -> dict[str, Any]:
    return state.extra.setdefault(
        __name__, {"media": {}, "uploads": [], "stream_interval": 0.0, "stream_thread": None}
    )


# --- samples ----------------------------------------------------------------------------------


def sample_image(text: str = "ORDER 2026", color=(220, 120, 140), size=(480, 360)) -> bytes:
    """A JPEG picture with a line of text, like a customer's photo or screenshot."""
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    draw.rectangle([20, 20, size[0] - 20, size[1] - 20], outline=(255, 255, 255), width=6)
    draw.text((40, size[1] // 2 - 10), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def sample_png(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 160, 90)).save(out, format="PNG")
    return out.getvalue()


def sample_voice(seconds: float = 2.0, seed: int = 7) -> bytes:
    """An AMR-NB file (`#!AMR\\n` then 12.2 kbit/s frames of 20 ms), as WeChat stores voice."""
    rng = random.Random(seed)
    frames = [bytes([0x3C]) + rng.randbytes(31) for _ in range(int(seconds * 50))]
    return b"#!AMR\n" + b"".join(frames)


def sample_video(seconds: int = 1) -> bytes:
    """A small MP4 (H.264) made by ffmpeg; a stand-in MP4 header when ffmpeg is missing."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return b"\x00\x00\x00\x18ftypmp42" + bytes(64)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "sample.mp4"
        subprocess.run(  # noqa: S603  fixed arguments
            [
                ffmpeg,
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"testsrc=duration={seconds}:size=160x120:rate=10",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                str(target),
            ],
            check=True,
            timeout=60,
        )
        return target.read_bytes()


SAMPLES: dict[str, Callable[[], bytes]] = {
    "image": sample_image,
    "voice": sample_voice,
    "video": sample_video,
    "shortvideo": sample_video,
}


def register_media(
    state: SandboxState,
    appid: str,
    kind: str,
    content: bytes | None = None,
    content_type: str = "",
    *,
    expired: bool = False,
) -> str:
    """Keep media as WeChat does for a user's message; returns its media_id."""
    media_id = secrets.token_urlsafe(32)
    created = time.time() - (MEDIA_LIFETIME + 60 if expired else 0)
    content = content if content is not None else SAMPLES[kind]()
    with state.lock:
        _media(state)["media"][media_id] = {
            "appid": appid,
            "kind": kind,
            "content": content,
            "content_type": content_type or CONTENT_TYPES[kind],
            "created": created,
        }
    return media_id


def _live(state: SandboxState, appid: str, media_id: str) -> dict[str, Any] | None:
    item = _media(state)["media"].get(media_id)
    if item is None or item["appid"] != appid or item["created"] + MEDIA_LIFETIME <= time.time():
        return None
    return item


def _binary(handler, content: bytes, content_type: str, filename: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-disposition", f'attachment; filename="{filename}"')
    handler.send_header("Content-Length", str(len(content)))
    handler.end_headers()
    handler.wfile.write(content)


# --- WeChat API -------------------------------------------------------------------------------


@route("GET", "/cgi-bin/media/get")
def media_get(handler, query: dict[str, str]) -> dict[str, Any] | None:
    failure = handler._injected_failure("/cgi-bin/media/get")
    if failure:
        return failure
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    media_id = query.get("media_id", "")
    with handler.state.lock:
        handler.state.count("media_get")
        item = _live(handler.state, appid, media_id)
    if item is None:
        return _error(40007, "invalid media_id")
    if item["kind"] in ("video", "shortvideo"):
        host, port = handler.server.server_address[:2]
        return {"video_url": f"http://{host}:{port}/sandbox/media/video?media_id={media_id}"}
    extension = {"image/jpeg": "jpg", "image/png": "png", "audio/amr": "amr"}.get(
        item["content_type"], "bin"
    )
    _binary(handler, item["content"], item["content_type"], f"{media_id[:12]}.{extension}")
    return None


@route("GET", "/sandbox/media/video")
def video_file(handler, query: dict[str, str]) -> dict[str, Any] | None:
    item = _media(handler.state)["media"].get(query.get("media_id", ""))
    if item is None or item["kind"] not in ("video", "shortvideo"):
        handler._reply(_error(404, "not found"), 404)
        return None
    _binary(handler, item["content"], "video/mp4", "video.mp4")
    return None


def _multipart(handler) -> dict[str, tuple[str, bytes]]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    content_type = handler.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name:
            parts[str(name)] = (
                part.get_filename() or "",
                payload if isinstance(payload, bytes) else b"",
            )
    return parts


@route("POST", "/cgi-bin/media/upload")
def media_upload(handler, query: dict[str, str]) -> dict[str, Any]:
    parts = _multipart(handler)
    failure = handler._injected_failure("/cgi-bin/media/upload")
    if failure:
        return failure
    appid, refused = handler._token_appid(query)
    if refused:
        return refused
    kind = query.get("type", "")
    if kind not in UPLOAD_RULES:
        return _error(40004, "invalid media type")
    if "media" not in parts:
        return _error(41005, "media data missing")
    filename, content = parts["media"]
    limit, too_big, types = UPLOAD_RULES[kind]
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in types or not content.startswith(types[extension]):
        return _error(40005, "invalid file type")
    if not content:
        return _error(40006, "invalid media size")
    if len(content) > limit:
        return _error(too_big, f"invalid {kind} size")
    media_id = register_media(handler.state, appid, kind, content)
    with handler.state.lock:
        handler.state.count("media_upload")
        _media(handler.state)["uploads"].append(
            {
                "appid": appid,
                "type": kind,
                "filename": filename,
                "size": len(content),
                "media_id": media_id,
            }
        )
    return {"type": kind, "media_id": media_id, "created_at": int(time.time())}


# --- playing WeChat ---------------------------------------------------------------------------


@route("POST", "/sandbox/media")
def add_media(handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    content = base64.b64decode(body["content_b64"]) if body.get("content_b64") else None
    media_id = register_media(
        handler.state,
        body["appid"],
        body.get("kind", "image"),
        content,
        body.get("content_type", ""),
        expired=bool(body.get("expired")),
    )
    return {"errcode": 0, "errmsg": "ok", "media_id": media_id}


def media_push(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    """Register media and build the user's message push that carries it (see push_to_callback)."""
    kind = body.get("kind", "image")
    media_id = register_media(state, body["appid"], kind, expired=bool(body.get("expired")))
    push: dict[str, Any] = {
        "appid": body["appid"],
        "openid": body["openid"],
        "msg_type": kind,
        "media_id": media_id,
    }
    if "create_time" in body:
        push["create_time"] = body["create_time"]
    if kind == "image":
        push["pic_url"] = f"http://mmbiz.qpic.cn/sandbox/{media_id[:16]}/0"
    elif kind == "voice":
        push["Format"] = "amr"
        if body.get("recognition"):
            push["Recognition"] = body["recognition"]
    else:
        push["ThumbMediaId"] = register_media(state, body["appid"], "image")
    return push


@route("POST", "/sandbox/push_media")
def push_media(handler, query: dict[str, str]) -> dict[str, Any]:
    push = media_push(handler.state, handler._json())
    answer = push_to_callback(handler.state, push)
    return {**answer, "media_id": push["media_id"]}


@route("GET", "/sandbox/uploads")
def uploads(handler, query: dict[str, str]) -> dict[str, Any]:
    return {"uploads": _media(handler.state)["uploads"]}


def _stream_loop(state: SandboxState) -> None:
    rng = random.Random()
    media = _media(state)
    while media["stream_interval"]:
        time.sleep(media["stream_interval"])
        for account in list(state.accounts.values()):
            kind = rng.choice(["image", "image", "voice"])
            push = media_push(
                state,
                {
                    "appid": account["appid"],
                    "openid": rng.choice(STREAM_OPENIDS),
                    "kind": kind,
                    "recognition": rng.choice(RECOGNITIONS),
                },
            )
            push_to_callback(state, push)


@route("POST", "/sandbox/media_stream")
def media_stream(handler, query: dict[str, str]) -> dict[str, Any]:
    body = handler._json()
    media = _media(handler.state)
    media["stream_interval"] = float(body.get("interval", 0))
    thread = media["stream_thread"]
    if media["stream_interval"] and not (thread and thread.is_alive()):
        media["stream_thread"] = threading.Thread(
            target=_stream_loop, args=(handler.state,), daemon=True
        )
        media["stream_thread"].start()
    return {"errcode": 0, "errmsg": "ok"}
