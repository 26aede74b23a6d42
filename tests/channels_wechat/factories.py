"""Builders of WeChat rows: factory_boy factories for the models, and `inbound` for a customer
message received through the real ingestion (conversation, customer and WeChat user included)."""

import factory
from django.utils import timezone

from channels_wechat.ingest import ingest_message
from channels_wechat.models import AutoReplyRule, CannedResponse, OfficialAccount, WeChatUser
from crm.models import Message
from tests.crm.factories import CustomerFactory


class OfficialAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfficialAccount
        django_get_or_create = ("appid",)

    appid = factory.Sequence(lambda n: f"wxfactory{n:09d}")
    name = factory.Sequence(lambda n: f"公众号{n}")
    app_secret = "factory-app-secret-0123456789abcd"
    token = "factorytoken"
    mode = OfficialAccount.Mode.PLAINTEXT


class WeChatUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeChatUser

    account = factory.SubFactory(OfficialAccountFactory)
    openid = factory.Sequence(lambda n: f"oFactory{n:020d}")
    customer = factory.SubFactory(CustomerFactory)


class AutoReplyRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AutoReplyRule

    account = factory.SubFactory(OfficialAccountFactory)
    keyword = factory.Sequence(lambda n: f"关键词{n}")
    match = AutoReplyRule.Match.CONTAINS
    reply = "您好，这是自动回复。"


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    title = factory.Sequence(lambda n: f"快捷回复{n}")
    text = "您好，很高兴为您服务。"


def inbound(account, openid="oUser1", content="你好", msg_id="m1", at=None, live=False):
    """A text message from `openid` to `account`, ingested as a push is; its conversation."""
    at = at or timezone.now().replace(microsecond=0)
    message = {
        "openid": openid,
        "msg_type": "text",
        "msg_id": msg_id,
        "content": content,
        "media_id": "",
        "data": {},
    }
    ingest_message(account, message, at=at, live=live)
    return Message.objects.get(platform_msg_id=msg_id, account=account.appid).conversation
