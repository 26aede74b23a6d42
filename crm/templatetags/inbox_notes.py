"""Template tags of the inbox's notes, labels and notifications pieces, so the existing inbox
views need no change: each piece asks for what it shows."""

from django import template

from ..inbox.notes import inbox_extras, unread_count, with_notes

register = template.Library()


@register.simple_tag(takes_context=True)
def thread_with_notes(context):
    """The thread of the page's conversation with its private notes in time order."""
    return with_notes(context["request"], context["conversation"], list(context["thread"]))


@register.simple_tag(takes_context=True)
def conversation_extras(context):
    return inbox_extras(context["request"], context["conversation"])


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    return unread_count(context["request"].user)
