"""Weibo → WeChat handoffs from a keyword rule (issue #16 item 2): the rule's "send the WeChat
handoff link" action sends the author of a matching post or comment the link once, through a
task after ingestion, against the Weibo sandbox; refusals are recorded, never raised into
ingestion; marketing alone sets the action (admin and API)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from channels_weibo.handoff import send_rule_handoff
from channels_weibo.models import KeywordRule, WeiboPost, WeiboUser
from channels_weibo.polling import poll_account
from crm.models import Handoff, Lead, Message
from tests.conftest import client_for

from .handoff_helpers import LINK_START, fan_writes, links, new_fan


def _mention(world, fan, text, at=None):
    return world._status(fan, text, at or datetime.now(UTC))


def _poll(brand, captured):
    with captured(execute=True):
        assert poll_account(brand)["status"] == "ok"


def test_rule_sends_the_link_once_per_person(weibo, brand, django_capture_on_commit_callbacks):
    captured = django_capture_on_commit_callbacks
    rule = KeywordRule.objects.create(name="想加微信", words="加微信", action_handoff=True)
    fan, late = new_fan(weibo, 11), new_fan(weibo, 12)
    status = _mention(weibo, fan, "怎么加微信呀 @花漾美妆")
    # History (8 days old) is no one to write to now.
    _mention(weibo, late, "想加微信 @花漾美妆", datetime.now(UTC) - timedelta(days=8))
    _poll(brand, captured)
    post = WeiboPost.objects.get(idstr=status["idstr"])
    user = WeiboUser.objects.get(uid=fan["idstr"])
    [link] = links(weibo)
    assert link["status"] is status and weibo.sent == []
    lead = Lead.objects.get()
    assert (lead.customer, lead.source, lead.origin, lead.title, lead.created_at) == (
        user.customer,
        post,
        rule,
        "想加微信：怎么加微信呀 @花漾美妆",
        post.created_at,
    )
    handoff = Handoff.objects.get()
    assert (handoff.purpose, handoff.weibo_uid, handoff.lead, handoff.sent_by) == (
        "lead",
        fan["idstr"],
        lead,
        "comment",
    )
    # A second match by the same fan: no second link, and no second lead.
    _mention(weibo, fan, "加微信了吗？@花漾美妆")
    _poll(brand, captured)
    assert (len(links(weibo)), Handoff.objects.count(), Lead.objects.count()) == (1, 1, 1)


def test_rule_sends_by_private_message_inside_the_window(
    client, weibo, brand, django_capture_on_commit_callbacks
):
    captured = django_capture_on_commit_callbacks
    KeywordRule.objects.create(
        name="想加微信", words="加微信", action_handoff=True, action_lead=True
    )
    fan = new_fan(weibo, 13)
    fan_writes(client, captured, fan["idstr"])
    _mention(weibo, fan, "可以加微信吗 @花漾美妆")
    _poll(brand, captured)
    [sent] = weibo.sent
    assert (sent["receiver_id"], sent["text"].startswith(LINK_START)) == (fan["idstr"], True)
    assert links(weibo) == []
    handoff = Handoff.objects.get()
    assert (handoff.sent_by, handoff.lead, Lead.objects.count()) == (
        "message",
        Lead.objects.get(),
        1,
    )
    out = Message.objects.get(data__handoff=handoff.pk)
    assert (out.sender_kind, out.sender, out.delivery_status) == ("system", None, "sent")


def test_rule_failure_is_recorded_not_raised_and_a_later_match_tries_again(
    weibo, brand, django_capture_on_commit_callbacks
):
    captured = django_capture_on_commit_callbacks
    KeywordRule.objects.create(name="想加微信", words="加微信", action_handoff=True)
    fan = new_fan(weibo, 14)
    weibo.failures.append(
        {"path": "/2/comments/create.json", "error_code": 20019, "error": "repeat content!"}
    )
    _mention(weibo, fan, "加微信 @花漾美妆")
    _poll(brand, captured)  # ingestion went on: the poll is "ok"
    handoff = Handoff.objects.get()
    assert (handoff.sent_by, handoff.send_error) == ("", "20019: repeat content!")
    assert links(weibo) == [] and Lead.objects.count() == 1
    _mention(weibo, fan, "再问一次，加微信 @花漾美妆")
    _poll(brand, captured)
    handoff.refresh_from_db()
    assert (handoff.sent_by, handoff.send_error, len(links(weibo))) == ("comment", "", 1)
    assert Handoff.objects.count() == 1 and Lead.objects.count() == 2


def test_rule_transient_failure_is_recorded_for_a_retry(weibo, brand):
    rule = KeywordRule.objects.create(name="想加微信", words="加微信", action_handoff=True)
    fan = new_fan(weibo, 15)
    status = _mention(weibo, fan, "加微信 @花漾美妆")
    poll_account(brand)  # the task's callback is not run: the test calls the function itself
    post = WeiboPost.objects.get(idstr=status["idstr"])
    weibo.failures.append(
        {"path": "/2/comments/create.json", "error_code": 10001, "error": "system error"}
    )
    assert send_rule_handoff("post", post.pk, rule.pk) == "retry"
    assert Handoff.objects.get().send_error == "10001: system error"
    assert send_rule_handoff("post", post.pk, rule.pk) == "comment"  # the retry
    assert send_rule_handoff("post", post.pk, rule.pk) == "skipped"  # and only once
    assert len(links(weibo)) == 1


@pytest.mark.parametrize("purpose", ["lead", "complaint"])
def test_rule_skips_a_person_who_already_followed_through(weibo, brand, purpose):
    KeywordRule.objects.create(name="想加微信", words="加微信", action_handoff=True)
    fan = new_fan(weibo, 16)
    status = _mention(weibo, fan, "加微信 @花漾美妆")
    poll_account(brand)  # callbacks not run: the fan is known, nothing sent yet
    user = WeiboUser.objects.get(uid=fan["idstr"])
    used = Handoff.objects.create(
        customer=user.customer,
        weibo_uid=user.uid,
        purpose=purpose,
        token_hash="c" * 64,
        expires_at=timezone.now(),
        used_at=timezone.now(),
        used_openid="oDone",
    )
    rule = KeywordRule.objects.get()
    post = WeiboPost.objects.get(idstr=status["idstr"])
    assert send_rule_handoff("post", post.pk, rule.pk) == "skipped"
    assert (Lead.objects.count(), links(weibo), weibo.sent) == (0, [], [])
    assert Handoff.objects.get() == used
    # Nor a comment whose item or rule is gone.
    assert send_rule_handoff("comment", 999999999, rule.pk) == "skipped"
    assert send_rule_handoff("post", post.pk, 999999999) == "skipped"


def test_rule_action_is_set_in_the_admin_and_the_api_by_marketing_only(
    client, marketing_user, manager_user, agent_user
):
    today = timezone.localdate().isoformat()
    form = {
        "name": "想加微信",
        "words": "加微信",
        "exclusions": "",
        "tag_name": "",
        "created_at_0": today,
        "created_at_1": "09:00:00",
    }
    client.force_login(manager_user)
    refused = client.post(
        "/admin/channels_weibo/keywordrule/add/", {**form, "action_handoff": "on"}
    )
    assert refused.status_code == 403 and KeywordRule.objects.count() == 0
    client.force_login(marketing_user)
    response = client.post(
        "/admin/channels_weibo/keywordrule/add/", {**form, "action_handoff": "on", "active": "on"}
    )
    assert response.status_code == 302
    rule = KeywordRule.objects.get()
    assert (rule.action_handoff, rule.action_lead, rule.active) == (True, False, True)
    changelist = client.get("/admin/channels_weibo/keywordrule/").content.decode()
    assert "发送微信引流链接" in changelist
    api = client_for(marketing_user)
    created = api.post(
        "/api/v1/weibo/keyword-rules/",
        {"name": "求联系", "words": "联系方式", "action_handoff": True},
        format="json",
    )
    assert created.status_code == 201 and created.json()["action_handoff"] is True
    listed = api.get("/api/v1/weibo/keyword-rules/?action_handoff=true").json()
    assert sorted(r["name"] for r in listed["results"]) == ["想加微信", "求联系"]
    denied = client_for(agent_user).post(
        "/api/v1/weibo/keyword-rules/",
        {"name": "客服", "words": "客服", "action_handoff": True},
        format="json",
    )
    assert denied.status_code == 403 and KeywordRule.objects.count() == 2
