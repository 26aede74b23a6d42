"""The API against its own OpenAPI schema (schemathesis): whatever a client sends, valid or not,
no operation answers 5xx.

The schema is the one `/api/schema/` serves, loaded in-process from the WSGI application; every
request goes through the whole Django stack (middleware, token authentication, throttles) as a
superuser, so the views run instead of stopping at 401/403. Half of the cases of an operation
with a path parameter aim at a row that exists (seeded below), so detail, update, delete and
action endpoints see real objects and not only 404s.

`make test` runs API_FUZZ_EXAMPLES=5 examples per operation (the default); `make fuzz` runs many
more. The check is `not_a_server_error` only: conformance of the responses to the schema is not
asserted here.
"""

import os
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from channels_weibo.models import WeiboAccount, WeiboPost, WeiboUser
from crm.actions import add_note, create_lead
from crm.models import Conversation, Message, Tag
from tests.crm.factories import CustomerFactory

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "5"))
# A port nothing listens on: an endpoint that calls WeChat or Weibo gets "connection refused" at
# once instead of reaching the real platforms.
NOWHERE = "http://127.0.0.1:9"

application = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def in_process_requests():
    """Keep the test's database connection (and its transaction) across WSGI requests.

    Django closes the connection at the end of each request; its test client turns that off for
    its requests, and so must a test calling the WSGI application directly.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db, settings, in_process_requests):
    """A superuser's token and one row behind each kind of path parameter that is cheap to make."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000000/second", "anon": "1000000/second"},
    }
    for name in (
        "WECHAT_API_BASE",
        "WEIBO_API_BASE",
        "WEIBO_MESSAGES_API_BASE",
        "WECHATPAY_API_BASE",
        "WECHAT_OAUTH_BASE",
        "WECHAT_OAUTH_API_BASE",
    ):
        setattr(settings, name, NOWHERE)
    # No password: hashing one per operation would cost more than the operation's cases.
    user = User.objects.create(username="fuzz-root", is_staff=True, is_superuser=True)
    token, _ = Token.objects.get_or_create(user=user)
    now = timezone.now()
    customer = CustomerFactory(name="模糊测试客户", phone="13800138000")
    tag = Tag.objects.create(name="fuzz")
    customer.tags.add(tag)
    add_note(customer, "a note")
    lead, _ = create_lead(customer, "a lead", source_channel="weibo")
    conversation = Conversation.objects.create(
        channel="wechat",
        account="wxA",
        external_user="o-fuzz",
        customer=customer,
        status="open",
        opened_at=now - timedelta(hours=1),
        last_inbound_at=now,
        last_message_at=now,
    )
    message = Message.objects.create(
        conversation=conversation,
        customer=customer,
        channel="wechat",
        account="wxA",
        external_user="o-fuzz",
        direction="in",
        content="你好",
        sender_kind="customer",
        delivery_status="received",
        sent_at=now,
    )
    account = WeiboAccount.objects.create(uid="1001", screen_name="品牌官微")
    brand = WeiboUser.objects.create(uid="1001", screen_name="品牌官微")
    fan = WeiboUser.objects.create(uid="3001", screen_name="粉丝", followers_count=500)
    post = WeiboPost.objects.create(
        idstr="5000000000000101",
        account=account,
        author=brand,
        text="brand post",
        created_at=now - timedelta(hours=2),
        is_brand_post=True,
    )
    mention = WeiboPost.objects.create(
        idstr="5000000000000102",
        account=account,
        author=fan,
        text="@品牌官微 hello",
        created_at=now - timedelta(hours=2),
        mentions_brand=True,
    )
    existing = {
        "/api/v1/customers/{id}/": customer.pk,
        "/api/v1/tags/{id}/": tag.pk,
        "/api/v1/leads/{id}/": lead.pk,
        "/api/v1/wechat/conversations/{id}/": conversation.pk,
        "/api/v1/wechat/messages/{id}/": message.pk,
        "/api/v1/weibo/accounts/{uid}/": account.uid,
        "/api/v1/weibo/posts/{idstr}/": post.idstr,
        "/api/v1/weibo/mentions/{idstr}/": mention.idstr,
    }
    return token.key, existing


@schema.parametrize()
@schema.given(aim_at_existing=st.booleans())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    # The same examples on every `make test` (CI must not pass or fail by chance); `make fuzz`
    # sets FUZZ_RANDOM=1 to explore new ones.
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
)
def test_no_api_operation_answers_5xx(case, aim_at_existing, seeded):
    key, existing = seeded
    if aim_at_existing and case.path_parameters:
        for prefix, value in existing.items():
            if case.operation.path.startswith(prefix):
                name = prefix.rsplit("{", 1)[1].rstrip("}/")
                case.path_parameters[name] = value
                break
    case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=[not_a_server_error])
