"""WeChat media actions: download a message's picture, voice or video and store it (crm.media),
and upload an agent's picture or voice before it is sent.

`queue_downloads` runs in ingestion (caller's transaction): a pending MessageMedia per new media
message and one `download_media_batch_task` for the batch queued by name after commit, so processing never waits on
WeChat. `download_media` (in the task) fetches through `cgi-bin/media/get`: stored on success;
40007 (invalid media_id) or media older than WeChat's 3 days is expired for good; a transient
error (-1, HTTP 5xx, network) counts an attempt and asks the task to retry later, until
crm.media.MAX_ATTEMPTS; any other refusal fails it for good.
"""

import logging

from django.utils import timezone

from crm.inbox import SendError
from crm.media import (
    MEDIA_LIFETIME,
    expire_media,
    fail_media,
    media_storage,
    queue_media,
    record_failed_attempt,
    store_media,
)
from crm.models import MediaStatus, Message, MessageMedia, RawDelivery
from crm.tasks_queue import enqueue_on_commit

from .client import WeChatClient
from .media_client import get_media, upload_media
from .models import OfficialAccount, WeChatUser

logger = logging.getLogger(__name__)

# WeChat's answers that mean the media is gone for good.
EXPIRED_CODES = {"40007"}


def queue_downloads(messages: list[Message]) -> None:
    """Pending media rows for the new inbound messages that carry media, and one download task
    for them all queued after commit. Caller's transaction."""
    ids = queue_media(messages)
    if ids:  # one task per batch: publishing one per picture would slow the batch down
        enqueue_on_commit("channels_wechat.tasks.download_media_batch_task", ids)


# Pending pushes beyond which downloads wait for processing to catch up.
BACKLOG = 100


def ingestion_backlog() -> bool:
    """Whether at least BACKLOG WeChat pushes wait to be processed (one bounded query)."""
    pending = RawDelivery.objects.filter(source="wechat", status=RawDelivery.Status.PENDING)
    return pending.values("pk")[:BACKLOG].count() >= BACKLOG


def download_media(message_id: int) -> str:
    """Download and store a message's media. Returns "stored", "expired", "failed", "retry"
    (a transient error: call again later) or "skipped" (not pending). Outside a transaction:
    it waits on WeChat."""
    media = (
        MessageMedia.objects.select_related("message")
        .filter(message_id=message_id, status=MediaStatus.PENDING)
        .first()
    )
    if media is None:
        return "skipped"
    message = media.message
    if message.sent_at < timezone.now() - MEDIA_LIFETIME:
        expire_media(media, "expired")
        return "expired"
    account = OfficialAccount.objects.filter(appid=message.account).first()
    if account is None:
        expire_media(media, "no_account")
        return "expired"
    try:
        content, content_type = get_media(WeChatClient(account), message.media_id)
    except SendError as exc:
        if exc.code in EXPIRED_CODES:
            expire_media(media, exc.code)
            return "expired"
        if exc.transient:
            logger.info("media of message %s: %s, attempt %s", message_id, exc.code, media.attempts)
            return "retry" if record_failed_attempt(media, exc.code) else "failed"
        fail_media(media, exc.code)  # any other refusal is final
        return "failed"
    return store_media(media, content, content_type).status


def upload_message_media(client: WeChatClient, message: Message) -> str:
    """Upload an outbound message's stored file to WeChat (temporary media); returns the
    media_id, also kept on the message. Refuses (SendError 45015) without calling WeChat when the
    follower's 48-hour window is closed, as WeChat would after the upload."""
    user = WeChatUser.objects.filter(account=client.account, openid=message.external_user).first()
    if user is None or not user.window_expires_at or user.window_expires_at <= timezone.now():
        raise SendError(
            "45015", "response out of time limit or subscription is canceled (checked locally)"
        )
    media = MessageMedia.objects.get(message=message)
    with media_storage().open(media.file, "rb") as handle:
        content = handle.read()
    filename = media.file.rsplit("/", 1)[-1]
    media_id = upload_media(client, media.kind, filename, content, media.content_type)
    Message.objects.filter(pk=message.pk).update(media_id=media_id)
    message.media_id = media_id
    return media_id
