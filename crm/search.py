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

A page of results (`search_page`) for a common term is found by walking the conversations in
the page's order and testing only those (`_first_matches`): a word in 8% of 1M messages is in
about half of the conversations, so 50 matches are among the first hundred or so, where the
set of every match (80,000 messages read through the bitmap) took 865 ms.
"""

import django_filters
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import extend_schema_field

from .filtersets import ConversationFilterSet
from .models import Conversation, ConversationLabel, ConversationNote, Customer, Message

MAX_QUERY = 100
# The conversations a page walk tests at most before the full search is used instead: the
# walk then cost a rare term 10,000 messages read by conversation for 1,000 (155 ms from disk,
# measured); 400 keeps the walk for a term in 13% of the conversations or more (a word in 8%
# of the messages is in about half of them).
WALK = 400


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


def _clean(words: str | None) -> str:
    return (words or "").strip()[:MAX_QUERY]


def search_conversations(queryset: QuerySet[Conversation], words: str) -> QuerySet[Conversation]:
    """The conversations of `queryset` with a message, a note or a customer name containing
    `words` (case-insensitive; stripped; at most MAX_QUERY characters)."""
    words = _clean(words)
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


def _first_matches(queryset: QuerySet[Conversation], words: str, count: int) -> list[int] | None:
    """The ids, in `queryset`'s order, of its first `count` conversations that
    `search_conversations` would keep, found by testing its first WALK conversations in order
    (in growing batches, so a common term stops early); all of its matches when it has no more
    than WALK conversations. None when the walk cannot tell (too few matches among the first
    WALK, a rate of matches in the batches so far that would not reach `count` within WALK, or
    `count` > WALK): then the full search is the faster plan.

    The pair-index condition of `_containing` is left out: it is implied by `icontains` (both
    fold to upper case), and here the conversation index already narrows the rows.
    """
    if count > WALK:
        return None
    walked = list(queryset.values_list("pk", "customer_id")[: WALK + 1])
    complete = len(walked) <= WALK
    walked = walked[:WALK]
    found: list[int] = []
    done, size = 0, 2 * count
    while done < len(walked) and len(found) < count:
        batch = walked[done : done + size]
        ids = [pk for pk, _customer in batch]
        hits = set(
            Message.objects.filter(conversation_id__in=ids, content__icontains=words)
            .values_list("conversation_id", flat=True)
            .distinct()
        ) | set(
            ConversationNote.objects.filter(conversation_id__in=ids, body__icontains=words)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        named = set(
            Customer.objects.filter(
                pk__in={customer for _pk, customer in batch}, name__icontains=words
            ).values_list("pk", flat=True)
        )
        found += [pk for pk, customer in batch if pk in hits or customer in named]
        done, size = done + len(batch), size * 2
        if len(found) < count and len(found) * len(walked) < count * done:
            # At this rate the walk would not find `count`: the full search at once. A term in
            # 1% of the conversations (a rarer word pair) paid 60-100 ms for the whole walk.
            return None
    if len(found) >= count:
        return found[:count]
    return found if complete else None


def search_page(
    queryset: QuerySet[Conversation], words: str, start: int, stop: int
) -> list[Conversation]:
    """`search_conversations(queryset, words)[start:stop]`: the same conversations in the same
    order (`queryset`'s, which must be ordered). For a term in many conversations the page is
    found by walking `queryset` in order (`_first_matches`); otherwise by the full search."""
    words = _clean(words)
    if not words:
        return list(queryset[start:stop])
    ids = _first_matches(queryset, words, stop)
    if ids is None:
        return list(search_conversations(queryset, words)[start:stop])
    wanted = ids[start:stop]
    rows = {row.pk: row for row in queryset.filter(pk__in=wanted)}
    return [rows[pk] for pk in wanted]


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
        # The search goes last, in filter_queryset, which keeps the rows before it.
        return queryset

    def filter_queryset(self, queryset):
        """Every filter, then the search; `self.unsearched` keeps the rows before the search
        and `self.words` the term, for `search_page`."""
        self.unsearched = super().filter_queryset(queryset)
        self.words = _clean(self.form.cleaned_data.get("q"))
        return search_conversations(self.unsearched, self.words)

    def page(self, ordering: list[str] | tuple[str, ...], start: int, stop: int) -> list:
        """`self.qs.order_by(*ordering)[start:stop]`, a search paged by `search_page`."""
        searched = self.qs  # runs filter_queryset
        if not self.words:
            return list(searched.order_by(*ordering)[start:stop])
        return search_page(self.unsearched.order_by(*ordering), self.words, start, stop)


def matching_snippets(conversation_ids: list[int], words: str) -> dict[int, str]:
    """For each conversation, the newest message (or note) text containing `words`. One query
    per source over the page's conversations only."""
    words = _clean(words)
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
