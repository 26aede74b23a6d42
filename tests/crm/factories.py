"""factory_boy factories of the crm models: customers, tags, leads, segments, conversations and
messages (the inbox rows every channel shares)."""

import factory
from django.utils import timezone

from crm.models import Conversation, Customer, Lead, Message, Segment, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"客户{n}")
    city = "上海"
    created_at = factory.LazyFunction(timezone.now)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    customer = factory.SubFactory(CustomerFactory)
    title = factory.Sequence(lambda n: f"线索{n}")


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"分群{n}")
    filters = factory.LazyFunction(lambda: {"city": "上海"})


class ConversationFactory(factory.django.DjangoModelFactory):
    """An open WeChat conversation of a new customer (`channel`, `account` to change that)."""

    class Meta:
        model = Conversation

    channel = "wechat"
    account = "wxfactory000000000"
    external_user = factory.Sequence(lambda n: f"oConversation{n:015d}")
    customer = factory.SubFactory(CustomerFactory)
    opened_at = factory.LazyFunction(timezone.now)
    last_inbound_at = factory.SelfAttribute("opened_at")
    last_message_at = factory.SelfAttribute("opened_at")


class MessageFactory(factory.django.DjangoModelFactory):
    """A message received in `conversation` (its customer, channel, account and user)."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    customer = factory.SelfAttribute("conversation.customer")
    channel = factory.SelfAttribute("conversation.channel")
    account = factory.SelfAttribute("conversation.account")
    external_user = factory.SelfAttribute("conversation.external_user")
    direction = "in"
    content = factory.Sequence(lambda n: f"消息{n}")
    platform_msg_id = factory.Sequence(lambda n: f"factory-msg-{n}")
    sent_at = factory.LazyFunction(timezone.now)
    sender_kind = "customer"
    delivery_status = "received"
