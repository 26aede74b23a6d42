"""Every new page and endpoint of issue #19 items 3-6 (notes, labels, notifications, search,
customer import) for every role: what each role may do answers as it should, and what it may not
is refused and writes nothing."""

import pytest
from django.test import Client

from crm.models import (
    Channel,
    ConversationLabel,
    ConversationLabelling,
    ConversationNote,
    Customer,
    CustomerImport,
    Notification,
)
from tests.conftest import client_for
from tests.crm.factories import ConversationFactory, MessageFactory

ROLES = ("marketing", "agent", "manager", "superuser", "anonymous")
LOGIN = "login"


@pytest.fixture
def users(marketing_user, agent_user, manager_user, admin_user):
    return {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
        "anonymous": None,
    }


@pytest.fixture
def seeded(db, agent_user):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, content="退款")
    ConversationLabel.objects.create(name="售后")
    record = CustomerImport.objects.create(file_name="x.csv", customer_ids=[])
    Notification.objects.create(
        recipient=agent_user, kind="mention", conversation=conversation, text="t"
    )
    return {"conversation": conversation, "import": record}


def counts() -> tuple:
    return (
        ConversationLabel.objects.count(),
        ConversationLabelling.objects.count(),
        ConversationNote.objects.count(),
        Notification.objects.filter(read_at__isnull=False).count(),
        Customer.objects.count(),
        CustomerImport.objects.filter(undone_at__isnull=False).count(),
    )


# (method, path, body, {role: expected status}); paths use {c} for the conversation and {i} for
# the import record.
API = [
    ("get", "/api/v1/conversation-labels/", None, dict(marketing=200, agent=200, manager=200)),
    (
        "post",
        "/api/v1/conversation-labels/",
        {"name": "物流"},
        dict(marketing=201, agent=403, manager=403, superuser=201),
    ),
    ("get", "/api/v1/conversations/?q=退款", None, dict(marketing=403, agent=200, manager=200)),
    ("get", "/api/v1/conversations/{c}/", None, dict(marketing=403, agent=200, manager=200)),
    (
        "post",
        "/api/v1/conversations/{c}/labels/",
        {"add": ["售后"]},
        dict(marketing=403, agent=200, manager=403),
    ),
    ("get", "/api/v1/conversations/{c}/notes/", None, dict(marketing=403, agent=200, manager=200)),
    (
        "post",
        "/api/v1/conversations/{c}/notes/",
        {"body": "内部备注"},
        dict(marketing=403, agent=201, manager=403, superuser=201),
    ),
    ("get", "/api/v1/notifications/", None, dict(marketing=403, agent=200, manager=200)),
    (
        "get",
        "/api/v1/notifications/unread_count/",
        None,
        dict(marketing=403, agent=200, manager=200),
    ),
    ("post", "/api/v1/notifications/read/", {}, dict(marketing=403, agent=200, manager=403)),
]
PAGES = [
    ("get", "/inbox/search/?q=退款", None, dict(marketing=403, agent=200, manager=200)),
    ("get", "/inbox/{c}/", None, dict(marketing=403, agent=200, manager=200)),
    (
        "post",
        "/inbox/{c}/notes/",
        {"body": "内部备注"},
        dict(marketing=403, agent=302, manager=403, superuser=302),
    ),
    (
        "post",
        "/inbox/{c}/labels/",
        {"add": "售后"},
        dict(marketing=403, agent=302, manager=403, superuser=302),
    ),
    ("get", "/inbox/notifications/", None, dict(marketing=403, agent=200, manager=200)),
    (
        "post",
        "/inbox/notifications/read/",
        {},
        dict(marketing=403, agent=302, manager=403, superuser=302),
    ),
    (
        "get",
        "/admin/crm/customerimport/import/",
        None,
        dict(marketing=200, agent=403, manager=403),
    ),
    (
        "post",
        "/admin/crm/customerimport/import/",
        {
            "step": "confirm",
            "table": '{"file": "a.csv", "header": ["name"], "rows": [["A"]]}',
            "map_name": "0",
        },
        dict(marketing=302, agent=403, manager=403, superuser=302),
    ),
    (
        "get",
        "/admin/crm/customerimport/{i}/undo/",
        None,
        dict(marketing=200, agent=403, manager=403),
    ),
    (
        "post",
        "/admin/crm/customerimport/{i}/undo/",
        {},
        dict(marketing=302, agent=403, manager=403, superuser=302),
    ),
]


def _expected(table: dict, role: str, api: bool):
    if role == "anonymous":
        return 401 if api else LOGIN
    return table.get(role, 200)


@pytest.mark.parametrize("role", ROLES)
def test_api_endpoints_for_every_role(role, users, seeded):
    client = client_for(users[role])
    for method, path, body, table in API:
        path = path.format(c=seeded["conversation"].pk, i=seeded["import"].pk)
        expected = _expected(table, role, api=True)
        before = counts()
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == expected, (role, method, path, response.content[:200])
        if expected in (401, 403) or method == "get":
            assert counts() == before, (role, method, path)


@pytest.mark.parametrize("role", ROLES)
def test_pages_for_every_role(role, users, seeded):
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    for method, path, body, table in PAGES:
        path = path.format(c=seeded["conversation"].pk, i=seeded["import"].pk)
        expected = _expected(table, role, api=False)
        before = counts()
        response = getattr(client, method)(path, body or {})
        if expected == LOGIN:
            assert response.status_code == 302, (role, path)
            assert "/login/" in response["Location"], (role, path)
        else:
            assert response.status_code == expected, (role, method, path)
        if expected in (LOGIN, 403) or method == "get":
            assert counts() == before, (role, method, path)


@pytest.mark.parametrize("role", ["agent", "manager", "superuser"])
def test_conversation_outside_the_inbox_is_not_found_for_notes_labels_or_search(
    role, users, seeded
):
    # The inbox's object rule (visible_conversations): only private-channel conversations.
    hidden = ConversationFactory(channel=Channel.MANUAL)
    MessageFactory(conversation=hidden, content="退款")
    api = client_for(users[role])
    assert api.get(f"/api/v1/conversations/{hidden.pk}/notes/").status_code == 404
    response = api.post(
        f"/api/v1/conversations/{hidden.pk}/labels/", {"add": ["售后"]}, format="json"
    )
    assert response.status_code in (403, 404)
    found = [row["id"] for row in api.get("/api/v1/conversations/?q=退款").json()["results"]]
    assert found == [seeded["conversation"].pk]
    page = Client()
    page.force_login(users[role])
    assert page.post(f"/inbox/{hidden.pk}/notes/", {"body": "x"}).status_code in (403, 404)
    assert ConversationNote.objects.filter(conversation=hidden).count() == 0
    assert ConversationLabelling.objects.filter(conversation=hidden).count() == 0
