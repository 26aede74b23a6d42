"""After erasure a returning person is a new customer (security issue #14, finding 12): no
identifier of the erased customer (openid, unionid, Weibo uid, payer openid) still leads to the
erased record, and the stored raw bodies that named them are redacted."""

import json
from datetime import UTC, datetime

from channels_wechat.models import WeChatUser
from channels_weibo.ingest import ingest_comments, ingest_statuses
from channels_weibo.models import WeiboAccount, WeiboComment, WeiboPost, WeiboUser
from crm.models import Conversation, Customer, CustomerKey, Interaction, Message, RawDelivery
from crm.privacy import erase_customer
from members.actions.orders import link_payer_openid, mark_order_paid
from members.models import MerchantConfig, Order, PayerOpenid, PaymentNotification
from tests.channels_wechat.conftest import account, post_push, push_xml  # noqa: F401
from tests.channels_weibo.factories import BRAND, comment, status, user

AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _erased(customer_id):
    erased = Customer.objects.get(pk=customer_id)
    assert erased.erased_at is not None and erased.name == "" and erased.merged_into_id is None
    return erased


def _push(client, capture, xml):
    with capture(execute=True):  # the processing task runs once the hook's transaction commits
        assert post_push(client, xml, mode="safe").status_code == 200


def test_returning_wechat_follower_is_a_new_customer_and_raw_pushes_are_redacted(
    client,
    account,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    first = push_xml(openid="oReturning", content="我叫张伟，电话13800000009", msg_id="7001")
    _push(client, django_capture_on_commit_callbacks, first)
    left = push_xml(openid="oReturning", msg_type="event", event="unsubscribe", msg_id="")
    _push(client, django_capture_on_commit_callbacks, left)
    wx = WeChatUser.objects.get(openid="oReturning")
    old = wx.customer_id
    WeChatUser.objects.filter(pk=wx.pk).update(unionid="uReturning")
    CustomerKey.objects.create(kind="unionid", value="uReturning", customer_id=old)

    erase_customer(Customer.objects.get(pk=old))

    redacted = [
        (bytes(d.body), d.query, d.headers, d.remote_addr, d.dedupe_key, d.status)
        for d in RawDelivery.objects.order_by("pk")
    ]
    assert redacted == [(b"", {}, {}, "", "", "processed")] * 2  # the message and the event
    # The timeline's copies of the openid (the unsubscribe entry names it) are gone too.
    stored = json.dumps(
        [
            list(Interaction.objects.filter(customer_id=old).values_list("data", flat=True)),
            list(Message.objects.filter(customer_id=old).values_list("data", flat=True)),
        ]
    )
    assert "oReturning" not in stored and "uReturning" not in stored
    wx.refresh_from_db()
    assert (wx.openid, wx.unionid, wx.customer_id) == (f"erased-{wx.pk}", "", old)
    assert Conversation.objects.get(customer_id=old).external_user == f"erased-{old}"

    again = push_xml(openid="oReturning", content="你好", msg_id="7002")
    _push(client, django_capture_on_commit_callbacks, again)
    new = WeChatUser.objects.get(openid="oReturning")
    assert new.pk != wx.pk and new.customer_id not in (None, old)
    assert Conversation.objects.get(external_user="oReturning").customer_id == new.customer_id
    assert Conversation.objects.filter(customer_id=old).count() == 1
    _erased(old)


def test_returning_weibo_author_is_a_new_customer_and_raw_posts_forget_the_uid(db):
    brand = WeiboAccount.objects.create(uid=BRAND["idstr"], screen_name="花漾美妆")
    fan = user(7000000009, "张伟在北京")
    ingest_statuses(
        brand, [status(5000000000000001, fan, "张伟的净水器 @花漾美妆", 10)], analyse=False
    )
    weibo_user = WeiboUser.objects.get(uid="7000000009")
    old = weibo_user.customer_id
    assert old is not None

    erase_customer(Customer.objects.get(pk=old))

    weibo_user.refresh_from_db()
    assert (weibo_user.uid, weibo_user.customer_id) == (f"erased-{weibo_user.pk}", old)
    post = WeiboPost.objects.get(idstr="5000000000000001")
    assert "7000000009" not in str(post.raw) and post.author_id == weibo_user.pk

    ingest_statuses(brand, [status(5000000000000002, fan, "又来了 @花漾美妆", 20)], analyse=False)
    returning = WeiboUser.objects.get(uid="7000000009")
    assert returning.pk != weibo_user.pk and returning.customer_id not in (None, old)
    assert WeiboPost.objects.get(idstr="5000000000000002").author_id == returning.pk
    _erased(old)


def test_polling_an_erased_persons_old_post_and_comment_again_brings_nothing_back(db):
    """The platform serves an erased person's old post and comment again on the next poll (and
    embedded in someone's repost): their text stays erased and no new customer is made of them."""
    brand = WeiboAccount.objects.create(uid=BRAND["idstr"], screen_name="花漾美妆")
    fan, other = user(7000000009, "张伟在北京"), user(7000000010, "路人甲")
    post = status(5000000000000001, fan, "张伟的净水器 @花漾美妆", 10)
    brand_post = status(5000000000000009, BRAND, "新品上市", 1)
    reply = comment(6000000000000001, fan, "张伟说好用 @花漾美妆", brand_post, 12)
    ingest_statuses(brand, [post], analyse=False)
    ingest_comments(brand, [reply], mention_stream=True, analyse=False)
    old = WeiboUser.objects.get(uid="7000000009").customer_id
    erase_customer(Customer.objects.get(pk=old))
    customers, users = Customer.objects.count(), WeiboUser.objects.count()

    repost = status(5000000000000003, other, "转发 @花漾美妆", 30, root=post)
    ingest_statuses(brand, [post, repost], analyse=False)
    ingest_comments(brand, [reply], mention_stream=True, analyse=False)

    assert not WeiboUser.objects.filter(uid="7000000009").exists()
    # The repost's author is the only new person.
    assert (Customer.objects.count(), WeiboUser.objects.count()) == (customers + 1, users + 1)
    stored = WeiboPost.objects.get(idstr="5000000000000001")
    assert ("张伟" in stored.text, "7000000009" in str(stored.raw)) == (False, False)
    assert WeiboPost.objects.get(idstr="5000000000000003").root_id == stored.pk
    stored_reply = WeiboComment.objects.get(idstr="6000000000000001")
    assert ("张伟" in stored_reply.text, "7000000009" in str(stored_reply.raw)) == (False, False)


def test_returning_payer_is_not_the_erased_customer_and_payer_openids_are_gone(db):
    merchant = MerchantConfig.objects.create(mchid="1900000109", appid="wxpay000000000001")
    customer = Customer.objects.create(name="张伟", phone="13800000009")
    link_payer_openid(customer, appid=merchant.appid, openid="oPayer")
    order = Order.objects.create(
        out_trade_no="T1", customer=customer, channel="jsapi", amount_fen=100, merchant=merchant
    )
    mark_order_paid(order, transaction_id="4200000001", paid_at=AT, payer_openid="oPayer")
    raw = RawDelivery.objects.create(
        source="wechatpay", account=merchant.mchid, body=b"<xml><openid>oPayer</openid></xml>"
    )
    PaymentNotification.objects.create(
        raw=raw,
        mchid=merchant.mchid,
        api_version="v2",
        out_trade_no="T1",
        payer_openid="oPayer",
        order=order,
        outcome="paid",
        data={"openid": "oPayer", "transaction_id": "4200000001"},
    )

    erase_customer(customer)

    assert PayerOpenid.objects.count() == 0
    order.refresh_from_db()
    assert (order.payer_openid, order.amount_fen, order.status) == ("", 100, "paid")
    notification = PaymentNotification.objects.get()
    assert (notification.payer_openid, notification.data) == (
        "",
        {"openid": "", "transaction_id": "4200000001"},
    )
    raw.refresh_from_db()
    assert bytes(raw.body) == b""

    guest = Order.objects.create(
        out_trade_no="T2", channel="jsapi", amount_fen=200, merchant=merchant
    )
    guest, outcome = mark_order_paid(
        guest, transaction_id="4200000002", paid_at=AT, payer_openid="oPayer"
    )
    assert (outcome, guest.customer_id) == ("paid", None)
    _erased(customer.pk)


def test_erasure_removes_the_openid_from_mass_send_template_and_consent_rows(
    db,
    account,  # noqa: F811
):
    from channels_wechat.models import (
        MassSend,
        MassSendRecipient,
        MessageTemplate,
        SubscribeEvent,
        TemplateSend,
    )
    from tests.crm.factories import CustomerFactory

    customer, other = CustomerFactory(), CustomerFactory()
    gone = WeChatUser.objects.create(account=account, openid="oErased", customer=customer)
    kept = WeChatUser.objects.create(account=account, openid="oKept", customer=other)
    send = MassSend.objects.create(account=account, title="会员日", target="all", kind="text")
    template = MessageTemplate.objects.create(account=account, template_id="T1", title="订单")
    for follower in (gone, kept):
        MassSendRecipient.objects.create(
            send=send, user=follower, customer=follower.customer, openid=follower.openid
        )
        TemplateSend.objects.create(
            account=account,
            template=template,
            user=follower,
            customer=follower.customer,
            openid=follower.openid,
            key=f"k-{follower.openid}",
            batch="b",
        )
        SubscribeEvent.objects.create(
            account=account,
            openid=follower.openid,
            event="subscribe_msg_popup_event",
            template_id="T1",
            create_time=1,
        )

    erase_customer(customer)

    tomb = f"erased-{gone.pk}"
    assert sorted(MassSendRecipient.objects.values_list("openid", flat=True)) == sorted(
        ["oKept", tomb]
    )
    assert sorted(TemplateSend.objects.values_list("openid", flat=True)) == sorted(["oKept", tomb])
    assert sorted(SubscribeEvent.objects.values_list("openid", flat=True)) == sorted(
        ["oKept", tomb]
    )
