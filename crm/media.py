"""Chat media actions: queue inbound media for download, store what a channel downloaded (with a
thumbnail for pictures and a browser-playable copy of voice), record that it expired or failed,
check an agent's upload, and send it.

The model is crm.models.MessageMedia; the files go to the `chat_media` storage (`media_storage`),
under random names, and are served only by crm.inbox.media. Downloading is the channel's
(channels_wechat.media): crm imports no channel app. A channel queues its download task by name
for the message ids `queue_media` returns.

The agent's side (crm.inbox.attachments) sends what `check_upload` accepted. Limits of an
agent's upload are WeChat's (image <= 10 MB jpg/png, voice <= 2 MB amr/mp3), checked
before any platform call, with the content checked against the name (Pillow reads pictures;
voice by its magic bytes).
"""

import io
import logging
import secrets
import shutil
import subprocess
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from .models import (
    MediaKind,
    MediaStatus,
    Message,
    MessageMedia,
)

logger = logging.getLogger(__name__)

MEDIA_KINDS = {k.value for k in MediaKind}
# Transient download errors are retried this many times (by the channel's task, with backoff).
MAX_ATTEMPTS = 5
# WeChat deletes temporary media after 3 days: older pending media is expired without a call.
MEDIA_LIFETIME = timedelta(days=3)
THUMBNAIL_SIZE = (320, 320)
FFMPEG_SECONDS = 30

MB = 1024 * 1024
# kind -> (max bytes, {extension: content type}); WeChat's limits for temporary media.
UPLOAD_LIMITS: dict[str, tuple[int, dict[str, str]]] = {
    "image": (10 * MB, {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}),
    "voice": (2 * MB, {"amr": "audio/amr", "mp3": "audio/mpeg"}),
}
IMAGE_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}
CONTENT_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/amr": "amr",
    "audio/speex": "spx",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
}


def media_storage() -> Storage:
    """The chat media storage (settings.STORAGES["chat_media"])."""
    return storages["chat_media"]


def media_name(kind: str, extension: str) -> str:
    return f"{kind}/{timezone.now():%Y/%m}/{secrets.token_urlsafe(24)}.{extension}"


def queue_media(messages: list[Message]) -> list[int]:
    """Create a pending MessageMedia for each new inbound message with media (image, voice,
    video, short video with a media id); returns their message ids, for the channel to queue
    its download task. One query. Caller's transaction."""
    rows = [
        MessageMedia(message=m, kind=m.msg_type, created_at=m.sent_at)
        for m in messages
        if m.msg_type in MEDIA_KINDS and m.media_id
    ]
    if not rows:
        return []
    MessageMedia.objects.bulk_create(rows, ignore_conflicts=True)
    return [row.message_id for row in rows]


def pending_media(message_id: int) -> MessageMedia | None:
    """The message's media row locked if it is still pending (else None). Caller's transaction."""
    return (
        MessageMedia.objects.select_for_update()
        .select_related("message")
        .filter(message_id=message_id, status=MediaStatus.PENDING)
        .first()
    )


def expire_media(media: MessageMedia, code: str) -> MessageMedia:
    """The platform no longer has this media (40007, or past its 3 days): mark it expired, for
    good (shown as 已过期 once, never downloaded again). One transaction."""
    with transaction.atomic():
        MessageMedia.objects.filter(pk=media.pk).update(
            status=MediaStatus.EXPIRED, error_code=str(code)[:32]
        )
    media.status, media.error_code = MediaStatus.EXPIRED, str(code)[:32]
    return media


def fail_media(media: MessageMedia, code: str) -> MessageMedia:
    """The download failed for good (a refusal that is not transient). One transaction."""
    with transaction.atomic():
        MessageMedia.objects.filter(pk=media.pk).update(
            attempts=media.attempts + 1, status=MediaStatus.FAILED, error_code=str(code)[:32]
        )
    media.attempts, media.status, media.error_code = (
        media.attempts + 1,
        MediaStatus.FAILED,
        str(code)[:32],
    )
    return media


def record_failed_attempt(media: MessageMedia, code: str) -> bool:
    """Count a failed download attempt; after MAX_ATTEMPTS the media is `failed` for good.
    True if another attempt is due. One transaction."""
    attempts = media.attempts + 1
    final = attempts >= MAX_ATTEMPTS
    status = MediaStatus.FAILED if final else MediaStatus.PENDING
    with transaction.atomic():
        MessageMedia.objects.filter(pk=media.pk).update(
            attempts=attempts, status=status, error_code=str(code)[:32]
        )
    media.attempts, media.status, media.error_code = attempts, status, str(code)[:32]
    return not final


def thumbnail_of(content: bytes) -> bytes:
    with Image.open(io.BytesIO(content)) as source:
        image = source.convert("RGB")
        image.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def to_mp3(content: bytes) -> bytes | None:
    """Voice (AMR, Speex...) converted to MP3 by ffmpeg, which every browser plays; None when
    ffmpeg is missing or cannot read it (the original is kept and offered as a download)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        logger.warning("ffmpeg is not installed: voice messages are kept unconverted")
        return None
    try:
        done = subprocess.run(  # noqa: S603  fixed arguments, content on stdin
            [ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "mp3", "-ac", "1", "pipe:1"],
            input=content,
            capture_output=True,
            timeout=FFMPEG_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0 or not done.stdout:
        logger.info("ffmpeg could not convert a voice message: %s", done.stderr[:200])
        return None
    return done.stdout


def store_media(media: MessageMedia, content: bytes, content_type: str) -> MessageMedia:
    """Store downloaded media: the file, a JPEG thumbnail for a picture, an MP3 copy of voice.

    A picture Pillow cannot read is marked failed ("bad_content") and not stored. Files are
    written first, then the row in one transaction; the row is only changed while pending.
    """
    content_type = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    storage = media_storage()
    names: dict[str, str] = {}
    if media.kind == MediaKind.IMAGE:
        try:
            thumbnail = thumbnail_of(content)
        except (UnidentifiedImageError, OSError, ValueError):
            with transaction.atomic():
                MessageMedia.objects.filter(pk=media.pk).update(
                    status=MediaStatus.FAILED, error_code="bad_content"
                )
            media.status, media.error_code = MediaStatus.FAILED, "bad_content"
            return media
        names["thumbnail"] = storage.save(media_name("thumb", "jpg"), ContentFile(thumbnail))
    if media.kind == MediaKind.VOICE:
        mp3 = content if content_type == "audio/mpeg" else to_mp3(content)
        if mp3:
            names["playable"] = storage.save(media_name("voice", "mp3"), ContentFile(mp3))
    extension = CONTENT_EXTENSIONS.get(content_type, "bin")
    names["file"] = storage.save(media_name(media.kind, extension), ContentFile(content))
    fields: dict[str, Any] = {
        **names,
        "status": MediaStatus.STORED,
        "content_type": content_type,
        "size": len(content),
        "stored_at": timezone.now(),
        "error_code": "",
    }
    with transaction.atomic():
        changed = MessageMedia.objects.filter(pk=media.pk, status=MediaStatus.PENDING).update(
            **fields
        )
    if not changed:  # expired, or stored by another run, meanwhile: keep nothing of this one
        for name in names.values():
            storage.delete(name)
        return media
    for key, value in fields.items():
        setattr(media, key, value)
    return media


# --- an agent's upload --------------------------------------------------------------------------


def check_upload(upload, kind: str) -> tuple[str, str]:
    """Check an agent's file before any platform call: kind, extension, size (WeChat's limits)
    and that the content is what the name says (Pillow for pictures, magic bytes for voice).
    Returns (extension, content type); raises ValidationError on the `file` field."""
    if kind not in UPLOAD_LIMITS:
        raise ValidationError({"file": _("Only pictures and voice can be sent.")})
    limit, types = UPLOAD_LIMITS[kind]
    name = getattr(upload, "name", "") or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in types:
        raise ValidationError(
            {
                "file": _("A picture must be a jpg or png file.")
                if kind == "image"
                else _("A voice message must be an amr or mp3 file.")
            }
        )
    if upload.size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    if upload.size > limit:
        size = {"size": f"{upload.size / MB:.1f} MB"}
        raise ValidationError(
            {
                "file": (
                    _("A picture is at most 10 MB (WeChat's limit); this file is %(size)s.")
                    if kind == "image"
                    else _(
                        "A voice message is at most 2 MB (WeChat's limit); this file is %(size)s."
                    )
                )
                % size
            }
        )
    upload.seek(0)
    head = upload.read()
    upload.seek(0)
    mismatch = ValidationError(
        {"file": _("The file's content is not a %(ext)s file.") % {"ext": extension}}
    )
    if kind == "image":
        try:
            with Image.open(io.BytesIO(head)) as image:
                found = image.format
                image.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise mismatch from None
        if found != IMAGE_FORMATS[extension]:
            raise mismatch
    elif extension == "amr" and not head.startswith(b"#!AMR"):
        raise mismatch
    elif extension == "mp3" and not (
        head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    ):
        raise mismatch
    return extension, types[extension]


def stale_pending(channel: str, now=None) -> list[int]:
    """Message ids of the channel's media still pending five minutes after receipt (a lost task,
    a broker that was down), for the channel's sweep to queue again; media past MEDIA_LIFETIME
    is expired instead (the platform has deleted it)."""
    now = now or timezone.now()
    pending = MessageMedia.objects.filter(status=MediaStatus.PENDING, message__channel=channel)
    pending.filter(created_at__lt=now - MEDIA_LIFETIME).update(
        status=MediaStatus.EXPIRED, error_code="expired"
    )
    return list(
        pending.filter(created_at__lt=now - timedelta(minutes=5)).values_list(
            "message_id", flat=True
        )[:500]
    )
