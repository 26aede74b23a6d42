"""Labels on conversations: added and removed by agents, in the inbox and the API."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..models import Conversation, ConversationLabel, ConversationLabelling


def _labels_named(names: Iterable[str], field: str) -> list[ConversationLabel]:
    wanted = sorted({str(n).strip() for n in names if n is not None and str(n).strip()})
    labels = list(ConversationLabel.objects.filter(name__in=wanted))
    unknown = sorted(set(wanted) - {label.name for label in labels})
    if unknown:
        raise ValidationError(
            {field: _("Unknown label: %(names)s.") % {"names": ", ".join(unknown)}},
            code="unknown",
        )
    return labels


def label_conversation(
    conversation: Conversation,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    by=None,
) -> list[ConversationLabel]:
    """Add and remove labels (by name) on a conversation; returns its labels afterwards.

    Adding a label it has, or removing one it has not, changes nothing. Atomic. Raises
    ValidationError naming `add` or `remove` if a name is not a defined label; nothing is then
    written.
    """
    adding = _labels_named(add, "add")
    removing = _labels_named(remove, "remove")
    with transaction.atomic():
        ConversationLabelling.objects.bulk_create(
            [
                ConversationLabelling(conversation=conversation, label=label, added_by=by)
                for label in adding
            ],
            ignore_conflicts=True,
        )
        if removing:
            ConversationLabelling.objects.filter(
                conversation=conversation, label__in=removing
            ).delete()
    return list(ConversationLabel.objects.filter(conversations=conversation).order_by("name"))
