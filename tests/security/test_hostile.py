"""Hostile input through the real pages and API: script and SQL in every text a customer or a
platform controls are rendered escaped; oversized and malformed API bodies get a clear 4xx."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from channels_weibo.models import WeiboAccount, WeiboPost, WeiboUser
from crm.actions import add_note, create_lead, record_interaction
from crm.models import Conversation, Customer, Message, Tag
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory

SCRIPT = '<script>alert("x")</script>'
SQL = "'; DROP TABLE crm_customer; --"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


@pytest.fixture
def hostile(db, agent_user):
    now = timezone.now()
    customer = CustomerFactory(name=f"{SCRIPT}{SQL}"[:128], city=SCRIPT[:64])
    customer.tags.add(Tag.objects.create(name="<script>t</script>"))
    add_note(customer, f"note {SCRIPT} {SQL}")
    create_lead(customer, f"lead {SCRIPT}", source_channel="weibo")
    record_interaction(customer, "message_in", "wechat", summary=f"said {SCRIPT}", occurred_at=now)
    conversation = Conversation.objects.create(
        channel="wechat",
        account="wxA",
        external_user="o-hostile",
        customer=customer,
        status="open",
        opened_at=now - timedelta(hours=1),
        last_inbound_at=now,
        last_message_at=now,
        assignee=agent_user,
    )
    Message.objects.create(
        conversation=conversation,
        customer=customer,
        channel="wechat",
        account="wxA",
        external_user="o-hostile",
        direction="in",
        content=f"msg {SCRIPT} {SQL}",
        sender_kind="customer",
        delivery_status="received",
        sent_at=now,
    )
    account = WeiboAccount.objects.create(uid="1001", screen_name="品牌官微")
    brand = WeiboUser.objects.create(uid="1001", screen_name="品牌官微")
    fan = WeiboUser.objects.create(uid="3001", screen_name=SCRIPT, followers_count=500000)
    WeiboPost.objects.create(
        idstr="5000000000000101",
        account=account,
        author=brand,
        text=f"post {SCRIPT}",
        created_at=now - timedelta(hours=2),
        is_brand_post=True,
        reposts_count=5,
    )
    WeiboPost.objects.create(
        idstr="5000000000000102",
        account=account,
        author=fan,
        text=f"@品牌官微 {SCRIPT}",
        created_at=now - timedelta(hours=2),
        mentions_brand=True,
    )
    return customer, conversation


def _page(client, path):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def test_script_and_sql_are_rendered_escaped_in_admin_inbox_and_dashboards(hostile, admin_user):
    customer, conversation = hostile
    client = Client()
    client.force_login(admin_user)
    shown = {
        # path: the page must show the escaped text (it displays that row)
        f"/admin/crm/customer/{customer.pk}/change/": True,
        "/admin/crm/customer/": True,
        "/admin/crm/lead/": True,
        "/admin/crm/tag/": False,  # shows "<script>t</script>", checked below
        f"/admin/crm/conversation/{conversation.pk}/change/": True,
        "/admin/crm/conversation/": True,
        f"/inbox/{conversation.pk}/": True,
        "/inbox/": True,
        "/dashboards/weibo/": True,
        "/dashboards/wechat/": False,
        "/dashboards/funnel/": False,
    }
    missing = []
    for path, displays in shown.items():
        html = _page(client, path)
        assert SCRIPT not in html and "<script>t</script>" not in html, path
        if displays and ESCAPED not in html:
            missing.append(path)
    assert missing == []
    assert "&lt;script&gt;t&lt;/script&gt;" in _page(client, "/admin/crm/tag/")
    # The SQL is data, not a command: the table is still there with every row.
    assert Customer.objects.filter(pk=customer.pk, name__startswith=SCRIPT).exists()


def test_a_2_mb_json_body_is_refused_with_413_and_a_message(marketing_user):
    client = client_for(marketing_user)
    body = json.dumps({"name": "x" * (2 * 1024 * 1024)})
    response = client.generic(
        "POST",
        "/api/v1/customers/",
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is {len(body)} bytes; the API accepts at most 1048576."
    }
    assert Customer.objects.count() == 0


def test_a_10000_character_name_is_a_field_error(marketing_user):
    response = client_for(marketing_user).post(
        "/api/v1/customers/", {"name": "名" * 10000}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == {"name": ["Ensure this field has no more than 128 characters."]}
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    "body,detail",
    [
        (
            "[" * 100000 + "]" * 100000,
            "JSON parse error - the document is nested too deeply.",
        ),
        (b'{"name": "\xff\xfe"}', None),
        ('{"name": ', None),
    ],
    ids=["deep nesting", "invalid UTF-8", "truncated"],
)
def test_malformed_json_is_a_400_parse_error(marketing_user, body, detail):
    client = client_for(marketing_user)
    client.raise_request_exception = False
    response = client.generic(
        "POST",
        "/api/v1/customers/",
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    if detail:
        assert response.json() == {"detail": detail}
    else:
        assert response.json()["detail"].startswith("JSON parse error - ")
    assert Customer.objects.count() == 0


def test_sql_in_filters_and_ordering_is_harmless(marketing_user):
    CustomerFactory(name="正常客户")
    client = client_for(marketing_user)
    response = client.get("/api/v1/customers/", {"q": SQL, "city": SQL})
    assert response.status_code == 200 and response.json()["count"] == 0
    response = client.get("/api/v1/customers/", {"ordering": "name; DROP TABLE crm_customer"})
    assert response.status_code == 200 and response.json()["count"] == 1
