"""Private notes (never sent; @ notifies) and conversation labels, through the API and the inbox
pages (issue #19 items 3 and 4)."""

import pytest
from django.test import Client

from crm import inbox
from crm.models import (
    ConversationLabel,
    ConversationLabelling,
    ConversationNote,
    Message,
    Notification,
)
from tests.conftest import client_for, make_staff

from . import senders
from .factories import ConversationFactory, MessageFactory


@pytest.fixture(autouse=True)
def test_sender(monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    yield


@pytest.fixture
def conversation(db):
    conversation = ConversationFactory(customer__name="孙丽")
    MessageFactory(conversation=conversation, content="快递三天没到")
    return conversation


@pytest.fixture
def labels(db):
    return {
        name: ConversationLabel.objects.create(name=name) for name in ("售后", "物流", "投诉升级")
    }


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Notes -----------------------------------------------------------------------------------------


def test_note_with_mention_notifies_the_colleague_and_is_never_sent(conversation, agent_user):
    lina = make_staff("lina", "agent")
    response = client_for(agent_user).post(
        f"/api/v1/conversations/{conversation.pk}/notes/",
        {"body": "@lina 客户说快递三天没到，请跟进"},
        format="json",
    )
    assert response.status_code == 201, response.content
    note = ConversationNote.objects.get()
    assert response.json()["mentions"] == ["lina"]
    assert response.json()["private"] is True
    assert (note.conversation_id, note.author_id, note.body) == (
        conversation.pk,
        agent_user.pk,
        "@lina 客户说快递三天没到，请跟进",
    )
    # Never sent: no message row, nothing handed to the channel's sender.
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert senders.SENT == []
    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.actor_id, notification.note_id) == (
        lina.pk,
        agent_user.pk,
        note.pk,
    )
    assert notification.read_at is None
    lina_api = client_for(lina)
    assert lina_api.get("/api/v1/notifications/unread_count/").json() == {"unread": 1}
    assert client_for(agent_user).get("/api/v1/notifications/unread_count/").json() == {"unread": 0}
    assert lina_api.post("/api/v1/notifications/read/", {}, format="json").json() == {"marked": 1}
    assert lina_api.get("/api/v1/notifications/unread_count/").json() == {"unread": 0}


def test_mention_in_chinese_text_without_space_finds_the_username(conversation, agent_user):
    make_staff("张伟", "agent")
    note = inbox_note(conversation, agent_user, "@张伟请看一下这个退款")
    assert [u.username for u in note.mentions.all()] == ["张伟"]
    assert Notification.objects.get().recipient.username == "张伟"


def inbox_note(conversation, author, body):
    from crm.actions.notes import add_conversation_note

    return add_conversation_note(conversation, body, author=author)


def test_unknown_mention_is_plain_text_and_notifies_nobody(conversation, agent_user):
    make_staff("someone-inactive", "agent").__class__.objects.filter(
        username="someone-inactive"
    ).update(is_active=False)
    note = inbox_note(conversation, agent_user, "@nobody 和 @someone-inactive 看看")
    assert list(note.mentions.all()) == []
    assert Notification.objects.count() == 0
    response = page_client(agent_user).get(f"/inbox/{conversation.pk}/")
    html = response.content.decode()
    assert "@nobody 和 @someone-inactive 看看" in html
    assert 'class="mention"' not in html


def test_mention_of_a_user_who_cannot_see_the_inbox_notifies_nobody(conversation, agent_user):
    make_staff("mkt2", "marketing")
    note = inbox_note(conversation, agent_user, "@mkt2 请知悉")
    assert list(note.mentions.all()) == []
    assert Notification.objects.count() == 0


def test_empty_note_is_refused_with_field_error_and_nothing_written(conversation, agent_user):
    response = client_for(agent_user).post(
        f"/api/v1/conversations/{conversation.pk}/notes/", {"body": "   "}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"body": ["请先写备注。"]}  # "Write the note first."
    assert ConversationNote.objects.count() == 0


def test_note_shows_in_the_thread_marked_private_via_the_page(conversation, agent_user):
    lina = make_staff("lina", "agent")
    client = page_client(agent_user)
    response = client.post(f"/inbox/{conversation.pk}/notes/", {"body": "@lina 看一下"})
    assert response.status_code == 302
    note = ConversationNote.objects.get()
    thread = client.get(f"/inbox/{conversation.pk}/?fragment=thread").content.decode()
    assert f'data-note="{note.pk}"' in thread
    assert 'class="msg msg-note"' in thread
    assert '<span class="mention">@lina</span> 看一下' in thread
    # The note comes after the message it followed.
    assert thread.index("快递三天没到") < thread.index(f'data-note="{note.pk}"')
    assert senders.SENT == []
    # lina sees the unread count in the inbox and the notification on her page.
    lina_client = page_client(lina)
    listing = lina_client.get("/inbox/").content.decode()
    assert '<span id="unread-count">1</span>' in listing
    notifications = lina_client.get("/inbox/notifications/").content.decode()
    assert f'href="/inbox/{conversation.pk}/"' in notifications
    lina_client.post("/inbox/notifications/read/")
    assert Notification.objects.get().read_at is not None


# Labels ----------------------------------------------------------------------------------------


def test_labels_added_and_removed_through_the_api(conversation, labels, agent_user):
    api = client_for(agent_user)
    url = f"/api/v1/conversations/{conversation.pk}/labels/"
    response = api.post(url, {"add": ["售后", "物流"]}, format="json")
    assert response.status_code == 200
    assert [label["name"] for label in response.json()] == ["售后", "物流"]
    response = api.post(url, {"remove": ["物流"], "add": ["售后"]}, format="json")
    assert [label["name"] for label in response.json()] == ["售后"]
    assert list(ConversationLabelling.objects.values_list("label__name", "added_by_id")) == [
        ("售后", agent_user.pk)
    ]


def test_unknown_label_is_a_clear_400_and_changes_nothing(conversation, labels, agent_user):
    api = client_for(agent_user)
    url = f"/api/v1/conversations/{conversation.pk}/labels/"
    api.post(url, {"add": ["售后"]}, format="json")
    response = api.post(url, {"add": ["物流", "不存在"], "remove": ["售后"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"add": ["未知标签：不存在。"]}  # "Unknown label: 不存在."
    assert list(ConversationLabelling.objects.values_list("label__name", flat=True)) == ["售后"]


def test_labels_added_and_removed_in_the_inbox_page(conversation, labels, agent_user):
    client = page_client(agent_user)
    client.post(f"/inbox/{conversation.pk}/labels/", {"add": "投诉升级"})
    page = client.get(f"/inbox/{conversation.pk}/").content.decode()
    assert 'data-label="投诉升级"' in page
    client.post(f"/inbox/{conversation.pk}/labels/", {"remove": "投诉升级"})
    assert ConversationLabelling.objects.count() == 0
    response = client.post(f"/inbox/{conversation.pk}/labels/", {"add": "不存在"}, follow=True)
    assert ConversationLabelling.objects.count() == 0
    assert "未知标签：不存在。" in response.content.decode()


def test_labels_are_counted_on_the_wechat_dashboard(conversation, labels, admin_user):
    other = ConversationFactory()
    for c, names in ((conversation, ["售后", "物流"]), (other, ["售后"])):
        from crm.actions.labels import label_conversation

        label_conversation(c, add=names)
    from django.utils import timezone

    from dashboards.kpis import wechat_label_counts

    today = timezone.localdate()
    assert wechat_label_counts(today, today) == [
        {"label": "售后", "conversations": 2},
        {"label": "物流", "conversations": 1},
    ]
    page = page_client(admin_user).get("/dashboards/wechat/").content.decode()
    assert "售后" in page and "物流" in page
