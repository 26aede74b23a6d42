"""Search in the inbox: conversations whose messages, notes or customer name contain the words.

PostgreSQL: `icontains` is `UPPER(col) LIKE UPPER('%words%')`, served by pg_trgm GIN indexes on
`UPPER(content)`, `UPPER(body)` and `UPPER(name)` (migration 0008). Trigrams need no word
segmentation, so Chinese works as long as the database's LC_CTYPE classifies CJK characters as
letters (C.UTF-8 and the *.UTF-8 locales do; `show_trgm('退款申请')` gives trigrams). A tokenizer
(zhparser, pg_jieba) would rank better but is a C extension the project would have to build
and ship for every installation; pg_trgm ships with PostgreSQL. The limit: a term of one or
two characters has no trigram, so that index cannot narrow it, and two-character words are
most Chinese searches (退款, 物流, a name such as 李华). So two-character terms also use a
second GIN index over each text's distinct character pairs (`crm_search_bigrams`, migration 0009: the pg_bigm idea in plain SQL, no extension to
build). A one-character term is read without an index.
SQLite (the demo): the same `icontains`, without an index.

The filters are the inbox's (`ConversationFilterSet`: status, channel, kind, account,
assignee = agent, opened = date range) plus `q` and `label`.
"""

import django_filters
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import extend_schema_field

from .filtersets import ConversationFilterSet
from .models import Conversation, ConversationLabel, ConversationNote, Customer, Message

MAX_QUERY = 100


class SharesPairs(Func):
    """`crm_search_bigrams(column) @> crm_search_bigrams(term)`: the column has every character
    pair of the term (the expression of the bigram indexes of migration 0009)."""

    arity = 2
    template = "(crm_search_bigrams(%(expressions)s))"
    arg_joiner = ") @> crm_search_bigrams("
    output_field = BooleanField()


def _containing(manager, column: str, words: str) -> QuerySet:
    """Rows whose `column` contains `words`. On PostgreSQL a two-character term also names its
    character pair for the bigram index (migration 0009), which pg_trgm cannot serve."""
    rows = manager.filter(**{f"{column}__icontains": words})
    if len(words) == 2 and connection.vendor == "postgresql":
        rows = rows.filter(SharesPairs(F(column), Value(words)))
    return rows


def search_conversations(queryset: QuerySet[Conversation], words: str) -> QuerySet[Conversation]:
    """The conversations of `queryset` with a message, a note or a customer name containing
    `words` (case-insensitive; stripped; at most MAX_QUERY characters)."""
    words = (words or "").strip()[:MAX_QUERY]
    if not words:
        return queryset
    in_messages = _containing(Message.objects, "content", words).values("conversation_id")
    in_notes = _containing(ConversationNote.objects, "body", words).values("conversation_id")
    by_name = Conversation.objects.filter(
        customer_id__in=_containing(Customer.objects, "name", words).values("pk")
    ).values("pk")
    # One set of matching conversation ids (a UNION), then the conversations by primary key:
    # `id IN (a) OR id IN (b) OR ...` made PostgreSQL test every conversation against three
    # hashed subplans (a full scan of the conversations on every search).
    matching = in_messages.order_by().union(in_notes.order_by(), by_name.order_by())
    return queryset.filter(pk__in=matching)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class LabelNameFilter(django_filters.ModelMultipleChoiceFilter):
    """Labels by name (`?label=售后&label=物流`): conversations with any of them; an unknown
    name is a 400 naming it."""


class ConversationSearchFilterSet(ConversationFilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_lazy("search"))
    label = LabelNameFilter(
        field_name="labels__name",
        to_field_name="name",
        queryset=ConversationLabel.objects.all(),
        label=_lazy("label"),
        error_messages={"invalid_choice": _lazy("Unknown label: %(value)s.")},
    )

    class Meta(ConversationFilterSet.Meta):
        fields = [*ConversationFilterSet.Meta.fields, "q", "label"]

    def filter_q(self, queryset, name, value):
        return search_conversations(queryset, value)


def matching_snippets(conversation_ids: list[int], words: str) -> dict[int, str]:
    """For each conversation, the newest message (or note) text containing `words`. One query
    per source over the page's conversations only."""
    words = (words or "").strip()[:MAX_QUERY]
    if not words or not conversation_ids:
        return {}
    found: dict[int, str] = {}
    notes = (
        ConversationNote.objects.filter(conversation_id__in=conversation_ids, body__icontains=words)
        .order_by("conversation_id", "-created_at")
        .values_list("conversation_id", "body")
    )
    messages = (
        Message.objects.filter(conversation_id__in=conversation_ids, content__icontains=words)
        .order_by("conversation_id", "-sent_at")
        .values_list("conversation_id", "content")
    )
    for rows in (messages, notes):  # the newest message, else the newest note
        for conversation_id, text in rows:
            found.setdefault(conversation_id, text)
    return found
