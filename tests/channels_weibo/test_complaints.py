"""A negative mention becomes a complaint case in the inbox, answered in public on Weibo."""

from datetime import UTC, datetime

from channels_weibo.models import WeiboComment
from channels_weibo.polling import poll_account
from crm.models import Conversation, Message


def _complaint(world, account):
    fan = world.fans[0]
    status = world._status(fan, "快递一个星期还没到，太差了 @花漾美妆", datetime.now(UTC))
    poll_account(account)
    return status, Conversation.objects.get(kind="complaint", external_user=fan["idstr"])


def test_complaint_answered_in_public_under_the_post(client, weibo_sandbox, account, agent_user):
    status, case = _complaint(weibo_sandbox, account)
    client.force_login(agent_user)
    page = client.get(f"/weibo/cases/{case.pk}/reply/")
    assert page.status_code == 200 and "快递一个星期还没到" in page.content.decode()
    response = client.post(f"/weibo/cases/{case.pk}/reply/", {"text": "非常抱歉，已私信您跟进物流"})
    assert (response.status_code, response["Location"]) == (302, f"/inbox/{case.pk}/")
    answer = [c for c in weibo_sandbox.comments.values() if c["status"] is status]
    assert [(c["user"]["idstr"], c["text"]) for c in answer] == [
        ("5988800001", "非常抱歉，已私信您跟进物流")
    ]
    stored = WeiboComment.objects.get(idstr=str(answer[0]["id"]))
    assert (stored.author.uid, stored.sentiment_label) == ("5988800001", "")
    message = Message.objects.get(conversation=case, direction="out")
    assert (message.msg_type, message.sender, message.platform_msg_id) == (
        "comment",
        agent_user,
        f"comment:{answer[0]['id']}",
    )
    case.refresh_from_db()
    assert (case.status, case.first_response_at) == ("pending", message.sent_at)


def test_empty_public_reply_is_refused(client, weibo_sandbox, account, agent_user):
    _status, case = _complaint(weibo_sandbox, account)
    client.force_login(agent_user)
    response = client.post(
        f"/weibo/cases/{case.pk}/reply/", {"text": "  "}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert (
        '<p class="errornote" id="case-error">Write a reply first.</p>' in response.content.decode()
    )
    assert not Message.objects.filter(direction="out").exists()


def test_platform_refusal_is_shown(client, weibo_sandbox, account, agent_user):
    _status, case = _complaint(weibo_sandbox, account)
    client.force_login(agent_user)
    response = client.post(
        f"/weibo/cases/{case.pk}/reply/", {"text": "好" * 141}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "A Weibo comment has at most 140 characters." in response.content.decode()
