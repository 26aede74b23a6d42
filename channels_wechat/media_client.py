"""WeChat temporary media over HTTP: `cgi-bin/media/get` (download) and `cgi-bin/media/upload`.

HTTP only, with channels_wechat.client's access token (a refused token is replaced once).
`media/get` answers the file itself (binary, with its Content-Type), JSON `{"video_url": ...}`
for a video (downloaded from that URL), or a JSON error: 40007 invalid media_id (unknown, or
deleted by WeChat after 3 days). `media/upload` takes multipart/form-data with the file in the
field `media` and `type` image | voice | video | thumb, and answers `{type, media_id,
created_at}`; errors 40004 invalid media type, 40005 invalid file type, 40006 invalid size,
40009 image too big, 40010 voice too big.

Errors are crm.inbox.SendError with WeChat's errcode; HTTP 5xx, -1 and network errors are
transient (the download task retries them), the rest are not.
"""

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

from crm.inbox import SendError

from .client import TOKEN_ERRORS, TRANSIENT_ERRORS, WeChatClient

MAX_DOWNLOAD = 30 * 1024 * 1024


def _open(request, timeout: float) -> tuple[bytes, str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = response.read(MAX_DOWNLOAD + 1)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        transient = exc.code >= 500 or exc.code == 429
        raise SendError(f"http_{exc.code}", f"HTTP {exc.code}", transient=transient) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError("network", f"WeChat unreachable: {reason}", transient=True) from None
    if len(payload) > MAX_DOWNLOAD:
        raise SendError("too_big", "the media is larger than 30 MB")
    return payload, content_type


def _json_error(payload: bytes) -> dict:
    try:
        answer = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SendError("bad_response", "WeChat answered something else than JSON") from None
    code = str(answer.get("errcode", 0))
    if code != "0":
        raise SendError(code, str(answer.get("errmsg", "")), transient=code in TRANSIENT_ERRORS)
    return answer


def _authenticated(client: WeChatClient, send) -> tuple[bytes, str]:
    for attempt in range(2):
        token = client.access_token()
        try:
            return send(token)
        except SendError as exc:
            if exc.code in TOKEN_ERRORS and attempt == 0:
                client.invalidate_token(token)
                continue
            raise
    raise AssertionError("unreachable")


def get_media(client: WeChatClient, media_id: str) -> tuple[bytes, str]:
    """Download temporary media: (content, content type). Raises SendError."""

    def send(token: str) -> tuple[bytes, str]:
        query = urllib.parse.urlencode({"access_token": token, "media_id": media_id})
        payload, content_type = _open(f"{client.base}/cgi-bin/media/get?{query}", client.timeout)
        if content_type.startswith(("application/json", "text/plain")) or payload[:1] == b"{":
            answer = _json_error(payload)
            if not answer.get("video_url"):
                raise SendError("bad_response", "media/get answered JSON without a video_url")
            video, video_type = _open(answer["video_url"], client.timeout)
            return video, video_type or "video/mp4"
        return payload, content_type

    return _authenticated(client, send)


def upload_media(
    client: WeChatClient, kind: str, filename: str, content: bytes, content_type: str
) -> str:
    """Upload temporary media of `kind` (image, voice, video, thumb); returns its media_id."""
    boundary = f"----crm{secrets.token_hex(12)}"
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "") or "media"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="media"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def send(token: str) -> tuple[bytes, str]:
        query = urllib.parse.urlencode({"access_token": token, "type": kind})
        request = urllib.request.Request(  # noqa: S310  the base URL comes from settings
            f"{client.base}/cgi-bin/media/upload?{query}",
            data=body,
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        payload, _type = _open(request, client.timeout)
        answer = _json_error(payload)
        if not answer.get("media_id"):
            raise SendError("bad_response", "media/upload answered no media_id")
        return str(answer["media_id"]).encode(), ""

    media_id, _ = _authenticated(client, send)
    return media_id.decode()
