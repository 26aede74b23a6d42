"""The inbox's media: pictures, voice and video of a conversation, served to signed-in staff
who may see the conversation, and an agent's picture (or voice) sent into it.

Files are never behind a public URL: `media_file` streams them from the chat_media storage after
checking `crm.view_conversation` and that the message's conversation is one this user sees
(crm.filtersets.visible_conversations). Anyone else gets 404 or 403, whatever id they try.
`send_media` needs `crm.add_message`; its checks and the sending are crm.inbox.attachments.reply_with_media.
"""

import mimetypes

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ..filtersets import visible_conversations
from ..media import media_storage
from ..models import MediaStatus, MessageMedia
from ..send_errors import send_error_text
from .attachments import reply_with_media
from .common import InboxError, SendError

VARIANTS = {"file": "file", "thumb": "thumbnail", "audio": "playable"}


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
def media_file(request, pk: int, variant: str):
    """One stored file of a message's media (`file`, `thumb` or `audio`), inline, not cached by
    shared caches."""
    field = VARIANTS.get(variant)
    if field is None:
        raise Http404
    media = (
        MessageMedia.objects.select_related("message")
        .filter(pk=pk, status=MediaStatus.STORED, message__conversation__isnull=False)
        .first()
    )
    if (
        media is None
        or not visible_conversations(request.user).filter(pk=media.message.conversation_id).exists()
    ):
        raise Http404
    name = getattr(media, field)
    if not name:
        raise Http404
    if field == "thumbnail":
        content_type = "image/jpeg"
    elif field == "playable":
        content_type = "audio/mpeg"
    else:
        content_type = media.content_type or mimetypes.guess_type(name)[0] or ""
    response = FileResponse(
        media_storage().open(name, "rb"),
        content_type=content_type or "application/octet-stream",
    )
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
def send_media(request, pk: int):
    if not request.user.has_perm("crm.add_message"):
        raise PermissionDenied
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    upload = request.FILES.get("file")
    kind = request.POST.get("kind", "image")
    if upload is None:
        flash.error(request, _("Choose a picture to send."))
        return redirect("inbox:detail", pk=pk)
    try:
        reply_with_media(conversation, upload, agent=request.user, kind=kind)
    except (InboxError, ValidationError) as exc:
        flash.error(request, " ".join(exc.messages))
    except SendError as exc:
        flash.error(request, send_error_text(exc.code, exc.message))
    else:
        flash.success(request, _("Picture sent.") if kind == "image" else _("Voice sent."))
    return redirect("inbox:detail", pk=pk)
