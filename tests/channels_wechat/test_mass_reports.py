"""The report of a mass send (issue #18 item 6) and the signed tracked links it counts clicks by."""

from datetime import timedelta

import pytest
from django.test import Client

from channels_wechat.mass.reports import send_report
from channels_wechat.mass.sending import run_send
from channels_wechat.models import MassSendRecipient
from crm.links import tracked_url
from crm.models import LinkClick
from tests.members.factories import CouponTemplateFactory, OrderFactory

from .conftest import post_push, push_xml
from .mass_helpers import followers, started

pytestmark = pytest.mark.django_db


def test_report_counts_sent_failed_clicks_conversions_and_unfollows(
    account, wechat_sandbox, django_capture_on_commit_callbacks
):
    users = followers(account, wechat_sandbox, 3)
    followers(account, wechat_sandbox, 1, prefix="oGone", known=False)
    followers(account, wechat_sandbox, 1, prefix="oNo", consent=False)
    template = CouponTemplateFactory(public_claim=True)
    send = started(account, kind="coupon", text="会员专享券", coupon_template=template)
    assert run_send(send.pk) == "done"
    sent_at = MassSendRecipient.objects.get(openid="oMass0000").sent_at
    # The text carries the tracked claim link.
    job = next(iter(wechat_sandbox.state.extra["mass"]["jobs"].values()))
    text, link = job["payload"]["content"].split("\n")
    assert text == "会员专享券"
    path = link.removeprefix("http://127.0.0.1:8000")
    assert path.startswith("/r/")
    reader, other = Client(), Client()
    for client in (reader, reader, other):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (
            302,
            f"http://127.0.0.1:8000/m/claim/{template.pk}",
        )
    # Orders: one within 7 days (converts), one after, one before the send.
    OrderFactory(customer=users[0].customer, paid_at=sent_at + timedelta(days=2))
    OrderFactory(customer=users[1].customer, paid_at=sent_at + timedelta(days=8))
    OrderFactory(customer=users[2].customer, paid_at=sent_at - timedelta(hours=1))
    # oMass0001 unfollows a day later (through the hook), oMass0002 four days later.
    for openid, days in (("oMass0001", 1), ("oMass0002", 4)):
        xml = push_xml(
            openid=openid,
            msg_type="event",
            event="unsubscribe",
            create_time=int((sent_at + timedelta(days=days)).timestamp()),
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert post_push(Client(), xml).content == b"success"
    send.refresh_from_db()
    assert send_report(send) == {
        "targeted": 4,
        "skipped_consent": 1,
        "deferred": 0,
        "sent": 3,
        "failed": 1,
        "failed_by_reason": {"40003": 1},
        "filtered": 0,
        "clicks": 3,
        "unique_clickers": 2,
        "converted": 1,
        "unfollowed": 1,
    }
    assert set(LinkClick.objects.values_list("source", flat=True)) == {f"wechat_mass:{send.pk}"}


def test_tracked_link_refuses_altered_or_foreign_tokens(db):
    link = tracked_url("https://shop.example.com/sale", "journey:7", customer_id=None)
    token = link.removeprefix("/r/")
    client = Client()
    assert client.get(f"/r/{token[:-2]}xx").status_code == 404
    assert client.get("/r/not-a-token").status_code == 404
    assert LinkClick.objects.count() == 0
    response = client.get(link)
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/sale")
    click = LinkClick.objects.get()
    assert (click.source, click.url, click.customer_id) == (
        "journey:7",
        "https://shop.example.com/sale",
        None,
    )
