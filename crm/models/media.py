"""Pictures, voice and video of inbox messages, stored by the CRM (WeChat deletes its temporary
media after 3 days).

One `MessageMedia` per message that carries media. Inbound media starts `pending` and its
channel's download task stores it (`crm.media.store_media`) or marks it `expired` (the platform
no longer has it: shown as 已过期, never retried) or `failed` (transient errors until the attempts
ran out). Outbound media (an agent's picture) is `stored` from the start. The files live in the
`chat_media` storage (crm.settings: local files by default, an S3-compatible store when
MEDIA_STORAGE=s3) under names no one can guess, and are served only through the inbox's media
view, which checks the viewer's permission (crm.inbox.media): never through a public URL.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .inbox import Message


class MediaKind(models.TextChoices):
    IMAGE = "image", _("Image")
    VOICE = "voice", _("Voice")
    VIDEO = "video", _("Video")
    SHORTVIDEO = "shortvideo", _("Short video")


class MediaStatus(models.TextChoices):
    PENDING = "pending", _("Downloading")
    STORED = "stored", _("Stored")
    EXPIRED = "expired", _("Expired")
    FAILED = "failed", _("Failed")


class MessageMedia(models.Model):
    message = models.OneToOneField(
        Message, verbose_name=_("message"), on_delete=models.CASCADE, related_name="media"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=MediaKind.choices)
    status = models.CharField(
        _("status"), max_length=8, choices=MediaStatus.choices, default=MediaStatus.PENDING
    )
    # Names in the chat_media storage ("" until stored).
    file = models.CharField(_("file"), max_length=255, blank=True)
    thumbnail = models.CharField(_("thumbnail"), max_length=255, blank=True)
    playable = models.CharField(_("playable audio"), max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    stored_at = models.DateTimeField(_("stored"), null=True, blank=True)

    class Meta:
        verbose_name = _("message media")
        verbose_name_plural = _("message media")
        indexes = [models.Index(fields=["status", "created_at"], name="crm_media_status_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} (message {self.message_id})"
