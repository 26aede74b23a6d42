"""#16: a follow through a handoff's scene whose merge is refused links nothing: the handoff
stays unused, the follow stays on the follower's own record with the reason on its timeline."""

from datetime import timedelta

from django.utils import timezone

from crm.actions import claim_handoff, issue_handoff, set_handoff_scene
from crm.actions.merge import merge_customers
from crm.models import Customer, Handoff, Interaction, MergeRecord

APPID = "wx1234567890abcdef"


def test_a_refused_merge_links_nothing_and_says_why(db):
    weibo = Customer.objects.create(name="微博粉丝", first_channel="weibo")
    handoff, _token = issue_handoff(weibo, weibo_uid="7000000001", purpose="lead")
    set_handoff_scene(handoff, appid=APPID, scene="ho_refused")
    # The follower's record was merged into another one meanwhile (a stale record: merging it
    # again is refused with MergeError "merged").
    follower = Customer.objects.create(name="微信用户", first_channel="wechat")
    other = Customer.objects.create(name="另一位", first_channel="wechat")
    merge_customers(follower, other, reason=MergeRecord.Reason.MANUAL)
    follower.refresh_from_db()
    at = timezone.now() + timedelta(minutes=1)

    customer, reason = claim_handoff(
        "ho_refused", appid=APPID, openid="oRefused1", customer=follower, at=at
    )

    assert (customer.pk, reason) == (follower.pk, "merge_refused")
    handoff.refresh_from_db()
    assert (handoff.used_at, handoff.used_openid) == (None, "")
    assert MergeRecord.objects.filter(reason="handoff").count() == 0
    entry = Interaction.objects.get(customer=follower, data__scene="ho_refused")
    assert entry.summary == "微博引流场景值 ho_refused 未关联：两条客户记录无法合并"
    assert entry.data == {
        "handoff": handoff.pk,
        "account": APPID,
        "openid": "oRefused1",
        "scene": "ho_refused",
        "via": "qr",
        "applied": False,
        "reason": "merge_refused",
    }
    assert Handoff.objects.get().customer_id == weibo.pk


def test_issuing_once_refuses_a_handoff_sent_or_being_sent_and_retries_a_failed_one(db):
    import pytest
    from django.core.exceptions import ValidationError

    from crm.actions import mark_handoff_sent, record_handoff_failure

    weibo = Customer.objects.create(name="微博粉丝", first_channel="weibo")
    handoff, _token = issue_handoff(weibo, weibo_uid="7000000002", purpose="lead", once=True)
    issued = Handoff.objects.values_list("token_hash", "expires_at").get()
    # Issued and not failed: being sent (or sent), so an automatic sender stops here.
    with pytest.raises(ValidationError) as error:
        issue_handoff(weibo, weibo_uid="7000000002", purpose="lead", once=True)
    assert (error.value.error_dict["handoff"][0].code, error.value.message_dict) == (
        "issued",
        {"handoff": ["已向该微博用户发送过引流链接。"]},
    )
    assert Handoff.objects.values_list("token_hash", "expires_at").get() == issued
    # Its sending failed: the next try re-issues it, with the error cleared.
    record_handoff_failure(handoff, "20019: repeat content!")
    again, _token = issue_handoff(weibo, weibo_uid="7000000002", purpose="lead", once=True)
    assert (again.pk, again.send_error) == (handoff.pk, "")
    assert Handoff.objects.get().token_hash != issued[0]
    mark_handoff_sent(again, by="comment")
    with pytest.raises(ValidationError):
        issue_handoff(weibo, weibo_uid="7000000002", purpose="lead", once=True)
    # A person (not `once`) may still send it again, as before.
    issue_handoff(weibo, weibo_uid="7000000002", purpose="lead")
    assert Handoff.objects.count() == 1
