"""Mass sends (issue #18 item 4) through the sandbox over loopback and the real webhook:
planning (consent, monthly quota, batches), sending by openid list and by tag, the limits and
errcodes of the platform, MASSSENDJOBFINISH, previews, scheduling."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from channels_wechat.mass.approval import preview_send, start_send
from channels_wechat.mass.planning import month_bounds, plan_send, quota_left
from channels_wechat.mass.sending import due_sends, next_midnight, run_send
from channels_wechat.mass_client import MassClient
from channels_wechat.models import MassSend, MassSendBatch, MassSendRecipient
from channels_wechat.tasks import send_due_mass_sends_task
from crm.models import Message

from .conftest import post_push, push_xml
from .mass_helpers import draft, followers, sandbox_get, sandbox_post, started

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_batches(settings):
    settings.WECHAT_MASS_BATCH_SIZE = 3


def statuses(send):
    return dict(
        (s, MassSendRecipient.objects.filter(send=send, status=s).count())
        for s in ("pending", "deferred", "sent", "failed")
    )


def test_plan_counts_and_skips_followers_without_marketing_consent(account, wechat_sandbox):
    followers(account, wechat_sandbox, 3)
    followers(account, wechat_sandbox, 2, prefix="oNoConsent", consent=False)
    send = plan_send(started(account))
    assert (send.targeted, send.skipped_consent, send.deferred) == (3, 2, 0)
    assert sorted(MassSendRecipient.objects.filter(send=send).values_list("openid", flat=True)) == [
        "oMass0000",
        "oMass0001",
        "oMass0002",
    ]


def test_sends_by_openid_list_in_batches_each_follower_once(account, wechat_sandbox, small_batches):
    followers(account, wechat_sandbox, 7)
    send = started(account)
    assert run_send(send.pk) == "done"
    send.refresh_from_db()
    assert (send.targeted, send.sent, send.failed, send.status) == (7, 7, 0, "done")
    batches = list(MassSendBatch.objects.filter(send=send).order_by("seq"))
    assert [(b.seq, b.size, b.status, b.attempts) for b in batches] == [
        (1, 3, "sent", 1),
        (2, 2, "sent", 1),
        (3, 2, "sent", 1),
    ]
    seen = sandbox_get(wechat_sandbox, "/sandbox/mass")
    assert seen["received"] == {f"oMass{i:04d}": 1 for i in range(7)}
    assert sorted(j["clientmsgid"] for j in seen["jobs"]) == sorted(b.clientmsgid for b in batches)
    assert {j["payload"]["content"] for j in seen["jobs"]} == {"会员日全场八折"}
    assert sorted(str(j["msg_id"]) for j in seen["jobs"]) == sorted(b.msg_id for b in batches)


def test_unapproved_send_cannot_go_out(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    send = draft(account)
    with pytest.raises(ValidationError) as refused:
        start_send(send)
    assert refused.value.messages == ["未经审批的群发不能发送。"]
    # Even a row forced to "sending" without an approver is not sent by the worker.
    MassSend.objects.filter(pk=send.pk).update(status="sending")
    assert run_send(send.pk) == "not started"
    assert MassSendRecipient.objects.count() == 0
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["jobs"] == []


def test_batch_already_taken_by_wechat_is_recorded_once_through_45065(account, wechat_sandbox):
    followers(account, wechat_sandbox, 4)
    send = plan_send(started(account))
    batch = MassSendBatch.objects.get(send=send)
    # A worker sent this batch and was killed before storing the answer.
    first = MassClient(account).mass_send(
        ["oMass0000", "oMass0001", "oMass0002", "oMass0003"],
        {"msgtype": "text", "text": {"content": "会员日全场八折"}},
        batch.clientmsgid,
    )
    assert run_send(send.pk) == "done"
    batch.refresh_from_db()
    assert (batch.status, batch.msg_id, batch.attempts) == ("sent", str(first["msg_id"]), 1)
    assert statuses(send) == {"pending": 0, "deferred": 0, "sent": 4, "failed": 0}
    seen = sandbox_get(wechat_sandbox, "/sandbox/mass")
    assert len(seen["jobs"]) == 1
    assert seen["received"] == {f"oMass{i:04d}": 1 for i in range(4)}


def test_daily_limit_45009_keeps_the_recipients_left_for_the_next_day(
    account, wechat_sandbox, small_batches
):
    followers(account, wechat_sandbox, 7)
    sandbox_post(wechat_sandbox, "/sandbox/mass_config", {"daily_limit": 1})
    send = started(account)
    now = timezone.now()
    assert run_send(send.pk, now=now) == "waiting"
    send.refresh_from_db()
    assert send.next_attempt_at == next_midnight(now)
    assert send.last_error.startswith("45009")
    assert statuses(send) == {"pending": 4, "deferred": 0, "sent": 3, "failed": 0}
    assert send.sent == 3
    # Before midnight nothing happens; after it the rest goes out.
    assert due_sends(now) == []
    assert run_send(send.pk, now=now + timedelta(minutes=1)) == "waiting"
    sandbox_post(wechat_sandbox, "/sandbox/mass_config", {"daily_limit": 100})
    assert due_sends(send.next_attempt_at) == [send.pk]
    assert run_send(send.pk, now=send.next_attempt_at) == "done"
    assert statuses(send) == {"pending": 0, "deferred": 0, "sent": 7, "failed": 0}
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["received"] == {
        f"oMass{i:04d}": 1 for i in range(7)
    }


def test_follower_over_the_monthly_quota_is_deferred_to_next_month(account, wechat_sandbox):
    users = followers(account, wechat_sandbox, 3)
    # oMass0000 already got 4 mass sends this month through earlier sends.
    for n in range(4):
        earlier = started(account, title=f"earlier {n}")
        MassSendRecipient.objects.create(
            send=earlier,
            user=users[0],
            openid=users[0].openid,
            status="sent",
            sent_at=timezone.now() - timedelta(minutes=5),
        )
        MassSend.objects.filter(pk=earlier.pk).update(status="done", planned_at=timezone.now())
    assert quota_left([u.pk for u in users]) == {users[0].pk: 0, users[1].pk: 4, users[2].pk: 4}
    send = started(account)
    now = timezone.now()
    assert run_send(send.pk, now=now) == "waiting"
    send.refresh_from_db()
    _start, next_month = month_bounds(now)
    assert (send.targeted, send.deferred, send.sent, send.next_attempt_at) == (3, 1, 2, next_month)
    deferred = MassSendRecipient.objects.get(send=send, status="deferred")
    assert (deferred.openid, deferred.not_before) == ("oMass0000", next_month)
    # Next month the deferred follower gets it (two openids are needed per call: add one).
    assert run_send(send.pk, now=next_month) == "done"
    assert statuses(send) == {"pending": 0, "deferred": 0, "sent": 2, "failed": 1}
    assert MassSendRecipient.objects.get(send=send, openid="oMass0000").error_code == "40130"


def test_unknown_openid_fails_only_that_recipient_and_is_not_retried(account, wechat_sandbox):
    followers(account, wechat_sandbox, 3)
    followers(account, wechat_sandbox, 1, prefix="oGone", known=False)
    send = started(account)
    assert run_send(send.pk) == "done"
    assert statuses(send) == {"pending": 0, "deferred": 0, "sent": 3, "failed": 1}
    failed = MassSendRecipient.objects.get(send=send, status="failed")
    assert (failed.openid, failed.error_code) == ("oGone0000", "40003")
    assert [(b.seq, b.status, b.error_code) for b in send.batches.order_by("seq")] == [
        (1, "split", "40003"),
        (2, "sent", ""),
    ]
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["received"] == {
        f"oMass{i:04d}": 1 for i in range(3)
    }
    send.refresh_from_db()
    assert (send.sent, send.failed) == (3, 1)


def test_permanent_error_fails_the_batch_without_retrying(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    send = started(account, kind="image", text="", media_id="not-uploaded")
    assert run_send(send.pk) == "done"
    assert statuses(send) == {"pending": 0, "deferred": 0, "sent": 0, "failed": 2}
    assert set(MassSendRecipient.objects.values_list("error_code", flat=True)) == {"40007"}
    assert MassSendBatch.objects.get(send=send).attempts == 1
    assert wechat_sandbox.state.stats.get("mass_send", 0) == 0


def test_transient_errors_are_retried_with_backoff(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    # Two failures: the client's own retries get through.
    sandbox_post(
        wechat_sandbox,
        "/sandbox/fail",
        {"path": "/cgi-bin/message/mass/send", "errcode": -1, "times": 2},
    )
    send = started(account)
    assert run_send(send.pk) == "done"
    assert statuses(send)["sent"] == 2
    # Four failures: the send stays pending and is tried again a minute later.
    sandbox_post(
        wechat_sandbox,
        "/sandbox/fail",
        {"path": "/cgi-bin/message/mass/send", "errcode": -1, "times": 4},
    )
    again = started(account, title="再发一次")
    now = timezone.now()
    assert run_send(again.pk, now=now) == "sending"
    again.refresh_from_db()
    assert (again.next_attempt_at, again.last_error) == (
        now + timedelta(minutes=1),
        "-1 injected failure",
    )
    assert statuses(again) == {"pending": 2, "deferred": 0, "sent": 0, "failed": 0}
    assert run_send(again.pk, now=now + timedelta(minutes=1)) == "done"
    assert statuses(again)["sent"] == 2


def test_masssendjobfinish_push_records_wechat_counts(
    account, wechat_sandbox, django_capture_on_commit_callbacks
):
    followers(account, wechat_sandbox, 3)
    send = started(account)
    run_send(send.pk)
    batch = MassSendBatch.objects.get(send=send)
    xml = push_xml(
        openid="mphelper",
        msg_type="event",
        event="MASSSENDJOBFINISH",
        MsgID=batch.msg_id,
        Status="send success",
        TotalCount="3",
        FilterCount="1",
        SentCount="2",
        ErrorCount="0",
    )
    for _delivery in range(2):  # WeChat retries a push: the same numbers again
        with django_capture_on_commit_callbacks(execute=True):
            assert post_push(Client(), xml).content == b"success"
    batch.refresh_from_db()
    send.refresh_from_db()
    assert (batch.total_count, batch.filter_count, batch.sent_count, batch.error_count) == (
        3,
        1,
        2,
        0,
    )
    assert send.filtered == 1
    assert Message.objects.filter(external_user="mphelper").count() == 0


def test_sandbox_pushes_masssendjobfinish_to_the_hook(account, wechat_sandbox, live_server):
    followers(account, wechat_sandbox, 2)
    wechat_sandbox.state.accounts[account.appid]["callback"] = (
        f"{live_server.url}/hooks/wechat/{account.appid}"
    )
    send = started(account)
    run_send(send.pk)
    batch = MassSendBatch.objects.get(send=send)
    answer = sandbox_post(
        wechat_sandbox, "/sandbox/mass_finish", {"appid": account.appid, "msg_id": batch.msg_id}
    )
    assert (answer["status"], answer["body"]) == (200, "success")
    batch.refresh_from_db()
    assert (batch.total_count, batch.filter_count, batch.sent_count, batch.error_count) == (
        2,
        0,
        2,
        0,
    )


def test_preview_goes_to_one_follower_and_refuses_a_stranger(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    send = draft(account)
    preview_send(send, "oMass0001")
    previews = sandbox_get(wechat_sandbox, "/sandbox/mass")["previews"]
    assert [(p["touser"], p["text"]["content"]) for p in previews] == [
        ("oMass0001", "会员日全场八折")
    ]
    with pytest.raises(ValidationError) as refused:
        preview_send(send, "oStranger")
    assert refused.value.message_dict == {"openid": [f"该 OpenID 不是 {account} 的粉丝。"]}
    assert MassSendRecipient.objects.count() == 0


def test_scheduled_send_goes_out_from_the_beat_task_when_due(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    at = timezone.now() + timedelta(hours=2)
    send = started(account, scheduled_at=at)
    assert send.status == "scheduled"
    assert send_due_mass_sends_task() == 0
    assert due_sends(at) == [send.pk]
    MassSend.objects.filter(pk=send.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert send_due_mass_sends_task() == 1  # eager: ran the send
    send.refresh_from_db()
    assert (send.status, send.sent) == ("done", 2)


def test_news_goes_through_a_draft_and_mpnews(account, wechat_sandbox):
    followers(account, wechat_sandbox, 2)
    send = started(
        account,
        kind="mpnews",
        text="",
        article={"title": "冬季护肤指南", "content": "<p>保湿三步</p>", "thumb_media_id": "thumb1"},
        link_url="https://shop.example.com/winter",
    )
    assert run_send(send.pk) == "done"
    send.refresh_from_db()
    assert send.media_id.startswith("draft_")
    state = wechat_sandbox.state.extra["mass"]
    article = state["drafts"][send.media_id]["articles"][0]
    assert article["title"] == "冬季护肤指南"
    assert article["content_source_url"].startswith("http://127.0.0.1:8000/r/")
    assert [j["payload"] for j in state["jobs"].values()] == [{"media_id": send.media_id}]


def test_empty_text_and_unclaimable_coupon_are_refused_at_approval(account, wechat_sandbox):
    from channels_wechat.mass.approval import approve_send
    from tests.conftest import make_staff
    from tests.members.factories import CouponTemplateFactory

    boss = make_staff("boss2", "manager")
    empty = draft(account, text="  ")
    with pytest.raises(ValidationError) as refused:
        approve_send(empty, boss)
    assert refused.value.message_dict == {"text": ["文本消息需要填写内容。"]}
    template = CouponTemplateFactory(public_claim=False)
    coupon = draft(account, kind="coupon", text="送你一张券", coupon_template=template)
    with pytest.raises(ValidationError) as refused:
        approve_send(coupon, boss)
    assert refused.value.message_dict == {
        "coupon_template": ["该优惠券无法通过链接领取：请启用并设为可公开领取。"]
    }
    assert set(MassSend.objects.values_list("status", flat=True)) == {"draft"}


def test_send_to_a_synced_tag_goes_by_sendall_in_one_call(account, wechat_sandbox):
    from channels_wechat.tags_sync import push_tag
    from crm.models import Tag

    vip = Tag.objects.create(name="VIP")
    followers(account, wechat_sandbox, 3, prefix="oVip", tags=[vip])
    followers(account, wechat_sandbox, 2, prefix="oOther")
    push_tag(account, vip)
    send = started(account, target="tag", tag=vip)
    assert run_send(send.pk) == "done"
    send.refresh_from_db()
    assert (send.use_sendall, send.targeted, send.sent) == (True, 3, 3)
    assert [(b.size, b.status) for b in send.batches.all()] == [(3, "sent")]
    seen = sandbox_get(wechat_sandbox, "/sandbox/mass")
    assert seen["received"] == {"oVip0000": 1, "oVip0001": 1, "oVip0002": 1}
    assert wechat_sandbox.state.stats["mass_send"] == 1


def test_tag_with_a_follower_without_consent_goes_by_openid_list(account, wechat_sandbox):
    from channels_wechat.tags_sync import push_tag
    from crm.models import Tag

    vip = Tag.objects.create(name="VIP")
    followers(account, wechat_sandbox, 2, prefix="oVip", tags=[vip])
    followers(account, wechat_sandbox, 1, prefix="oNo", consent=False, tags=[vip])
    push_tag(account, vip)  # WeChat's tag holds all three
    send = started(account, target="tag", tag=vip)
    assert run_send(send.pk) == "done"
    send.refresh_from_db()
    assert (send.use_sendall, send.targeted, send.skipped_consent, send.sent) == (False, 2, 1, 2)
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["received"] == {
        "oVip0000": 1,
        "oVip0001": 1,
    }


def test_cancelled_send_sends_nothing_more(account, wechat_sandbox):
    from channels_wechat.mass.approval import cancel_send

    followers(account, wechat_sandbox, 2)
    send = started(account)
    cancel_send(send)
    assert run_send(send.pk) == "not started"
    with pytest.raises(ValidationError) as refused:
        cancel_send(send)
    assert refused.value.messages == ["该群发已结束。"]
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["jobs"] == []


def test_deferred_follower_who_withdrew_consent_is_not_sent_next_month(account, wechat_sandbox):
    users = followers(account, wechat_sandbox, 4)
    for n in range(4):
        earlier = started(account, title=f"earlier {n}")
        MassSendRecipient.objects.create(
            send=earlier,
            user=users[0],
            openid=users[0].openid,
            status="sent",
            sent_at=timezone.now() - timedelta(minutes=5),
        )
        MassSend.objects.filter(pk=earlier.pk).update(status="done", planned_at=timezone.now())
    send = started(account)
    now = timezone.now()
    assert run_send(send.pk, now=now) == "waiting"
    users[0].customer.consent_marketing = False
    users[0].customer.save()
    _start, next_month = month_bounds(now)
    assert run_send(send.pk, now=next_month) == "done"
    withdrawn = MassSendRecipient.objects.get(send=send, openid="oMass0000")
    assert (withdrawn.status, withdrawn.error_code) == ("failed", "no_consent")
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["received"] == {
        "oMass0001": 1,
        "oMass0002": 1,
        "oMass0003": 1,
    }
