"""Inbox search over message text, customer names and notes, in Chinese, with filters, through
the API and the inbox page (issue #19 item 5)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm.actions.labels import label_conversation
from crm.actions.notes import add_conversation_note
from crm.models import ConversationLabel
from tests.conftest import client_for

from .factories import ConversationFactory, CustomerFactory, MessageFactory


@pytest.fixture
def world(db, agent_user):
    for name in ("售后", "物流"):
        ConversationLabel.objects.create(name=name)
    now = timezone.now()
    refund = ConversationFactory(customer__name="王小明", assignee=agent_user, last_message_at=now)
    MessageFactory(conversation=refund, content="我要申请退款，商品有破损")
    shipping = ConversationFactory(
        customer__name="李华", channel="weibo", account="5000", last_message_at=now - timedelta(1)
    )
    MessageFactory(conversation=shipping, content="快递什么时候到？")
    noted = ConversationFactory(customer__name="张三", last_message_at=now - timedelta(2))
    MessageFactory(conversation=noted, content="你好")
    add_conversation_note(noted, "客户要求退款申请走加急", author=agent_user)
    named = ConversationFactory(customer=CustomerFactory(name="退款申请人"), status="resolved")
    label_conversation(refund, add=["售后"])
    label_conversation(shipping, add=["物流"])
    return {"refund": refund, "shipping": shipping, "noted": noted, "named": named}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_search_finds_message_note_and_customer_name_in_chinese(world, agent_user):
    api = client_for(agent_user)
    response = api.get("/api/v1/conversations/", {"q": "退款申请", "status": ["open", "resolved"]})
    # Newest activity first: `noted` had a message two days ago, `named` just now.
    assert ids(response) == [world["named"].pk, world["noted"].pk]
    response = api.get("/api/v1/conversations/", {"q": "申请退款"})
    assert ids(response) == [world["refund"].pk]
    assert response.json()["results"][0]["snippet"] == "我要申请退款，商品有破损"
    assert response.json()["results"][0]["labels"] == ["售后"]
    response = api.get("/api/v1/conversations/", {"q": "加急"})
    assert ids(response) == [world["noted"].pk]
    assert response.json()["results"][0]["snippet"] == "客户要求退款申请走加急"
    assert ids(api.get("/api/v1/conversations/", {"q": "李华"})) == [world["shipping"].pk]
    # Two characters: no trigram, still found (the index cannot help; see crm/search.py).
    assert ids(api.get("/api/v1/conversations/", {"q": "快递"})) == [world["shipping"].pk]
    assert ids(api.get("/api/v1/conversations/", {"q": "不存在的词"})) == []


def test_search_filters_label_agent_status_channel_account_date(world, agent_user):
    api = client_for(agent_user)
    assert ids(api.get("/api/v1/conversations/", {"label": "售后"})) == [world["refund"].pk]
    assert ids(api.get("/api/v1/conversations/", {"label": "物流", "q": "快递"})) == [
        world["shipping"].pk
    ]
    assert ids(api.get("/api/v1/conversations/", {"label": "物流", "q": "退款"})) == []
    assert ids(api.get("/api/v1/conversations/", {"assignee": agent_user.pk})) == [
        world["refund"].pk
    ]
    assert ids(api.get("/api/v1/conversations/", {"status": "resolved"})) == [world["named"].pk]
    assert ids(api.get("/api/v1/conversations/", {"channel": "weibo"})) == [world["shipping"].pk]
    assert ids(api.get("/api/v1/conversations/", {"account": "5000"})) == [world["shipping"].pk]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert ids(api.get("/api/v1/conversations/", {"opened_after": tomorrow})) == []


def test_unknown_label_filter_is_a_400_naming_it(world, agent_user):
    response = client_for(agent_user).get("/api/v1/conversations/", {"label": "不存在"})
    assert response.status_code == 400
    assert response.json() == {"label": ["未知标签：不存在。"]}  # "Unknown label: 不存在."


def test_search_page_lists_matches_with_snippet_and_filters(world, agent_user):
    client = Client()
    client.force_login(agent_user)
    html = client.get("/inbox/search/", {"q": "申请退款"}).content.decode()
    assert f'class="search-row" data-id="{world["refund"].pk}"' in html
    assert "我要申请退款，商品有破损" in html
    assert html.count('class="search-row"') == 1
    html = client.get("/inbox/search/", {"q": "快递", "label": "售后"}).content.decode()
    assert html.count('class="search-row"') == 0
    html = client.get("/inbox/search/", {"label": "不存在"}).content.decode()
    assert 'id="search-errors"' in html
    assert "未知标签：不存在。" in html
    listing = client.get("/inbox/").content.decode()
    assert 'id="inbox-search"' in listing
