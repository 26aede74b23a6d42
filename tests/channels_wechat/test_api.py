"""The WeChat API: accounts with write-only encrypted secrets; the agent's reply/assign/resolve."""

import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from channels_wechat.models import OfficialAccount
from crm.models import Conversation, Message
from tests.conftest import client_for as _client_for
from tests.conftest import make_staff

from .conftest import AES_KEY, APPID
from .factories import inbound


def client_for(user):
    """An API client asking for English, so error messages stay stable as translations grow."""
    client = _client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_create_account_secrets_write_only_and_encrypted(admin_user):
    api = client_for(admin_user)
    response = api.post(
        "/api/v1/wechat/accounts/",
        {
            "appid": "wx9999",
            "name": "花间集会员中心",
            "app_secret": "SECRET-1234",
            "token": "tok99",
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "app_secret" not in body and "token" not in body and "encoding_aes_key" not in body
    assert (body["has_encoding_aes_key"], body["callback_path"]) == (True, "/hooks/wechat/wx9999")
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_secret, token FROM channels_wechat_officialaccount")
        stored = cursor.fetchone()
    assert stored[0].startswith("enc1:") and "SECRET-1234" not in stored[0]
    assert OfficialAccount.objects.get(appid="wx9999").app_secret == "SECRET-1234"


def test_account_with_bad_key_or_safe_mode_without_key_is_refused(admin_user):
    api = client_for(admin_user)
    base = {"appid": "wx1", "name": "n", "app_secret": "s", "token": "tok1"}
    bad = api.post(
        "/api/v1/wechat/accounts/",
        {**base, "encoding_aes_key": "abcde", "mode": "safe"},
        format="json",
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {"encoding_aes_key": ["EncodingAESKey must be 43 letters and digits"]},
    )
    missing = api.post("/api/v1/wechat/accounts/", {**base, "mode": "safe"}, format="json")
    assert (missing.status_code, missing.json()) == (
        400,
        {"encoding_aes_key": ["Safe and compatible modes need the EncodingAESKey."]},
    )
    assert OfficialAccount.objects.count() == 0


def test_agent_replies_through_the_api(wechat_sandbox, account, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account, content="优惠券用不了")
    api = client_for(agent_user)
    listed = api.get("/api/v1/wechat/conversations/?assigned=unassigned&status=open").json()
    assert [c["id"] for c in listed["results"]] == [conversation.pk]
    response = api.post(
        f"/api/v1/wechat/conversations/{conversation.pk}/reply/",
        {"text": "您好，已为您补发优惠券。"},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["sender_kind"], response.json()["delivery_status"]) == ("agent", "sent")
    assert wechat_sandbox.state.sent[0]["text"] == {"content": "您好，已为您补发优惠券。"}
    messages = api.get(f"/api/v1/wechat/messages/?conversation={conversation.pk}").json()
    assert [(m["direction"], m["content"]) for m in messages["results"]] == [
        ("in", "优惠券用不了"),
        ("out", "您好，已为您补发优惠券。"),
    ]


def test_reply_outside_window_answers_409_with_45015(wechat_sandbox, account, agent_user):
    conversation = inbound(account)  # the sandbox never saw the user write: window closed
    wechat_sandbox.state.user(APPID, "oUser1")
    response = client_for(agent_user).post(
        f"/api/v1/wechat/conversations/{conversation.pk}/reply/", {"text": "在的"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["error_code"] == "45015"
    assert body["message"]["delivery_status"] == "failed"
    assert "48" in body["detail"]


def test_empty_reply_is_400_and_nothing_stored(account, agent_user):
    conversation = inbound(account)
    response = client_for(agent_user).post(
        f"/api/v1/wechat/conversations/{conversation.pk}/reply/", {"text": "  "}, format="json"
    )
    assert (response.status_code, response.json()) == (
        400,
        {"text": ["This field may not be blank."]},
    )
    assert Message.objects.filter(direction="out").count() == 0


def test_assign_and_resolve_send_the_survey(wechat_sandbox, account, agent_user):
    wechat_sandbox.state.interact(APPID, "oUser1", time.time(), True)
    conversation = inbound(account)
    other = make_staff("xiaoli", "agent")
    api = client_for(agent_user)
    assigned = api.post(
        f"/api/v1/wechat/conversations/{conversation.pk}/assign/",
        {"agent": other.pk},
        format="json",
    )
    assert (assigned.status_code, assigned.json()["assignee"]) == (200, other.pk)
    resolved = api.post(f"/api/v1/wechat/conversations/{conversation.pk}/resolve/")
    assert (resolved.status_code, resolved.json()["status"]) == (200, "resolved")
    assert resolved.json()["survey_sent_at"] is not None
    assert wechat_sandbox.state.sent[0]["text"]["content"].startswith("感谢您的咨询")
    again = api.post(f"/api/v1/wechat/conversations/{conversation.pk}/resolve/")
    assert (again.status_code, again.json()) == (
        400,
        {"conversation": ["This conversation is already resolved."]},
    )
    inbound(account, content="5", msg_id="m-rate", at=timezone.now() + timedelta(seconds=5))
    conversation.refresh_from_db()
    assert conversation.rating == 5


def test_marketing_cannot_reply_and_anonymous_is_refused(account, role_clients):
    """Marketing and managers have no add_message permission; anonymous callers none at all."""
    conversation = inbound(account)
    url = f"/api/v1/wechat/conversations/{conversation.pk}/reply/"
    assert role_clients["marketing"].post(url, {"text": "x"}, format="json").status_code == 403
    assert role_clients["anonymous"].get("/api/v1/wechat/conversations/").status_code == 401
    assert role_clients["manager"].post(url, {"text": "x"}, format="json").status_code == 403
    assert Conversation.objects.get().status == "open"


def test_messages_filtered_by_time_with_any_utc_offset(account, agent_user):
    # -21:05 is a valid ISO 8601 offset to Python but out of PostgreSQL's range: it was a 500.
    inbound(account, content="在吗")
    api = client_for(agent_user)
    wide = api.get(
        "/api/v1/wechat/messages/?sent_after=1228-06-17T00:38:04Z"
        "&sent_before=3025-06-25T22:15:58.557530-21:05"
    )
    assert (wide.status_code, [m["content"] for m in wide.json()["results"]]) == (200, ["在吗"])
    past = api.get("/api/v1/wechat/messages/?sent_before=2020-01-01T00:00:00%2B14:00")
    assert (past.status_code, past.json()["results"]) == (200, [])
    bad = api.get("/api/v1/wechat/messages/?sent_after=yesterday")
    assert bad.status_code == 400 and "sent" in str(bad.json())
