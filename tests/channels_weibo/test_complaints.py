"""A mention that names a problem and is not positive becomes a complaint case in the inbox,
answered in public on Weibo; a negative score alone (most questions) opens none."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from channels_weibo import sentiment
from channels_weibo.complaints import is_complaint, problem_words
from channels_weibo.ingest import ingest_statuses
from channels_weibo.models import WeiboAccount, WeiboComment, WeiboPost
from channels_weibo.polling import poll_account
from crm.models import Conversation, Message

from .factories import CST, status, user


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
    detail = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "非常抱歉，已私信您跟进物流" in detail  # the public answer is in the case's thread
    assert detail.count('<strong class="public">Public comment</strong>') == 1
    assert detail.count('<strong class="public">Public post</strong>') == 1


def test_complaint_cases_are_in_the_inbox_marked_and_filtered(
    client, weibo_sandbox, account, agent_user
):
    _status, case = _complaint(weibo_sandbox, account)
    client.force_login(agent_user)

    listed = client.get("/inbox/?kind=complaint", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    service = client.get("/inbox/?kind=service", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    detail = client.get(f"/inbox/{case.pk}/", HTTP_ACCEPT_LANGUAGE="en")

    row = f'<tr class="conversation-row" data-id="{case.pk}">'
    assert row in listed and '<span class="badge badge-complaint">Complaint</span>' in listed
    assert row not in service
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "快递一个星期还没到，太差了" in page
    assert f'<a href="/weibo/cases/{case.pk}/reply/" class="button" id="answer-in-public">' in page
    assert 'value="Resolve" id="resolve"' in page


def test_resolving_a_complaint_case_sends_no_survey(client, weibo_sandbox, account, agent_user):
    _status, case = _complaint(weibo_sandbox, account)
    client.force_login(agent_user)

    response = client.post(f"/inbox/{case.pk}/resolve/", follow=True, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200 and "Resolved." in response.content.decode()
    case.refresh_from_db()
    assert (case.status, case.survey_sent_at) == ("resolved", None)
    assert not Message.objects.filter(conversation=case, direction="out").exists()


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


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        # SnowNLP scores all of these negative; only those naming a problem are complaints.
        ("这个精华液多少钱？求链接 @花漾美妆", False),
        ("请问敏感肌可以用吗？", False),
        ("明天直播几点开始？", False),
        ("哪里买比较便宜？有没有团购", False),
        ("唉，今天下雨了", False),
        ("差不多用完了，回购", False),
        ("快递一个星期还没到，太差了，客服也不回复", True),
        ("用了三天，脸上红肿刺痛", True),
        ("客服态度很差，问题一直不解决", True),
        ("怎么申请退款？", True),
        ("已经向12315投诉了", True),
        ("效果一般般，有点失望", True),
        # The reposter's own words count, not the chain they quote.
        ("转发微博//@生气的人:快递一个星期还没到，太差了", False),
        ("同样过敏了//@生气的人:用了之后过敏了", True),
    ],
)
def test_a_complaint_needs_a_problem_named_and_a_score_not_positive(text, complaint):
    assert is_complaint(text, sentiment.score(text)) is complaint


def test_praise_or_a_denied_problem_is_not_a_complaint():
    assert problem_words("敏感肌也过敏，失望") == ["过敏", "失望"]
    assert problem_words("一点都不过敏，没有破损，也不会退货") == []
    assert (
        is_complaint("一点都不过敏，很温和，推荐", sentiment.score("一点都不过敏，很温和，推荐"))
        is False
    )
    praise = "用了很舒服，爱了爱了，就是快递太慢"
    assert problem_words(praise) == ["太慢"]
    assert sentiment.analyse(praise)[1] == "positive"
    assert is_complaint(praise, sentiment.score(praise)) is False


def test_a_negative_question_is_listed_as_negative_but_opens_no_case(db):
    brand = WeiboAccount.objects.create(uid="5988800001", screen_name="花漾美妆", token_status="ok")
    now = datetime.now(UTC).astimezone(CST)
    question = status(5000000000000400, user(7000000040, "想买的人"), "这个精华液多少钱？求链接", 0)
    angry = status(5000000000000401, user(7000000041, "生气的人"), "快递还没到，太差了", 1)
    for obj in (question, angry):
        obj["created_at"] = now.strftime("%a %b %d %H:%M:%S %z %Y")

    ingest_statuses(brand, [question, angry], mention_stream=True)

    labels = dict(WeiboPost.objects.values_list("author__screen_name", "sentiment_label"))
    assert labels == {"想买的人": "negative", "生气的人": "negative"}
    cases = Conversation.objects.filter(kind=Conversation.Kind.COMPLAINT)
    assert list(cases.values_list("external_user", flat=True)) == ["7000000041"]


def test_listening_links_a_post_to_its_complaint_case(client, weibo_sandbox, account, agent_user):
    _status, case = _complaint(weibo_sandbox, account)
    agent_user.user_permissions.add(Permission.objects.get(codename="view_weibopost"))
    client.force_login(agent_user)

    page = client.get("/weibo/mentions/?sentiment=negative", HTTP_ACCEPT_LANGUAGE="en")

    assert f'<a href="/inbox/{case.pk}/">Complaint case</a>' in page.content.decode()
    from_posts = Conversation.objects.filter(kind="complaint", subject_type__model="weibopost")
    assert page.content.decode().count(">Complaint case</a>") == from_posts.count() >= 1
