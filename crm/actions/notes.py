"""Private notes in a conversation and the @-mention notifications they raise."""

import re
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from ..models import NOTE_MAX_LENGTH, Conversation, ConversationNote, Notification

# `@` then a username (Django allows letters, digits and @.+-_; \w includes CJK). Chinese is
# written without spaces, so "@张三请看" names the longest username that starts the run.
MENTION = re.compile(r"@([\w.+\-]+)")


def _visible_to(user, conversation: Conversation) -> bool:
    # The inbox's own rule for who sees a conversation (crm.filtersets imports models only).
    from ..filtersets import visible_conversations

    return visible_conversations(user).filter(pk=conversation.pk).exists()


def mentioned_users(body: str, conversation: Conversation, *, author=None) -> list:
    """The colleagues `@name` in `body` names who may see the conversation, in order of first
    mention. An unknown name, an inactive or non-staff user, one who cannot see the
    conversation, and the author are not mentioned (their `@` stays plain text)."""
    runs = MENTION.findall(body or "")
    if not runs:
        return []
    users = list(get_user_model().objects.filter(is_active=True, is_staff=True))
    by_name = {u.get_username().lower(): u for u in users}
    found: list = []
    for run in runs:
        run = run.lower()
        # The longest username that starts the run ("@张三请看" -> 张三).
        for end in range(len(run), 0, -1):
            user = by_name.get(run[:end].rstrip(".-"))
            if user is not None:
                break
        if user is None or user in found or (author is not None and user.pk == author.pk):
            continue
        if _visible_to(user, conversation):
            found.append(user)
    return found


def add_conversation_note(conversation: Conversation, body: str, *, author) -> ConversationNote:
    """An agent writes a private note in a conversation; `@username` notifies that colleague.

    The note is a ConversationNote, never a Message: nothing sends it. Atomic: the note, its
    mentions and the notifications are written together. Raises ValidationError on `body`
    (empty, or longer than NOTE_MAX_LENGTH); nothing is then written.
    """
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("Write the note first.")}, code="required")
    if len(body) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"body": _("A note has at most %(max)d characters.") % {"max": NOTE_MAX_LENGTH}},
            code="max_length",
        )
    users = mentioned_users(body, conversation, author=author)
    with transaction.atomic():
        note = ConversationNote.objects.create(conversation=conversation, author=author, body=body)
        if users:
            note.mentions.set(users)
            name = (author.get_full_name() or author.get_username()) if author else ""
            text = _("%(name)s mentioned you: %(body)s") % {"name": name, "body": body}
            Notification.objects.bulk_create(
                [
                    Notification(
                        recipient=user,
                        kind=Notification.Kind.MENTION,
                        actor=author,
                        conversation=conversation,
                        note=note,
                        text=text[:200],
                        created_at=note.created_at,
                    )
                    for user in users
                ]
            )
    return note


def mark_notifications_read(user, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read (those of `ids`, or all). Only the user's own
    rows are touched. Returns how many changed. One UPDATE."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())


def render_note(note: ConversationNote) -> SafeString:
    """The note's text as HTML: escaped, with the mentions that notified someone highlighted
    (an `@` that named nobody stays plain text)."""
    names = {u.get_username().lower() for u in note.mentions.all()}
    out: list[str] = []
    last = 0
    for match in MENTION.finditer(note.body):
        run = match.group(1)
        for end in range(len(run), 0, -1):
            if run[:end].lower().rstrip(".-") in names:
                break
        else:
            continue
        out.append(escape(note.body[last : match.start()]))
        out.append(f'<span class="mention">@{escape(run[:end])}</span>')
        last = match.start() + 1 + end
    out.append(escape(note.body[last:]))
    return mark_safe("".join(out))  # noqa: S308 (every piece escaped above)
