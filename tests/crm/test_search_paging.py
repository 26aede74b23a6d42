"""A search's page found by walking the conversations in order (crm.search.search_page) is the
page of the full search: the same conversations in the same order, for common and rare terms,
on every page, with the filters, through the function and the API (issue #19, the bench's
common two-character word)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from crm import search
from crm.actions.notes import add_conversation_note
from crm.models import Conversation
from crm.search import search_conversations, search_page
from tests.conftest import client_for

from .factories import ConversationFactory, CustomerFactory, MessageFactory

WORDS = ["物流", "退款", "快递", "发票", "你好", "谢谢"]


@pytest.fixture
def crowd(db, agent_user):
    """40 conversations with random texts: 物流 in about half, 发票 in a few; ties on
    last_message_at so the id breaks them; some matches only by note or customer name."""
    rng = random.Random(19)
    now = timezone.now()
    for n in range(40):
        name = "物流部老王" if n % 13 == 5 else f"客户{n}"
        conversation = ConversationFactory(
            customer=CustomerFactory(name=name),
            last_message_at=now - timedelta(minutes=rng.randrange(25)),
            status=rng.choice(["open", "resolved"]),
        )
        for _ in range(rng.randrange(1, 4)):
            words = [rng.choice(WORDS[:3] + WORDS[4:]) for _ in range(3)]
            if rng.random() < 0.05:
                words.append("发票")
            MessageFactory(conversation=conversation, content="".join(words))
        if n % 11 == 3:
            add_conversation_note(conversation, "内部：发票已开", author=agent_user)
        if n == 37:
            MessageFactory(conversation=conversation, content="请改发票抬头")


@pytest.mark.parametrize("walk", [1000, 8, 3])
def test_the_walked_page_is_the_full_searchs_page(crowd, monkeypatch, walk):
    monkeypatch.setattr(search, "WALK", walk)
    rows = Conversation.objects.all()
    for ordering in (("-last_message_at", "-id"), ("opened_at", "id")):
        ordered = rows.order_by(*ordering)
        for words in [*WORDS, "不存在", "老王", "抬头"]:
            expected = list(search_conversations(ordered, words).values_list("pk", flat=True))
            for start, stop in ((0, 6), (0, 51), (5, 11), (20, 40)):
                page = search_page(ordered, words, start, stop)
                assert [c.pk for c in page] == expected[start:stop], (words, start, stop)
    filtered = rows.filter(status="resolved").order_by("-last_message_at", "-id")
    expected = list(search_conversations(filtered, "物流").values_list("pk", flat=True))
    assert [c.pk for c in search_page(filtered, "物流", 0, 51)] == expected


def test_a_common_word_is_paged_by_the_walk_and_a_rare_one_by_the_full_search(crowd, monkeypatch):
    monkeypatch.setattr(search, "WALK", 8)
    ordered = Conversation.objects.order_by("-last_message_at", "-id")
    common = list(search_conversations(ordered, "物流").values_list("pk", flat=True))
    assert len(common) > 20
    # 物流 is in most conversations: the first 3 matches are within the first 8.
    assert search._first_matches(ordered, "物流", 3) == common[:3]
    # 抬头 is in one: the walk cannot tell, the full search is used.
    assert search._first_matches(ordered, "抬头", 3) is None
    # Asked for more than the walk tests: the full search.
    assert search._first_matches(ordered, "物流", 9) is None


def test_api_pages_a_common_word_as_the_full_search_does(crowd, agent_user, monkeypatch):
    monkeypatch.setattr(search, "WALK", 8)
    api = client_for(agent_user)
    expected = list(
        search_conversations(
            Conversation.objects.order_by("-last_message_at", "-id"), "物流"
        ).values_list("pk", flat=True)
    )
    body = api.get("/api/v1/conversations/", {"q": "物流", "limit": 3}).json()
    got = [row["id"] for row in body["results"]]
    while body["next"]:
        body = api.get(body["next"]).json()
        got += [row["id"] for row in body["results"]]
    assert got == expected
    response = api.get("/api/v1/conversations/", {"q": "物流", "ordering": "opened_at"})
    by_opening = search_conversations(Conversation.objects.order_by("opened_at"), "物流")
    assert [row["id"] for row in response.json()["results"]] == list(
        by_opening.values_list("pk", flat=True)
    )
