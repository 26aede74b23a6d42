"""Weibo private-message media: a fan's image or voice (fan-service push `data.tovfid`, the
recipient's file id) downloaded with `2/mss/msget?access_token&fid=<tovfid>` on
upload.api.weibo.com (settings.WEIBO_UPLOAD_API_BASE) and stored by crm.media, as WeChat's.

`queue_downloads` runs in the push's processing (caller's transaction); `download_media` in
`download_media_task`. A transient error (HTTP 5xx, network, Weibo's transient codes) counts an
attempt and asks for a retry; any other refusal (an unknown fid, a revoked token) fails it for
good. Weibo documents no lifetime for private-message media.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from crm.media import fail_media, queue_media, record_failed_attempt, store_media
from crm.models import MediaStatus, Message, MessageMedia
from crm.tasks_queue import enqueue_on_commit

from .client import TransientError, WeiboError, raise_for_error
from .models import WeiboAccount

logger = logging.getLogger(__name__)

MAX_DOWNLOAD = 30 * 1024 * 1024


def queue_downloads(messages: list[Message]) -> None:
    """Pending media rows for new image / voice messages, their downloads queued after commit."""
    for message_id in queue_media(messages):
        enqueue_on_commit("channels_weibo.tasks.download_media_task", message_id)


def msget(access_token: str, fid: str) -> tuple[bytes, str]:
    """The file of a private message: (content, content type). Raises WeiboError."""
    base = settings.WEIBO_UPLOAD_API_BASE.rstrip("/")
    query = urllib.parse.urlencode({"access_token": access_token, "fid": fid})
    try:
        with urllib.request.urlopen(  # noqa: S310  the base URL comes from settings
            f"{base}/2/mss/msget?{query}", timeout=settings.PLATFORM_HTTP_TIMEOUT
        ) as response:
            payload = response.read(MAX_DOWNLOAD + 1)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        raise_for_error(body, exc.code)
        raise WeiboError(exc.code, f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(0, f"Weibo unreachable: {getattr(exc, 'reason', exc)}") from None
    if content_type.startswith("application/json"):
        raise_for_error(json.loads(payload.decode("utf-8")))
        raise WeiboError(0, "msget answered JSON without a file")
    if len(payload) > MAX_DOWNLOAD:
        raise WeiboError(0, "the media is larger than 30 MB")
    return payload, content_type


def download_media(message_id: int) -> str:
    """Download and store a Weibo message's media: "stored", "failed", "retry" or "skipped"."""
    media = (
        MessageMedia.objects.select_related("message")
        .filter(message_id=message_id, status=MediaStatus.PENDING)
        .first()
    )
    if media is None:
        return "skipped"
    account = WeiboAccount.objects.filter(uid=media.message.account).first()
    if account is None or not account.access_token:
        fail_media(media, "no_token")
        return "failed"
    try:
        content, content_type = msget(account.access_token, media.message.media_id)
    except TransientError as exc:
        return "retry" if record_failed_attempt(media, str(exc.code)) else "failed"
    except WeiboError as exc:
        logger.info("Weibo media of message %s refused: %s", message_id, exc.code)
        fail_media(media, str(exc.code))
        return "failed"
    return store_media(media, content, content_type).status
