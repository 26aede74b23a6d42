"""Query-count guards of the WeChat API lists: 2 rows and 20 cost the same queries."""

import pytest

from tests.conftest import client_for
from tests.crm.factories import ConversationFactory, MessageFactory

from .factories import OfficialAccountFactory


def _conversations(count, agent):
    for _ in range(count):
        conversation = ConversationFactory(assignee=agent, resolved_by=agent)
        MessageFactory(conversation=conversation)


def _messages(count, agent):
    for _ in range(count):
        MessageFactory(direction="out", sender=agent, sender_kind="agent", delivery_status="sent")


@pytest.mark.parametrize(
    "url,make",
    [
        (
            "/api/v1/wechat/accounts/",
            lambda count, agent: OfficialAccountFactory.create_batch(count),
        ),
        ("/api/v1/wechat/conversations/", _conversations),
        ("/api/v1/wechat/messages/", _messages),
    ],
)
def test_wechat_list_costs_the_same_queries_for_2_and_20_rows(
    url, make, agent_user, get_counting_queries
):
    """As an agent, who reads the inbox (and whose visibility rules filter it)."""
    api = client_for(agent_user)
    make(2, agent_user)
    few, response = get_counting_queries(api, url)
    assert response.json()["count"] == 2
    make(18, agent_user)
    many, response = get_counting_queries(api, url)
    assert response.json()["count"] == 20
    assert many == few
