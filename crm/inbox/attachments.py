"""An agent's picture or voice sent into a conversation (the inbox's attachments).

The checks (type, size, content against name) are crm.media.check_upload's, made before any
platform call; the channel's sender uploads the stored file to the platform (for WeChat,
channels_wechat.media.upload_message_media) and sends it.
"""

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..media import check_upload, media_name, media_storage, thumbnail_of, to_mp3
from ..models import (
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    MediaStatus,
    Message,
    MessageMedia,
    SenderKind,
)
from .common import InboxError
from .sending import deliver, record_outbound


def reply_with_media(conversation: Conversation, upload, *, agent, kind: str = "image") -> Message:
    """An agent sends a picture (or voice) in a conversation.

    Checked first (check_upload: ValidationError; a resolved conversation: InboxError), before
    any platform call. The file is stored and the message recorded as queued with its
    MessageMedia (one transaction), then delivered through the channel's sender, which uploads
    it to the platform. Raises SendError when the platform refuses (the message is kept as
    failed with its code, the file kept).
    """
    if conversation.status == ConversationStatus.RESOLVED:
        raise InboxError(
            {"conversation": _("This conversation is resolved; it cannot be answered.")}
        )
    extension, content_type = check_upload(upload, kind)
    content = upload.read()
    storage = media_storage()
    names = {"file": storage.save(media_name(kind, extension), ContentFile(content))}
    if kind == "image":
        names["thumbnail"] = storage.save(
            media_name("thumb", "jpg"), ContentFile(thumbnail_of(content))
        )
    elif extension == "mp3":
        names["playable"] = names["file"]
    else:
        mp3 = to_mp3(content)
        if mp3:
            names["playable"] = storage.save(media_name("voice", "mp3"), ContentFile(mp3))
    with transaction.atomic():
        message = record_outbound(
            conversation,
            content="[图片]" if kind == "image" else "[语音]",
            msg_type=kind,
            sender=agent,
            sender_kind=SenderKind.AGENT,
            delivery_status=DeliveryStatus.QUEUED,
        )
        MessageMedia.objects.create(
            message=message,
            kind=kind,
            status=MediaStatus.STORED,
            content_type=content_type,
            size=len(content),
            stored_at=timezone.now(),
            **names,
        )
    return deliver(message)
