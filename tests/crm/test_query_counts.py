"""Query-count guards: the segments API list and the inbox list and conversation pages cost the
same queries for 2 rows as for 20 (the customers, leads and tags lists: test_api_customers.py)."""

from django.utils import timezone

from crm.actions import record_interaction
from tests.channels_wechat.factories import CannedResponseFactory, OfficialAccountFactory
from tests.conftest import client_for

from .factories import ConversationFactory, MessageFactory, SegmentFactory

APPID = "wxfactory000000000"  # ConversationFactory's account


def test_segment_list_costs_the_same_queries_for_2_and_20_segments(
    marketing_user, get_counting_queries
):
    api = client_for(marketing_user)
    SegmentFactory.create_batch(2, owner=marketing_user)
    few, response = get_counting_queries(api, "/api/v1/segments/")
    assert response.json()["count"] == 2
    SegmentFactory.create_batch(18, owner=marketing_user)
    many, response = get_counting_queries(api, "/api/v1/segments/")
    assert response.json()["count"] == 20
    assert many == few


def _waiting_conversations(count, agent):
    for _ in range(count):
        conversation = ConversationFactory(account=APPID, assignee=agent)
        MessageFactory(conversation=conversation)


def test_inbox_list_costs_the_same_queries_for_2_and_20_conversations(
    client, agent_user, get_counting_queries
):
    OfficialAccountFactory(appid=APPID)
    client.force_login(agent_user)
    _waiting_conversations(2, agent_user)
    few, response = get_counting_queries(client, "/inbox/")
    assert len(response.context["page"].object_list) == 2
    _waiting_conversations(18, agent_user)
    many, response = get_counting_queries(client, "/inbox/")
    assert len(response.context["page"].object_list) == 20
    assert many == few


def test_conversation_page_costs_the_same_queries_for_2_and_20_of_everything(
    client, agent_user, get_counting_queries
):
    """Messages in the thread, timeline entries, earlier conversations, canned responses."""
    account = OfficialAccountFactory(appid=APPID)
    client.force_login(agent_user)
    conversation = ConversationFactory(account=APPID, assignee=agent_user)
    customer = conversation.customer

    def add(count):
        for _ in range(count):
            MessageFactory(conversation=conversation)
            MessageFactory(
                conversation=conversation,
                direction="out",
                sender=agent_user,
                sender_kind="agent",
                delivery_status="sent",
            )
            record_interaction(customer, "note", "wechat", summary="回访")
            ConversationFactory(
                account=APPID, customer=customer, status="resolved", resolved_at=timezone.now()
            )
            CannedResponseFactory(account=account)

    add(2)
    few, response = get_counting_queries(client, f"/inbox/{conversation.pk}/")
    assert len(response.context["thread"]) == 4
    add(18)
    many, response = get_counting_queries(client, f"/inbox/{conversation.pk}/")
    assert len(response.context["thread"]) == 40
    assert len(response.context["earlier"]) == 5  # the page shows the last five
    assert many == few
