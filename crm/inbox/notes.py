"""Inbox pages for private notes, conversation labels and notifications.

- POST /inbox/<pk>/notes/: write a private note (`crm.add_conversationnote`); `@username`
  notifies that colleague. A note is never a Message, so no sender ever sees it.
- POST /inbox/<pk>/labels/: add or remove a label (`crm.change_conversation`).
- GET /inbox/notifications/: the user's notifications; POST .../read/ marks them read.

The conversation is looked up in `visible_conversations(user)`, the inbox's own rule, so an
agent reaches exactly the conversations the inbox shows them. The writes are crm.actions.
"""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ..actions.labels import label_conversation
from ..actions.notes import add_conversation_note, mark_notifications_read, render_note
from ..filtersets import visible_conversations
from ..models import Conversation, ConversationLabel, Notification


def _require(request, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def with_notes(request, conversation: Conversation, thread: list) -> list:
    """The thread with the conversation's private notes in time order, for users who may read
    notes (each note carries `html`, its text with the mentions marked)."""
    if not request.user.has_perm("crm.view_conversationnote"):
        return thread
    notes = list(conversation.notes.select_related("author").prefetch_related("mentions"))
    if not notes:
        return thread
    for note in notes:
        note.html = render_note(note)  # type: ignore[attr-defined]
    return sorted(
        [*thread, *notes], key=lambda row: getattr(row, "sent_at", None) or row.created_at
    )


def inbox_extras(request, conversation: Conversation) -> dict:
    """What the notes and labels pieces of the conversation page need."""
    return {
        "can_note": request.user.has_perm("crm.add_conversationnote"),
        "conversation_labels": list(conversation.labels.order_by("name")),
        "all_labels": list(ConversationLabel.objects.order_by("name")),
    }


@login_required
@require_POST
def conversation_note(request, pk: int):
    _require(request, "crm.view_conversation", "crm.add_conversationnote")
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    try:
        note = add_conversation_note(
            conversation, request.POST.get("body", ""), author=request.user
        )
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        names = ", ".join(u.get_username() for u in note.mentions.all())
        if names:
            flash.success(request, _("Note saved; %(names)s notified.") % {"names": names})
        else:
            flash.success(request, _("Note saved."))
    return redirect("inbox:detail", pk=pk)


@login_required
@require_POST
def conversation_labels(request, pk: int):
    _require(request, "crm.view_conversation", "crm.change_conversation")
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    try:
        label_conversation(
            conversation,
            add=request.POST.getlist("add"),
            remove=request.POST.getlist("remove"),
            by=request.user,
        )
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    return redirect("inbox:detail", pk=pk)


def unread_count(user) -> int:
    if not user.is_authenticated or not user.has_perm("crm.view_notification"):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


@login_required
@permission_required("crm.view_notification", raise_exception=True)
def notification_list(request):
    rows = Notification.objects.filter(recipient=request.user).select_related("actor")
    page = Paginator(rows.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "unread": unread_count(request.user),
        "can_mark": request.user.has_perm("crm.change_notification"),
    }
    return render(request, "inbox/notifications.html", context)


@login_required
@require_POST
def notifications_read(request):
    _require(request, "crm.view_notification", "crm.change_notification")
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
    mark_notifications_read(request.user, ids or None)
    return redirect("inbox:notifications")
